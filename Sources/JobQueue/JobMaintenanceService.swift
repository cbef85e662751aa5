import Foundation
import Logging
import ServiceLifecycle

/// Settings of `JobMaintenanceService`.
public struct JobMaintenanceConfiguration: Sendable {
    /// Time between passes.
    public var interval: Duration
    /// How long a finished job (its result, logs and files) is kept before the sweeper deletes it.
    public var resultTTL: TimeInterval

    /// - Parameters:
    ///   - interval: time between passes (default 1 s: lease expiry and start deadlines are
    ///     noticed within about a second).
    ///   - resultTTL: lifetime of finished jobs (default 7 days).
    public init(interval: Duration = .seconds(1), resultTTL: TimeInterval = 7 * 24 * 3600) {
        self.interval = interval
        self.resultTTL = resultTTL
    }
}

/// What one maintenance pass did.
public struct JobMaintenanceReport: Sendable, Equatable {
    /// Jobs whose lease expired (re-queued, or failed when out of attempts).
    public var rescued: [String] = []
    /// Queued jobs that missed their start deadline (ended with 504).
    public var expired: [String] = []
    /// Finished jobs deleted by the sweeper.
    public var swept: [String] = []
    /// Expired idempotency keys deleted.
    public var idempotencyKeysSwept = 0

    /// An empty report.
    public init() {}
}

/// Keeps the queue healthy: re-queues jobs whose runner lost its lease, ends queued jobs whose
/// start deadline passed, and deletes finished jobs older than the result TTL (handing their ids
/// to `onSwept` so their files can be removed too).
///
/// Time is injected (`clock` for the pause between passes, `now` for the instants compared with
/// stored dates) so tests drive passes directly with `runOnce(now:)`.
public struct JobMaintenanceService: Service {
    private let store: any JobStore
    private let idempotency: (any IdempotencyStore)?
    private let configuration: JobMaintenanceConfiguration
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let onSwept: @Sendable ([String]) async -> Void
    private let logger: Logger

    /// - Parameters:
    ///   - store: the job store to maintain.
    ///   - configuration: interval and result TTL.
    ///   - clock: the clock the service sleeps on between passes.
    ///   - now: the current wall-clock time, compared with stored dates.
    ///   - logger: where failures of a pass are reported (a failed pass is retried next interval).
    ///   - onSwept: called with the ids of deleted jobs, after they are deleted.
    ///   - idempotency: whose expired idempotency keys each pass deletes, if any.
    public init(
        store: any JobStore, idempotency: (any IdempotencyStore)? = nil, configuration: JobMaintenanceConfiguration = .init(),
        clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "peregrine.jobs.maintenance"),
        onSwept: @escaping @Sendable ([String]) async -> Void = { _ in }
    ) {
        self.store = store
        self.idempotency = idempotency
        self.configuration = configuration
        self.clock = clock
        self.now = now
        self.logger = logger
        self.onSwept = onSwept
    }

    /// Runs passes until cancelled or asked to shut down gracefully.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await runOnce(now: now())
                try await clock.sleep(for: configuration.interval)
            }
        }
    }

    /// One pass at `now`: rescue expired leases, expire start deadlines, sweep old results and
    /// expired idempotency keys.
    /// Each step's failure is logged and does not stop the others.
    @discardableResult
    public func runOnce(now: Date) async -> JobMaintenanceReport {
        var report = JobMaintenanceReport()
        do {
            report.rescued = try await store.rescueExpiredLeases(now: now)
        } catch {
            log(error, "rescuing expired leases failed")
        }
        do {
            report.expired = try await store.expireStartDeadlines(now: now)
        } catch {
            log(error, "expiring start deadlines failed")
        }
        do {
            report.swept = try await store.sweep(finishedBefore: now.addingTimeInterval(-configuration.resultTTL))
            if !report.swept.isEmpty { await onSwept(report.swept) }
        } catch {
            log(error, "sweeping finished jobs failed")
        }
        if let idempotency {
            do {
                report.idempotencyKeysSwept = try await idempotency.sweepIdempotencyKeys(now: now)
            } catch {
                log(error, "sweeping expired idempotency keys failed")
            }
        }
        return report
    }

    /// A pass interrupted by shutdown is not a failure worth reporting.
    private func log(_ error: any Error, _ message: Logger.Message) {
        guard !(error is CancellationError) else { return }
        logger.error(message, metadata: ["error": "\(error)"])
    }
}
