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
    /// A submit's outcome: the job, and whether it is an earlier request's job returned for a
    /// repeated `Idempotency-Key`.
    struct Submitted: Sendable {
        var job: Job
        var replayed: Bool
        /// What the result cache made of it (`nil`: the model is not cached, or the request
        /// carried an idempotency key).
        var cache: CacheVerdict? = nil
    }

    /// Validates and enqueues a request for `entry`.
    /// - Parameters:
    ///   - call: the HTTP request.
    ///   - entry: the model.
    ///   - caller: who submits it.
    ///   - allowWebhook: whether `?fal_webhook=` is honoured (queue submits only).
    /// - Returns: the job as stored (or the original job of a repeated idempotency key), and
    ///   what the result cache made of it.
    /// - Throws: `APIError` 413/422 for bad input, 429 when the key's queue is full or the
    ///   request would miss its start timeout.
    static func submit(
        _ call: APICall, entry: ModelRegistry.Entry, caller: Caller, services: APIServices, allowWebhook: Bool
    ) async throws -> Submitted {
        let options = try SubmitOptions(headers: call.request.headers, limits: SubmitOptions.Limits(services.configuration))
        let idempotencyKey = try idempotencyKey(call.request.headers, services: services)
        let bypassCache = try cacheBypass(call.request.headers)
        let webhook = allowWebhook ? call.query("fal_webhook") : nil
        do {
            // Judged before the body is read: the URL needs no body.
            if let webhook { try services.submitter.checkWebhook(webhook) }
            let buffer = try await call.body(limit: services.configuration.maxJSONBytes)
            let input = try JobSubmitter.input(fromBody: Data(buffer.readableBytesView))
            let job = try services.submitter.prepare(entry, input: input, options: options, webhookURL: webhook, apiKeyID: caller.keyID)
            call.requestID.withLockedValue { $0 = job.id }
            guard let idempotencyKey else {
                // A cache hit answers at once: only a request that queues can miss its start.
                let (stored, verdict) = try await services.submitter.enqueue(
                    job, entry: entry, submitted: input, bypassCache: bypassCache,
                    beforeQueueing: { try await refuseHopeless(job, options: options, services: services) })
                return Submitted(job: stored, replayed: false, cache: verdict)
            }
            // Keyed requests are stored with their key in one transaction, outside the result
            // cache (a replay must name the job the key was first given).
            let claim = IdempotencyClaim(
                scope: caller.keyID ?? "", key: idempotencyKey,
                fingerprint: JobSubmitter.fingerprint(endpointID: job.endpointID, input: input),
                window: services.configuration.idempotencyWindow)
            // A retry of a request that was accepted is answered with it, never refused.
            if try await services.submitter.idempotency?.idempotentRequest(scope: claim.scope, key: claim.key, now: Date()) == nil {
                try await refuseHopeless(job, options: options, services: services)
            }
            switch try await services.submitter.enqueue(job, claim: claim) {
            case .created(let created):
                return Submitted(job: created, replayed: false)
            case .replayed(let original):
                call.requestID.withLockedValue { $0 = original.id }
                return Submitted(job: original, replayed: true)
            case .conflict(let requestID):
                throw APIError.validation(
                    [.key("header"), .key("idempotency-key")],
                    "this Idempotency-Key was already used for request \(requestID) with a different body or endpoint",
                    type: "value_error.idempotency_key_reused")
            }
        } catch let error as SubmitError {
            throw APIError(error)
        }
    }

    /// The `Idempotency-Key` header, checked before the body is read.
    /// - Throws: `APIError` 422 naming the header when it is too long, empty or not visible
    ///   ASCII, or when this server's job store keeps no keys.
    static func idempotencyKey(_ headers: HTTPFields, services: APIServices) throws -> String? {
        guard let raw = headers[.idempotencyKey] else { return nil }
        let loc: [LocationComponent] = [.key("header"), .key("idempotency-key")]
        guard JobSubmitter.isValidIdempotencyKey(raw) else {
            throw APIError.validation(
                loc, "ensure this value has 1 to \(JobSubmitter.maxIdempotencyKeyBytes) visible ASCII characters",
                type: "value_error.any_str.max_length")
        }
        guard services.submitter.idempotency != nil else {
            throw APIError.validation(loc, "idempotency keys are not supported by this server's job store", type: "value_error")
        }
        return raw
    }

    /// Refuses at once, with 429 and `Retry-After`, a request whose forecast start is past its
    /// `X-Fal-Request-Timeout`: it would only wait and end with 504. Without latency history
    /// for the model there is no forecast and no refusal.
    static func refuseHopeless(_ job: NewJob, options: SubmitOptions, services: APIServices) async throws {
        guard let timeout = options.startTimeout, let predictor = services.predictor else { return }
        let now = Date()
        guard let forecast = try await predictor.forecastNew(
            endpointID: job.endpointID, priority: job.priority, apiKeyID: job.apiKeyID, now: now)
        else { return }
        let wait = forecast.start.timeIntervalSince(now)
        guard wait > timeout else { return }
        // When the queue ahead will have drained enough for this timeout, if nothing else arrives.
        let retryAfter = Int(min(max(1, (wait - timeout).rounded(.up)), 86_400))
        var refusal = APIError.typed(
            .tooManyRequests,
            "Request would time out: its predicted start in \(Int(wait.rounded(.up))) s is past its X-Fal-Request-Timeout of "
                + "\(SubmitOptions.format(timeout)) s. Retry later or with a longer timeout.",
            type: "request_timeout")
        refusal.headers[.retryAfter] = String(retryAfter)
        throw refusal
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
    static func headers(_ submitted: Submitted) -> HTTPFields {
        var headers = HTTPFields()
        headers[.falRequestID] = submitted.job.id
        if submitted.replayed { headers[.idempotentReplayed] = "true" }
        if let verdict = submitted.cache { headers[.peregrineCache] = verdict.rawValue }
        return headers
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key` on submit (the IETF draft's name, as Stripe and others use it).
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `Idempotent-Replayed: true` on an answer that returns an earlier request.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
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
