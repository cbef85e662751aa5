import APITypes
import Foundation
import Hummingbird
import JobQueue

/// Synchronous runs under `/run`: `POST /run/{endpoint}` answers the model's output once done;
/// `POST /run/{endpoint}/stream` sends progress events and, last, the output. Both go through
/// the queue, so they share its ordering, limits and runners.
enum RunRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let rest = Array(call.segments.dropFirst())
        let caller = try await services.auth.authenticate(call.request)
        var endpoint = rest.joined(separator: "/")
        var streaming = false
        if services.registry.entry(for: endpoint) == nil, rest.count > 2, rest.last == "stream" {
            endpoint = rest.dropLast().joined(separator: "/")
            streaming = true
        }
        guard let entry = services.registry.entry(for: endpoint) else {
            throw APIError.detail(.notFound, "Endpoint '\(endpoint)' not found")
        }
        try call.allow(.post)
        let submitted = try await Submission.submit(call, entry: entry, caller: caller, services: services, allowWebhook: false)
        let id = submitted.id
        let wakeups = services.hub.changes(of: id, includingProgress: streaming)
        if !streaming {
            var iterator = wakeups.makeAsyncIterator()
            repeat {
                guard let job = try await services.store.job(id: id) else { throw APIError.requestNotFound }
                if job.state.isTerminal { return try await QueueRoutes.deliver(job, services: services) }
            } while await iterator.next() != nil
            throw APIError.typed(.serviceUnavailable, "Server is shutting down", type: "runner_disconnected")
        }
        let last = Locked<Data?>(nil)
        let body = EventStream.body(wakeups: wakeups, pingInterval: services.configuration.ssePingInterval, recheckInterval: 1) {
            guard let job = try await services.store.job(id: id) else { return ([], true) }
            if job.state.isTerminal { return ([job.result?.body ?? Data("{}".utf8)], true) }
            let position = job.state == .queued ? try await services.store.queuePosition(id: id) : nil
            let event = RunProgressEvent(
                status: job.state == .queued ? .inQueue : .inProgress, requestID: id, queuePosition: position,
                progress: services.hub.progress(of: id))
            let encoded = JSON.encode(event)
            let changed = last.withLock { previous -> Bool in
                defer { previous = encoded }
                return previous != encoded
            }
            return (changed ? [encoded] : [], false)
        }
        return Response(status: .ok, headers: EventStream.headers(requestID: id), body: body)
    }
}
