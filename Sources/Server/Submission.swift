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
    /// - Returns: the job as stored.
    /// - Throws: `APIError` 413/422 for bad input, 429 when the key's queue is full.
    static func submit(
        _ call: APICall, entry: ModelRegistry.Entry, caller: Caller, services: APIServices, allowWebhook: Bool
    ) async throws -> Job {
        let options = try SubmitOptions(headers: call.request.headers, limits: SubmitOptions.Limits(services.configuration))
        let webhook = allowWebhook ? call.query("fal_webhook") : nil
        do {
            // Judged before the body is read: the URL needs no body.
            if let webhook { try services.submitter.checkWebhook(webhook) }
            let buffer = try await call.body(limit: services.configuration.maxJSONBytes)
            let input = try JobSubmitter.input(fromBody: Data(buffer.readableBytesView))
            let job = try services.submitter.prepare(entry, input: input, options: options, webhookURL: webhook, apiKeyID: caller.keyID)
            call.requestID.withLockedValue { $0 = job.id }
            return try await services.submitter.enqueue(job)
        } catch let error as SubmitError {
            throw APIError(error)
        }
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
