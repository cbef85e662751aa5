import APITypes
import Foundation
import Hummingbird
import JobQueue
import NIOConcurrencyHelpers
import Platform
import Runners

/// fal's queue contract under `/queue`: submit, status, status stream, result, cancel.
enum QueueRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let rest = Array(call.segments.dropFirst())
        if let r = rest.lastIndex(of: "requests"), r >= 2, r + 1 < rest.count {
            let app = Array(rest[..<r])
            let tail = Array(rest[(r + 1)...])
            let id = tail[0]
            switch tail.count {
            case 1:
                try call.allow(.get)
                return try await result(call, app: app, id: id, services: services)
            case 2 where tail[1] == "status":
                try call.allow(.get)
                return try await status(call, app: app, id: id, services: services)
            case 2 where tail[1] == "cancel":
                try call.allow(.put)
                return try await cancel(call, app: app, id: id, services: services)
            case 3 where tail[1] == "status" && tail[2] == "stream":
                try call.allow(.get)
                return try await StatusStream.response(call, app: app, id: id, services: services)
            default:
                break
            }
        }
        let endpoint = rest.joined(separator: "/")
        let caller = try call.authorizedCaller()
        guard let entry = services.registry.entry(for: endpoint) else {
            throw APIError.detail(.notFound, "Endpoint '\(endpoint)' not found")
        }
        try call.allow(.post)
        let submitted = try await Submission.submit(call, entry: entry, caller: caller, services: services, allowWebhook: true)
        let job = submitted.job
        let position = try await services.store.queuePosition(id: job.id) ?? 0
        let urls = RequestURLs(base: appBase(call, endpointID: job.endpointID), requestID: job.id)
        return JSON.response(
            SubmitResponse(requestID: job.id, urls: urls, queuePosition: position), headers: Submission.headers(submitted))
    }

    /// `https://host/queue/{owner}/{alias}`: queue URLs name the app only, never the full path.
    static func appBase(_ call: APICall, endpointID: String) -> String {
        let app = endpointID.split(separator: "/").prefix(2).map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }
        return "\(call.base)/queue/\(app.joined(separator: "/"))"
    }

    /// The job `id` without its payloads, checked to belong to the app in the path and to the
    /// caller. Status reads never need the input or the result, which can be hundreds of MB.
    /// - Throws: 401 without credentials, 404 when any check fails.
    static func job(_ call: APICall, app: [String], id: String, services: APIServices) async throws -> Job {
        try await authorizedJob(call, app: app, id: id, services: services).job
    }

    /// `job(_:app:id:services:)` and the caller it was checked against.
    static func authorizedJob(_ call: APICall, app: [String], id: String, services: APIServices) async throws
        -> (job: Job, caller: Caller)
    {
        let caller = try call.authorizedCaller()
        call.requestID.withLockedValue { $0 = id }
        guard id.utf8.count <= 64, let job = try await services.store.jobWithoutPayloads(id: id) else {
            throw APIError.requestNotFound
        }
        let endpoint = job.endpointID.split(separator: "/").map(String.init)
        // Owner/alias only (what submit hands out) or the full endpoint id.
        guard app == Array(endpoint.prefix(2)) || app == endpoint else { throw APIError.requestNotFound }
        guard mayRead(job, caller: caller) else { throw APIError.requestNotFound }
        return (job, caller)
    }

    /// Whether `caller` may see `job`. A job submitted with a key belongs to that key. A job
    /// submitted without one (auth was off when it came in) is open to everyone only while auth
    /// stays off; once auth is on, only admin keys see it: it has no owner, and handing it to
    /// every key would publish whatever was submitted during development.
    static func mayRead(_ job: Job, caller: Caller) -> Bool {
        guard let me = caller.keyID else { return true }  // auth off
        if let owner = job.apiKeyID { return owner == me }
        return caller.isAdmin
    }

    static func status(_ call: APICall, app: [String], id: String, services: APIServices) async throws -> Response {
        let job = try await job(call, app: app, id: id, services: services)
        let withLogs = SubmitOptions.flag(call.query("logs") ?? "0") ?? false
        var body = try await statusBody(job, call: call, withLogs: withLogs, services: services)
        try await addForecast(to: &body, job: job, services: services)
        var headers = HTTPFields()
        headers[.falRequestID] = id
        return JSON.response(body, status: body.status == .completed ? .ok : .accepted, headers: headers)
    }

    /// The public status of a job.
    static func statusBody(_ job: Job, call: APICall, withLogs: Bool, services: APIServices) async throws -> QueueStatus {
        let urls = RequestURLs(base: appBase(call, endpointID: job.endpointID), requestID: job.id)
        func logs() async throws -> [LogLine]? {
            guard withLogs else { return nil }
            return try await services.store.logs(id: job.id).map { LogLine(message: $0.message, level: $0.level, timestamp: $0.timestamp) }
        }
        switch job.state {
        case .queued:
            let position = try await services.store.queuePosition(id: job.id) ?? 0
            return .inQueue(requestID: job.id, urls: urls, position: position)
        case .running:
            return .inProgress(requestID: job.id, urls: urls, logs: try await logs())
        case .completed, .failed, .cancelled:
            let failed = job.state != .completed
            return .completed(
                requestID: job.id, urls: urls, logs: try await logs(), inferenceTime: job.result?.inferenceTime,
                error: failed ? (job.result?.errorMessage ?? "Request failed") : nil,
                errorType: failed ? (job.result?.errorType ?? "internal_error") : nil)
        }
    }

    /// The only queue route that reads the result payload, and only once the job is terminal.
    static func result(_ call: APICall, app: [String], id: String, services: APIServices) async throws -> Response {
        let status = try await job(call, app: app, id: id, services: services)
        guard status.state.isTerminal else { throw APIError.detail(.badRequest, "Request is still in progress") }
        guard let job = try await services.store.job(id: id) else { throw APIError.requestNotFound }
        return try await deliver(job, services: services)
    }

    /// The result response; with `X-Fal-Store-IO: 0` the payloads are dropped once delivered.
    static func deliver(_ job: Job, services: APIServices) async throws -> Response {
        let response = try resultResponse(job)
        if !job.storeIO {
            do { try await services.store.dropPayloads(id: job.id) } catch {
                services.logger.warning("could not drop payloads", metadata: ["request_id": "\(job.id)", "error": "\(error)"])
            }
        }
        return response
    }

    /// The stored outcome of a finished job, exactly as the model (or the queue) produced it.
    static func resultResponse(_ job: Job) throws -> Response {
        guard let result = job.result, !result.body.isEmpty else {
            throw APIError.detail(.notFound, "The result of this request is no longer stored")
        }
        var headers = HTTPFields()
        headers[.falRequestID] = job.id
        if let type = result.errorType, result.status >= 400 {
            headers[.falErrorType] = type
            if type == "request_timeout" { headers[.falRequestTimeoutType] = "user" }
        }
        return JSON.response(result.body, status: HTTPResponse.Status(code: result.status), headers: headers)
    }

    static func cancel(_ call: APICall, app: [String], id: String, services: APIServices) async throws -> Response {
        var headers = HTTPFields()
        headers[.falRequestID] = id
        let outcome: CancelOutcome
        do {
            _ = try await job(call, app: app, id: id, services: services)
            outcome = try await services.store.cancel(id: id, now: Date())
            // A job running in this process stops at its next check at once, without waiting
            // for the store's notification to reach the runner (which it does anyway).
            if outcome == .requested { services.pool?.stopRunning(id: id) }
        } catch let error as APIError where error.status == .notFound {
            outcome = .notFound
        }
        switch outcome {
        case .cancelled, .requested: return JSON.response(CancelResponse.requested, status: .accepted, headers: headers)
        case .alreadyCompleted: return JSON.response(CancelResponse.alreadyCompleted, status: .badRequest, headers: headers)
        case .notFound: return JSON.response(CancelResponse.notFound, status: .notFound, headers: headers)
        }
    }

    /// Adds `eta_start` and `eta_finish` to a polled status when the model has latency history.
    /// Status streams leave them out: an overdue forecast moves with the clock, and a stream
    /// sends an event on every change of its body.
    static func addForecast(to body: inout QueueStatus, job: Job, services: APIServices) async throws {
        guard let predictor = services.predictor else { return }
        let now = Date()
        switch job.state {
        case .queued:
            guard let position = body.queuePosition,
                let forecast = try await predictor.forecast(endpointID: job.endpointID, position: position, now: now)
            else { return }
            body.etaStart = ISO8601.string(from: forecast.start)
            body.etaFinish = ISO8601.string(from: forecast.finish)
        case .running:
            guard let started = job.startedAt, let finish = predictor.finish(endpointID: job.endpointID, started: started, now: now)
            else { return }
            body.etaFinish = ISO8601.string(from: finish)
        case .completed, .failed, .cancelled:
            return
        }
    }
}
