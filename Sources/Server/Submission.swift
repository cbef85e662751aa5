import APITypes
import Foundation
import Hummingbird
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import Runners

/// Turns a request into a queued job: headers, body, schema validation, webhook policy, insert.
enum Submission {
    /// Longest accepted `fal_webhook` URL (URLs past 2 KiB are refused by many proxies anyway).
    static let maxWebhookURLBytes = 2048

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
        var webhook: String?
        if allowWebhook, let target = call.query("fal_webhook") {
            // Stored with the job and sent on every delivery attempt: bounded like any URL.
            guard target.utf8.count <= maxWebhookURLBytes else {
                throw APIError.validation(
                    [.key("query"), .key("fal_webhook")], "ensure this value has at most \(maxWebhookURLBytes) characters",
                    type: "value_error.any_str.max_length")
            }
            if let reason = services.urlPolicy.refusal(for: target) {
                throw APIError.validation([.key("query"), .key("fal_webhook")], reason, type: "value_error.url")
            }
            webhook = target
        }
        let input = try await validatedInput(call, entry: entry, services: services)
        let id = UUID().uuidString.lowercased()
        call.requestID.withLockedValue { $0 = id }
        let job = NewJob(
            id: id, endpointID: entry.model.manifest.endpointID, input: input.encoded(), priority: options.priority,
            startDeadline: options.startTimeout.map { Date().addingTimeInterval($0) }, maxAttempts: options.noRetry ? 1 : 3,
            webhookURL: webhook, storeIO: options.storeIO, runnerHint: options.runnerHint, apiKeyID: caller.keyID,
            objectLifetime: options.objectLifetime,
            maxQueuedForKey: services.configuration.maxQueuedPerKey > 0 ? services.configuration.maxQueuedPerKey : nil)
        do {
            return try await services.store.enqueue(job)
        } catch let error as JobStoreError where error.code == .queueLimit {
            var refusal = APIError.typed(
                .tooManyRequests, "Too many queued requests for this key: \(error.message). Retry later.",
                type: "rate_limited")
            refusal.headers[.retryAfter] = "1"
            throw refusal
        }
    }

    /// The request body parsed and checked against the model's input schema, defaults filled in.
    static func validatedInput(_ call: APICall, entry: ModelRegistry.Entry, services: APIServices) async throws -> JSONValue {
        let buffer = try await call.body(limit: services.configuration.maxJSONBytes)
        let bytes = Data(buffer.readableBytesView)
        let value: JSONValue
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            value = .object([:])
        } else {
            do {
                value = try JSONValue(parsing: bytes)
            } catch {
                throw APIError.validation([.key("body")], "Invalid JSON: the request body is not a JSON document", type: "value_error.jsondecode")
            }
        }
        guard case .object = value else {
            throw APIError.validation([.key("body")], "value is not a valid dict", type: "type_error.dict")
        }
        do {
            return try entry.validator.validate(value)
        } catch let error as SchemaValidationError {
            throw APIError.validation(error.issues)
        }
    }
}
