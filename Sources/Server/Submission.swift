import APITypes
import Foundation
import Hummingbird
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import Platform
import Runners

/// The HTTP side of a submit: headers and body read into the platform's submitter, whose
/// refusals become fal-shaped answers.
enum Submission {
    /// Validates and enqueues a request for `entry`.
    /// - Parameters:
    ///   - call: the HTTP request.
    ///   - entry: the model.
    ///   - caller: who submits it.
    ///   - allowWebhook: whether `?fal_webhook=` is honoured (queue submits only).
    /// - Returns: the job as stored, and what the result cache made of it.
    /// - Throws: `APIError` 413/422 for bad input, 429 when the key's queue is full.
    static func submit(
        _ call: APICall, entry: ModelRegistry.Entry, caller: Caller, services: APIServices, allowWebhook: Bool
    ) async throws -> (job: Job, cache: CacheVerdict?) {
        let options = try SubmitOptions(headers: call.request.headers, limits: SubmitOptions.Limits(services.configuration))
        let bypassCache = try cacheBypass(call.request.headers)
        let webhook = allowWebhook ? call.query("fal_webhook") : nil
        do {
            // Judged before the body is read: the URL needs no body.
            if let webhook { try services.submitter.checkWebhook(webhook) }
            let buffer = try await call.body(limit: services.configuration.maxJSONBytes)
            let input = try JobSubmitter.input(fromBody: Data(buffer.readableBytesView))
            let job = try services.submitter.prepare(entry, input: input, options: options, webhookURL: webhook, apiKeyID: caller.keyID)
            call.requestID.withLockedValue { $0 = job.id }
            return try await services.submitter.enqueue(job, entry: entry, submitted: input, bypassCache: bypassCache)
        } catch let error as SubmitError {
            throw APIError(error)
        }
    }

    /// Reads `X-Peregrine-Cache`: `bypass` (any case) opts out of the result cache.
    /// - Throws: `APIError` 422 naming the header for any other value.
    static func cacheBypass(_ headers: HTTPFields) throws -> Bool {
        guard let raw = headers[.peregrineCache] else { return false }
        guard raw.trimmingCharacters(in: .whitespaces).lowercased() == "bypass" else {
            throw APIError.validation(
                [.key("header"), .key("x-peregrine-cache")], "value is not a valid enumeration member; permitted: 'bypass'",
                type: "type_error.enum")
        }
        return true
    }

    /// The answer headers of a submit: its request id and, for a cached model, the cache verdict.
    static func headers(_ submitted: (job: Job, cache: CacheVerdict?)) -> HTTPFields {
        var headers = HTTPFields()
        headers[.falRequestID] = submitted.job.id
        if let verdict = submitted.cache { headers[.peregrineCache] = verdict.rawValue }
        return headers
    }
}

extension APIError {
    /// The answer to a refused submit.
    init(_ error: SubmitError) {
        switch error {
        case .unknownEndpoint(let endpoint):
            self = .detail(.notFound, "Endpoint '\(endpoint)' not found")
        case .invalidInput(let issues):
            self = .validation(issues)
        case .queueFull(let message):
            var refusal = APIError.typed(.tooManyRequests, "Too many queued requests for this key: \(message). Retry later.", type: "rate_limited")
            refusal.headers[.retryAfter] = "1"
            self = refusal
        }
    }
}
