import Foundation
import JobQueue
import Hummingbird
import NIOConcurrencyHelpers
import Platform

/// Server-sent events driven by wake-ups: after each wake-up the producer is asked for the
/// events to send now and whether the stream is done; `: ping` comments keep idle connections
/// (and the proxies between) alive.
enum EventStream {
    private enum Tick: Sendable { case recheck, ping, sourceEnded }

    /// The stream's headers.
    static func headers(requestID: String?) -> HTTPFields {
        var h = HTTPFields()
        h[.contentType] = "text/event-stream"
        h[.cacheControl] = "no-cache"
        if let requestID { h[.falRequestID] = requestID }
        return h
    }

    /// - Parameters:
    ///   - wakeups: signals that something may have changed.
    ///   - pingInterval: seconds between `: ping` comments.
    ///   - recheckInterval: also re-ask the producer this often (for changes no wake-up covers,
    ///     such as the queue position), or `nil`.
    ///   - slot: the stream's share of its key's stream limit, given back when the stream ends.
    ///   - produce: events (JSON documents) to send now, and whether that was the last.
    static func body(
        wakeups: AsyncStream<Void>, pingInterval: TimeInterval, recheckInterval: TimeInterval?, slot: StreamSlot? = nil,
        produce: @escaping @Sendable () async throws -> (events: [Data], done: Bool)
    ) -> ResponseBody {
        ResponseBody { writer in
            defer { slot?.release() }
            let (ticks, tick) = AsyncStream<Tick>.makeStream(bufferingPolicy: .bufferingNewest(4))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in wakeups { tick.yield(.recheck) }
                    tick.yield(.sourceEnded)
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .milliseconds(Int64(pingInterval * 1000)))
                        tick.yield(.ping)
                    }
                }
                if let recheckInterval {
                    group.addTask {
                        while true {
                            try await Task.sleep(for: .milliseconds(Int64(recheckInterval * 1000)))
                            tick.yield(.recheck)
                        }
                    }
                }
                var iterator = ticks.makeAsyncIterator()
                produceLoop: while true {
                    let (events, done) = try await produce()
                    for event in events {
                        var buffer = ByteBuffer(string: "data: ")
                        buffer.writeBytes(event)
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                    }
                    if done { break produceLoop }
                    waitLoop: while true {
                        switch await iterator.next() {
                        case .ping?: try await writer.write(ByteBuffer(string: ": ping\n\n"))
                        case .recheck?: break waitLoop
                        case .sourceEnded?, nil: break produceLoop
                        }
                    }
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
    }
}

/// `: ping` on a stream, `data:` events: see `EventStream`.
enum StatusStream {
    /// `GET .../requests/{id}/status/stream`: the status on every change, closing after COMPLETED.
    static func response(_ call: APICall, app: [String], id: String, services: APIServices) async throws -> Response {
        // Subscribe before the first read, so no change between the two is missed.
        let wakeups = services.hub.changes(of: id)
        let (first, caller) = try await QueueRoutes.authorizedJob(call, app: app, id: id, services: services)
        let slot = try openSlot(for: caller, services: services)
        let withLogs = SubmitOptions.flag(call.query("logs") ?? "0") ?? false
        let last = NIOLockedValueBox<Data?>(nil)
        let initial = NIOLockedValueBox<Job?>(first)
        let body = EventStream.body(
            wakeups: wakeups, pingInterval: services.configuration.ssePingInterval,
            recheckInterval: services.configuration.waitRecheckInterval, slot: slot
        ) {
            let job: Job
            if let j = initial.withLockedValue({ j -> Job? in defer { j = nil }; return j }) {
                job = j
            } else {
                // Every tick: the payload-free read (the status never shows input or result).
                guard let j = try await services.store.jobWithoutPayloads(id: id) else { return ([], true) }
                job = j
            }
            let status = try await QueueRoutes.statusBody(job, call: call, withLogs: withLogs, services: services)
            let encoded = JSON.encode(status)
            let done = status.status == .completed
            let changed = last.withLockedValue { previous -> Bool in
                defer { previous = encoded }
                return previous != encoded
            }
            return (changed ? [encoded] : [], done)
        }
        return Response(status: .ok, headers: EventStream.headers(requestID: id), body: body)
    }

    /// One of the caller's stream slots.
    /// - Throws: 429 when the caller's key has `maxStreamsPerKey` streams open.
    static func openSlot(for caller: Caller, services: APIServices) throws -> StreamSlot {
        guard let slot = services.streams.acquire(key: caller.keyID) else {
            var refusal = APIError.typed(
                .tooManyRequests,
                "Too many open status streams for this key (at most \(services.configuration.maxStreamsPerKey)). "
                    + "Close one or poll the status instead.",
                type: "rate_limited")
            refusal.headers[.retryAfter] = "1"
            throw refusal
        }
        return slot
    }
}
