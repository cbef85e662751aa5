import Foundation
import JobQueue
import PostgresNIO

/// Store notifications across nodes: every change is announced with `pg_notify` inside its own
/// transaction (PostgreSQL delivers it only on commit, so a woken waiter always reads the new
/// state), and each node's listener republishes what other nodes announced. A node publishes its
/// own changes locally right after the commit, and its listener skips them by their origin tag.
extension ClusterDatabase {
    /// Notifications of this database, local and remote; each call gets its own stream.
    func notifications() -> AsyncStream<JobNotification> {
        broadcaster.subscribe()
    }

    /// Announces `notifications` to the other nodes as part of the transaction on `connection`.
    func announce(_ notifications: [JobNotification], on connection: PostgresConnection) async throws {
        let payloads = Self.payloads(notifications, origin: origin)
        guard !payloads.isEmpty else { return }
        try await connection.query(
            "SELECT pg_notify(\(Self.channel), p) FROM unnest(\(payloads)::text[]) AS p", logger: logger)
    }

    /// Publishes committed changes to this process's subscribers.
    func publish(_ notifications: [JobNotification]) {
        broadcaster.publish(notifications)
    }

    /// Encodes notifications as JSON arrays `[origin, "e:endpoint" | "c:id" | "w", ...]`, split so
    /// that no payload passes PostgreSQL's 8000-byte limit.
    static func payloads(_ notifications: [JobNotification], origin: String) -> [String] {
        var payloads: [String] = []
        var current: [String] = []
        var size = 0
        func flush() {
            guard !current.isEmpty else { return }
            if let data = try? JSONSerialization.data(withJSONObject: [origin] + current) {
                payloads.append(String(decoding: data, as: UTF8.self))
            }
            current = []
            size = 0
        }
        for notification in notifications {
            let item: String
            switch notification {
            case .enqueued(let endpointID): item = "e:" + endpointID
            case .changed(let id): item = "c:" + id
            case .webhookPending: item = "w"
            }
            // JSON escaping at most doubles a string's UTF-8 size (\uXXXX aside, which ids never need).
            let cost = item.utf8.count * 2 + 4
            if size + cost > 7000 { flush() }
            current.append(item)
            size += cost
        }
        flush()
        return payloads
    }

    /// Decodes a payload; `nil` for payloads of `origin` (already published locally) or malformed ones.
    static func decode(_ payload: String, skipping origin: String) -> [JobNotification]? {
        guard let items = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String],
            let sender = items.first, sender != origin
        else { return nil }
        return items.dropFirst().compactMap { item in
            if item == "w" { return .webhookPending }
            if item.hasPrefix("e:") { return .enqueued(endpointID: String(item.dropFirst(2))) }
            if item.hasPrefix("c:") { return .changed(id: String(item.dropFirst(2))) }
            return nil
        }
    }

    /// LISTENs on a connection of its own until cancelled, reconnecting after failures (with
    /// backoff up to 5 s). Announcements made while it was disconnected are lost, so after a
    /// reconnect it wakes this node's leasers for every endpoint with queued jobs (runners lease
    /// only when woken); status waiters re-read the store on their own schedule.
    func listen() async {
        var delay = Duration.milliseconds(100)
        var listenedBefore = false
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try configuration.connectionConfiguration(), id: 0, logger: logger)
                do {
                    try await connection.listen(on: Self.channel) { notifications in
                        listeningStarted()
                        delay = .milliseconds(100)
                        if listenedBefore {
                            let endpoints = try await connection.query(
                                "SELECT DISTINCT endpoint_id FROM jobs WHERE state = 'queued'", logger: logger
                            ).decode(String.self).gather()
                            broadcaster.publish(endpoints.map { .enqueued(endpointID: $0) } + [.webhookPending])
                        }
                        listenedBefore = true
                        for try await notification in notifications {
                            if let decoded = Self.decode(notification.payload, skipping: origin) {
                                broadcaster.publish(decoded)
                            }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { break }
                logger.warning("database listener disconnected; reconnecting", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}
