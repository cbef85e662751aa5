import AsyncHTTPClient
import Foundation
import JobQueue
import Logging
import ServiceLifecycle

/// Delivers the webhook outbox: polls `dueWebhooks` every `pollInterval` and also wakes at once
/// on `.webhookPending` notifications; POSTs each body signed by `signer`; a 2xx answer marks the
/// row delivered, anything else schedules a retry by `retry` (or gives up after the last attempt).
///
/// Pending deliveries are rows in the store, so they survive restarts; a delivery that was in
/// flight when the process stopped is handed out again once the store's claim on it lapses.
public struct WebhookSender: Service {
    let store: any JobStore
    let signer: WebhookSigner
    let urlPolicy: OutboundURLPolicy
    let configuration: WebhookSenderConfiguration
    let clock: any Clock<Duration>
    let now: @Sendable () -> Date
    let logger: Logger

    /// - Parameters:
    ///   - store: the job store holding the outbox.
    ///   - signer: signs each delivery.
    ///   - urlPolicy: which receivers may be reached (checked on every attempt).
    ///   - configuration: timing, concurrency and retry settings.
    ///   - clock: the clock the poll interval runs on.
    ///   - now: the wall-clock time used for due times and signatures.
    ///   - logger: delivery failures are logged at `notice`.
    public init(
        store: any JobStore, signer: WebhookSigner, urlPolicy: OutboundURLPolicy,
        configuration: WebhookSenderConfiguration = .init(), clock: any Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "peregrine.webhooks")
    ) {
        self.store = store
        self.signer = signer
        self.urlPolicy = urlPolicy
        self.configuration = configuration
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    /// Delivers until cancelled or asked to shut down gracefully.
    ///
    /// Deliveries run side by side, at most `concurrency` at once, each within
    /// `requestTimeout`: a slot is refilled from the outbox as soon as its delivery ends, so a
    /// receiver that answers slowly holds one slot, never the others nor newly due deliveries.
    public func run() async throws {
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let notifications = store.notifications()
        let clock = clock
        let interval = configuration.pollInterval
        let slots = Slots(configuration.concurrency)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await notification in notifications where notification == .webhookPending {
                        wake.yield()
                    }
                }
                group.addTask {
                    wake.yield()
                    while (try? await clock.sleep(for: interval)) != nil {
                        wake.yield()
                    }
                    // Cancelled: end the delivery loop too.
                    wake.finish()
                }
                for await _ in wakeups {
                    // Fill the free slots; each delivery frees its slot and wakes this loop.
                    while !Task.isCancelled {
                        let free = slots.free
                        guard free > 0 else { break }
                        let due = await claim(limit: min(configuration.batchSize, free))
                        for delivery in due {
                            slots.take()
                            group.addTask {
                                await attemptAndRecord(delivery)
                                slots.give()
                                wake.yield()
                            }
                        }
                        if due.count < min(configuration.batchSize, free) { break }
                    }
                }
            }
        }
    }

    /// Delivers everything due now, at most `concurrency` at once, and returns when all of
    /// those attempts ended. Slots are refilled as deliveries end (no batch waits for its
    /// slowest member).
    /// - Returns: the number of delivery attempts made.
    @discardableResult
    public func deliverDue() async -> Int {
        let limit = max(1, configuration.concurrency)
        return await withTaskGroup(of: Void.self) { group in
            var attempted = 0
            var inFlight = 0
            var drained = false
            while !Task.isCancelled {
                if !drained, inFlight < limit {
                    let wanted = min(configuration.batchSize, limit - inFlight)
                    let due = await claim(limit: wanted)
                    for delivery in due { group.addTask { await attemptAndRecord(delivery) } }
                    inFlight += due.count
                    attempted += due.count
                    drained = due.count < wanted
                    if !drained, inFlight < limit { continue }
                }
                guard inFlight > 0 else { break }
                await group.next()
                inFlight -= 1
            }
            return attempted
        }
    }

    /// Claims up to `limit` due deliveries (none when reading the outbox fails).
    private func claim(limit: Int) async -> [WebhookDelivery] {
        guard limit > 0 else { return [] }
        do {
            return try await store.dueWebhooks(now: now(), limit: limit)
        } catch {
            if !Task.isCancelled { logger.error("reading the webhook outbox failed", metadata: ["error": "\(error)"]) }
            return []
        }
    }

    /// One attempt and its bookkeeping. A cancelled attempt (shutdown) is not recorded: the
    /// row stays pending and is retried after the claim lapses.
    func attemptAndRecord(_ delivery: WebhookDelivery) async {
        let outcome = await attempt(delivery)
        if Task.isCancelled { return }
        let attemptsMade = delivery.attempts + 1
        let finishedAt = now()
        do {
            switch outcome {
            case .delivered:
                try await store.recordWebhookAttempt(id: delivery.id, delivered: true, nextAttemptAt: nil, error: nil, now: finishedAt)
            case .failed(let reason, let permanent):
                let delay = permanent ? nil : configuration.retry.delay(afterFailedAttempts: attemptsMade)
                logger.notice(
                    "webhook delivery failed",
                    metadata: [
                        "request_id": "\(delivery.requestID)", "attempt": "\(attemptsMade)", "error": "\(reason)",
                        "retry_in": "\(delay.map { "\($0)s" } ?? "never")",
                    ])
                try await store.recordWebhookAttempt(
                    id: delivery.id, delivered: false, nextAttemptAt: delay.map { finishedAt.addingTimeInterval($0) },
                    error: reason, now: finishedAt)
            }
        } catch {
            logger.error("recording a webhook attempt failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Free delivery slots of the running sender.
///
/// `@unchecked Sendable` is sound because every access to `count` goes through `lock`.
private final class Slots: @unchecked Sendable {
    private let lock = NSLock()
    private var count: Int

    init(_ count: Int) { self.count = max(1, count) }

    var free: Int { lock.withLock { count } }
    func take() { lock.withLock { count -= 1 } }
    func give() { lock.withLock { count += 1 } }
}
