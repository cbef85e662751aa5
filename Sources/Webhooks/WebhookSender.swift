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
    public func run() async throws {
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let notifications = store.notifications()
        let clock = clock
        let interval = configuration.pollInterval
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
                group.addTask {
                    for await _ in wakeups {
                        await deliverDue()
                    }
                }
            }
        }
    }

    /// Delivers everything due now, batch after batch, with at most `concurrency` in flight.
    /// - Returns: the number of delivery attempts made.
    @discardableResult
    public func deliverDue() async -> Int {
        var attempted = 0
        while !Task.isCancelled {
            let due: [WebhookDelivery]
            do {
                due = try await store.dueWebhooks(now: now(), limit: configuration.batchSize)
            } catch {
                logger.error("reading the webhook outbox failed", metadata: ["error": "\(error)"])
                return attempted
            }
            await withTaskGroup(of: Void.self) { group in
                for (index, delivery) in due.enumerated() {
                    if index >= configuration.concurrency { await group.next() }
                    group.addTask { await attemptAndRecord(delivery) }
                }
            }
            attempted += due.count
            if due.count < configuration.batchSize { break }
        }
        return attempted
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
