import Foundation
import JobQueue
import ModelKit
import Runners

/// Turns a request into a queued job without knowing how it arrived: the input checked against
/// the model's schema (defaults filled in), the webhook checked against the outbound policy, the
/// job inserted in one transaction. The HTTP routes, `peregrine run` and the benchmarks all
/// submit through it, so they share its validation, limits and ordering.
public struct JobSubmitter: Sendable {
    /// Longest accepted webhook URL (URLs past 2 KiB are refused by many proxies anyway).
    public static let maxWebhookURLBytes = 2048

    /// The served models.
    public let registry: ModelRegistry
    let store: any JobStore
    let urlPolicy: URLPolicy
    /// Most requests one API key may have queued (`nil`: no limit).
    let maxQueuedPerKey: Int?
    /// Answers repeated deterministic requests at once (`nil`: every request is queued).
    public var resultCache: ResultCache?
    /// Where submits to cached models are counted by verdict, if anywhere.
    public var metrics: PlatformMetrics?

    /// - Parameters:
    ///   - registry: the served models.
    ///   - store: the job queue.
    ///   - urlPolicy: which webhook targets are allowed.
    ///   - configuration: the per-key queue limit.
    public init(registry: ModelRegistry, store: any JobStore, urlPolicy: URLPolicy, configuration: ServerConfiguration) {
        self.registry = registry
        self.store = store
        self.urlPolicy = urlPolicy
        maxQueuedPerKey = configuration.maxQueuedPerKey > 0 ? configuration.maxQueuedPerKey : nil
    }

    /// A request body parsed as a JSON object: empty (or whitespace) reads as `{}`.
    /// - Throws: `SubmitError.invalidInput` at `["body"]` when it is not JSON or not an object.
    public static func input(fromBody bytes: Data) throws -> JSONValue {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) { return .object([:]) }
        do {
            return try JSONValue(parsing: bytes)
        } catch {
            throw SubmitError.invalidInput(
                [ValidationIssue(loc: [.key("body")], msg: "Invalid JSON: the request body is not a JSON document", type: "value_error.jsondecode")])
        }
    }

    /// Checks a webhook target: bounded (it is stored with the job and sent on every delivery
    /// attempt) and allowed by the outbound policy. No lookup: a submit never waits on DNS.
    /// - Throws: `SubmitError.invalidInput` at `["query", "fal_webhook"]`.
    public func checkWebhook(_ url: String) throws {
        let loc: [LocationComponent] = [.key("query"), .key("fal_webhook")]
        guard url.utf8.count <= Self.maxWebhookURLBytes else {
            throw SubmitError.invalidInput([
                ValidationIssue(
                    loc: loc, msg: "ensure this value has at most \(Self.maxWebhookURLBytes) characters",
                    type: "value_error.any_str.max_length")
            ])
        }
        if let reason = urlPolicy.refusal(for: url) {
            throw SubmitError.invalidInput([ValidationIssue(loc: loc, msg: reason, type: "value_error.url")])
        }
    }

    /// Checks a request and builds its job, without storing it: the id is known (for error
    /// answers) before the insert.
    /// - Parameters:
    ///   - entry: the model.
    ///   - input: the request's input.
    ///   - options: priority, timeouts, retries, payload keeping.
    ///   - webhookURL: where the outcome is delivered, if anywhere.
    ///   - apiKeyID: the submitting key (`nil` with auth off).
    /// - Returns: the job to enqueue.
    /// - Throws: `SubmitError.invalidInput` with field paths (`["body", ...]`, `["query", "fal_webhook"]`).
    public func prepare(
        _ entry: ModelRegistry.Entry, input: JSONValue, options: SubmitOptions = SubmitOptions(), webhookURL: String? = nil,
        apiKeyID: String? = nil
    ) throws -> NewJob {
        if let webhookURL { try checkWebhook(webhookURL) }
        guard case .object = input else {
            throw SubmitError.invalidInput([ValidationIssue(loc: [.key("body")], msg: "value is not a valid dict", type: "type_error.dict")])
        }
        let validated: JSONValue
        do {
            validated = try entry.validator.validate(input)
        } catch let error as SchemaValidationError {
            throw SubmitError.invalidInput(error.issues)
        }
        return NewJob(
            id: UUID().uuidString.lowercased(), endpointID: entry.model.manifest.endpointID, input: validated.encoded(),
            priority: options.priority, startDeadline: options.startTimeout.map { Date().addingTimeInterval($0) },
            maxAttempts: options.noRetry ? 1 : 3, webhookURL: webhookURL, storeIO: options.storeIO, runnerHint: options.runnerHint,
            apiKeyID: apiKeyID, objectLifetime: options.objectLifetime, maxQueuedForKey: maxQueuedPerKey)
    }

    /// Inserts a prepared job (`queued`); committed to disk when this returns.
    /// - Throws: `SubmitError.queueFull` when its key has too many requests queued.
    public func enqueue(_ job: NewJob) async throws -> Job {
        do {
            return try await store.enqueue(job)
        } catch let error as JobStoreError where error.code == .queueLimit {
            throw SubmitError.queueFull(error.message)
        }
    }

    /// Inserts a prepared job, answering it at once from the result cache when an identical
    /// request to a deterministic model was computed before (the job is stored `completed`, its
    /// webhook queued, no model run); otherwise queues it with its cache key, so that its runner
    /// joins an identical computation in flight and stores what it computes.
    /// - Parameters:
    ///   - job: from `prepare`.
    ///   - entry: its model.
    ///   - submitted: the body as the caller sent it (a seeded model is cached only when it
    ///     names its seed itself).
    ///   - bypassCache: the caller asked not to use the cache (`X-Peregrine-Cache: bypass`).
    ///   - beforeQueueing: runs when the job is about to be queued (not answered from the cache);
    ///     an error it throws refuses the submit with nothing stored.
    /// - Returns: the stored job, and what the cache made of it (`nil`: the model is not cached).
    /// - Throws: `SubmitError.queueFull` when its key has too many requests queued.
    public func enqueue(
        _ job: NewJob, entry: ModelRegistry.Entry, submitted: JSONValue, bypassCache: Bool,
        beforeQueueing: () async throws -> Void = {}
    ) async throws -> (job: Job, cache: CacheVerdict?) {
        let answer = try await enqueueThroughCache(job, entry: entry, submitted: submitted, bypassCache: bypassCache,
                                                   beforeQueueing: beforeQueueing)
        if let verdict = answer.cache { metrics?.recordCache(model: job.endpointID, verdict: verdict) }
        return answer
    }

    private func enqueueThroughCache(
        _ job: NewJob, entry: ModelRegistry.Entry, submitted: JSONValue, bypassCache: Bool,
        beforeQueueing: () async throws -> Void
    ) async throws -> (job: Job, cache: CacheVerdict?) {
        func queue() async throws -> Job {
            try await beforeQueueing()
            return try await enqueue(job)
        }
        guard let cache = resultCache, await cache.isEnabled(for: entry) else { return (try await queue(), nil) }
        if bypassCache { return (try await queue(), .bypass) }
        // Results the caller asked not to keep are neither stored nor shared.
        guard job.storeIO, let validated = try? JSONValue(parsing: job.input),
            let key = await cache.key(for: entry, submitted: submitted, validated: validated)
        else { return (try await queue(), .miss) }
        if let recorder = store as? any CompletedJobRecording, let hit = await cache.output(for: key, lifetime: job.objectLifetime) {
            let now = Date()
            let line = JobLogLine(message: "Result cache hit: answered from a stored result, no model run", level: "INFO", timestamp: now)
            // No model ran for this request: its own inference time is zero (the output keeps the
            // timings of the run that computed it).
            let result = JobResult(status: 200, body: hit.output.encoded(), inferenceTime: 0)
            return (try await recorder.insertCompleted(job, result: result, logs: [line], now: now), .hit)
        }
        try await beforeQueueing()
        // Without its key the request still runs, only unshared: a failed write costs a computation.
        try? await cache.index.setPendingKey(key, jobID: job.id)
        return (try await enqueue(job), .miss)
    }

    /// `prepare(_:input:options:webhookURL:apiKeyID:)` for the model serving `endpoint`.
    /// - Throws: `SubmitError` (unknown endpoint, invalid input).
    public func prepare(
        endpoint: String, input: JSONValue, options: SubmitOptions = SubmitOptions(), webhookURL: String? = nil,
        apiKeyID: String? = nil
    ) throws -> NewJob {
        guard let entry = registry.entry(for: endpoint) else { throw SubmitError.unknownEndpoint(endpoint) }
        return try prepare(entry, input: input, options: options, webhookURL: webhookURL, apiKeyID: apiKeyID)
    }

    /// Checks and enqueues a request for `endpoint`.
    /// - Throws: `SubmitError` (unknown endpoint, invalid input, full queue).
    public func submit(
        endpoint: String, input: JSONValue, options: SubmitOptions = SubmitOptions(), webhookURL: String? = nil,
        apiKeyID: String? = nil
    ) async throws -> Job {
        try await enqueue(prepare(endpoint: endpoint, input: input, options: options, webhookURL: webhookURL, apiKeyID: apiKeyID))
    }
}

/// What the result cache made of a submit (the `X-Peregrine-Cache` answer header).
public enum CacheVerdict: String, Sendable, Equatable {
    /// Answered from a stored result, at once.
    case hit
    /// Queued to compute (possibly joining an identical request in flight).
    case miss
    /// The caller opted out for this request.
    case bypass
}

/// Why a request was not queued.
public enum SubmitError: Error, Sendable, CustomStringConvertible {
    /// No served model has this endpoint id.
    case unknownEndpoint(String)
    /// The input (or the webhook URL) failed validation; each issue names its field.
    case invalidInput([ValidationIssue])
    /// The submitting key has too many requests queued.
    case queueFull(String)

    public var description: String {
        switch self {
        case .unknownEndpoint(let endpoint): "unknown endpoint '\(endpoint)'"
        case .invalidInput(let issues): issues.map { "\($0.loc.map(\.description).joined(separator: ".")): \($0.msg)" }.joined(separator: "; ")
        case .queueFull(let message): "too many queued requests: \(message)"
        }
    }
}
