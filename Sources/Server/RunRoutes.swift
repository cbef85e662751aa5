import APITypes
import Foundation
import Hummingbird
import JobQueue
import NIOConcurrencyHelpers
import Platform

/// Synchronous runs under `/run`: `POST /run/{endpoint}` answers the model's output once done;
/// `POST /run/{endpoint}/stream` sends progress events and, last, the output. Both go through
/// the queue, so they share its ordering, limits and runners.
enum RunRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let rest = Array(call.segments.dropFirst())
        let caller = try call.authorizedCaller()
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
        // Taken before the submit: a refused stream must not leave a job behind.
        let slot = streaming ? try StatusStream.openSlot(for: caller, services: services) : nil
        // A repeated Idempotency-Key follows the original request: the answer is its result.
        let submitted = try await Submission.submit(call, entry: entry, caller: caller, services: services, allowWebhook: false)
        let id = submitted.job.id
        let wakeups = services.hub.changes(of: id, includingProgress: streaming)
        let recheck = services.configuration.waitRecheckInterval
        if !streaming {
            let job = try await waitForEnd(of: id, wakeups: wakeups, recheckInterval: recheck, services: services)
            var response = try await QueueRoutes.deliver(job, services: services)
            if let verdict = submitted.cache { response.headers[.peregrineCache] = verdict.rawValue }
            return response
        }
        let last = NIOLockedValueBox<Data?>(nil)
        let body = EventStream.body(
            wakeups: wakeups, pingInterval: services.configuration.ssePingInterval, recheckInterval: recheck, slot: slot
        ) {
            guard let job = try await services.store.jobWithoutPayloads(id: id) else { return ([], true) }
            if job.state.isTerminal {
                // The result payload is read once, for the last event.
                let body = try await services.store.job(id: id)?.result?.body
                return ([body ?? Data("{}".utf8)], true)
            }
            let position = job.state == .queued ? try await services.store.queuePosition(id: id) : nil
            let event = RunProgressEvent(
                status: job.state == .queued ? .inQueue : .inProgress, requestID: id, queuePosition: position,
                progress: services.hub.progress(of: id))
            let encoded = JSON.encode(event)
            let changed = last.withLockedValue { previous -> Bool in
                defer { previous = encoded }
                return previous != encoded
            }
            return (changed ? [encoded] : [], false)
        }
        var headers = EventStream.headers(requestID: id)
        if let verdict = submitted.cache { headers[.peregrineCache] = verdict.rawValue }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Waits until job `id` is terminal and returns it with its payloads. Woken by the job's
    /// notifications and, in case one is lost, by a re-check every `recheckInterval` seconds;
    /// the waits in between read the job without payloads.
    /// - Throws: 404 when the job vanished, 503 when the server shuts down first.
    static func waitForEnd(
        of id: String, wakeups: AsyncStream<Void>, recheckInterval: TimeInterval, services: APIServices
    ) async throws -> Job {
        let (ticks, tick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let finished: Bool = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in wakeups { tick.yield() }
                tick.finish()  // shutdown: the hub ended its streams
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(Int64(recheckInterval * 1000)))
                    tick.yield()
                }
            }
            defer { group.cancelAll() }
            var iterator = ticks.makeAsyncIterator()
            repeat {
                guard let job = try await services.store.jobWithoutPayloads(id: id) else { throw APIError.requestNotFound }
                if job.state.isTerminal { return true }
            } while await iterator.next() != nil
            return false
        }
        guard finished else {
            throw APIError.typed(.serviceUnavailable, "Server is shutting down", type: "runner_disconnected")
        }
        guard let job = try await services.store.job(id: id) else { throw APIError.requestNotFound }
        return job
    }
}
