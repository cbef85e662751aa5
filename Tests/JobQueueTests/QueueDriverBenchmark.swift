import Foundation
import JobQueue
import NIOConcurrencyHelpers
import PostgresTestSupport
import Testing

@testable import PostgresStore

/// The job store drivers side by side, printed as JSON with the CPU model (DESIGN.md budget:
/// submit → runner start under 2 ms median embedded, under 5 ms on PostgreSQL). A benchmark,
/// not a test: it asserts nothing about time and runs only with `PEREGRINE_BENCH=1`.
///
/// - lease-to-start: a job is enqueued while a leaser waits on the store's notifications; the
///   time from the enqueue call until the woken leaser holds the job. On PostgreSQL the leaser
///   sits on a second store instance (another node), woken through LISTEN/NOTIFY.
/// - throughput: 8 submitters enqueue 800 jobs while 2 leasers lease (up to 8 at a time) and
///   finish them; jobs per second from the first enqueue until the last finish.
///
/// Drivers alternate (SQLite, PostgreSQL, SQLite, ...) so load from elsewhere hits both alike.
/// PostgreSQL is `PEREGRINE_BENCH_POSTGRES_URL` when set (start a durable one with
/// `PEREGRINE_TEST_POSTGRES_DIR=… PEREGRINE_TEST_POSTGRES_DURABLE=1 scripts/postgres.sh`), else
/// the test cluster, which runs without fsync; the report says which.
@Suite("Queue driver benchmark", .enabled(if: ProcessInfo.processInfo.environment["PEREGRINE_BENCH"] == "1"))
struct QueueDriverBenchmark {
    /// Two views of one database: where jobs are submitted and where they are leased.
    struct Pair: Sendable {
        var submit: any JobStore
        var lease: any JobStore
        var stop: @Sendable () async -> Void
    }

    @Test func leaseToStartAndThroughput() async throws {
        let rounds = 3
        var results: [String: [String: [Double]]] = ["sqlite": [:], "postgres": [:]]
        var settings: [String: String] = [:]
        for _ in 0..<rounds {
            for driver in ["sqlite", "postgres"] {
                let pair = driver == "sqlite" ? try await Self.sqlite() : try await Self.postgres(settings: &settings)
                let latencies = try await Self.leaseToStart(pair, count: 300)
                let throughput = try await Self.throughput(pair, submitters: 8, perSubmitter: 100, leasers: 2)
                await pair.stop()
                results[driver, default: [:]]["lease_to_start_ms_p50", default: []].append(Self.percentile(latencies, 50))
                results[driver, default: [:]]["lease_to_start_ms_p99", default: []].append(Self.percentile(latencies, 99))
                results[driver, default: [:]]["enqueue_to_finish_jobs_per_s", default: []].append(throughput)
            }
        }
        // Medians over the rounds.
        var report: [String: Any] = ["cpu": Self.cpuModel(), "rounds": rounds, "postgres_settings": settings]
        for (driver, metrics) in results {
            report[driver] = metrics.mapValues { Self.percentile($0, 50) }
        }
        let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print("BENCH queue_drivers " + String(decoding: json, as: UTF8.self))
    }

    static func sqlite() async throws -> Pair {
        let instance = try await JobStoreFactory.sqlite.make()
        return Pair(submit: instance.store, lease: instance.store, stop: { try? await instance.close() })
    }

    static func postgres(settings: inout [String: String]) async throws -> Pair {
        var configuration = try await PostgresTestCluster.shared.makeDatabase(maxConnections: 12)
        if let url = ProcessInfo.processInfo.environment["PEREGRINE_BENCH_POSTGRES_URL"] {
            let server = try ClusterDatabaseConfiguration(url: url)
            configuration = server.with(database: server.database)
            configuration.maxConnections = 12
        }
        let a = try await RunningClusterDatabase.open(configuration)
        let b = try await RunningClusterDatabase.open(configuration)
        for name in ["fsync", "synchronous_commit", "server_version"] {
            let rows = try await a.database.rows("SELECT current_setting(\(name))")
            settings[name] = try rows.first?.decode(String.self)
        }
        // A shared benchmark database is emptied between rounds.
        try await a.database.rows("TRUNCATE jobs, job_logs, webhook_outbox, key_turns")
        return Pair(
            submit: PostgresJobStore(database: a.database), lease: PostgresJobStore(database: b.database),
            stop: { await a.stop(); await b.stop() })
    }

    /// One job at a time: enqueue, and time until the waiting leaser holds it.
    static func leaseToStart(_ pair: Pair, count: Int) async throws -> [Double] {
        let endpoint = "bench/latency"
        let (started, startedContinuation) = AsyncStream<ContinuousClock.Instant>.makeStream()
        let wakeUps = pair.lease.notifications()
        let leaser = Task {
            var leased = 0
            var iterator = wakeUps.makeAsyncIterator()
            while leased < count {
                let jobs = try await pair.lease.lease(endpointIDs: [endpoint], owner: "bench", limit: 1, leaseDuration: 60, now: Date())
                if jobs.isEmpty {
                    // Sleep until something is enqueued for the endpoint.
                    while let note = await iterator.next(), note != .enqueued(endpointID: endpoint) {}
                    continue
                }
                startedContinuation.yield(.now)
                leased += jobs.count
            }
        }
        var latencies: [Double] = []
        var startedIterator = started.makeAsyncIterator()
        for i in 0..<count {
            let begin = ContinuousClock.now
            _ = try await pair.submit.enqueue(NewJob(id: "lat-\(UUID().uuidString)-\(i)", endpointID: endpoint, input: Data("{}".utf8)))
            guard let end = await startedIterator.next() else { break }
            latencies.append((end - begin).milliseconds)
        }
        try await leaser.value
        return latencies
    }

    /// Submitters and leasers at once; jobs per second from the first enqueue to the last finish.
    static func throughput(_ pair: Pair, submitters: Int, perSubmitter: Int, leasers: Int) async throws -> Double {
        let endpoint = "bench/throughput"
        let total = submitters * perSubmitter
        let finished = Counter()
        let begin = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<submitters {
                group.addTask {
                    for i in 0..<perSubmitter {
                        _ = try await pair.submit.enqueue(
                            NewJob(id: "tp-\(s)-\(i)-\(UUID().uuidString)", endpointID: endpoint, input: Data("{}".utf8)))
                    }
                }
            }
            for l in 0..<leasers {
                group.addTask {
                    let wakeUps = pair.lease.notifications()
                    var iterator = wakeUps.makeAsyncIterator()
                    while finished.value < total {
                        let jobs = try await pair.lease.lease(
                            endpointIDs: [endpoint], owner: "bench-\(l)", limit: 8, leaseDuration: 60, now: Date())
                        for job in jobs {
                            _ = try await pair.lease.finish(
                                id: job.id, leaseToken: job.leaseToken ?? "", state: .completed,
                                result: JobResult(status: 200, body: Data("{}".utf8)), now: Date())
                        }
                        finished.add(jobs.count)
                        if jobs.isEmpty && finished.value < total { _ = await iterator.next() }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(total) / ((ContinuousClock.now - begin).milliseconds / 1000)
    }

    static func percentile(_ values: [Double], _ p: Int) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, sorted.count * p / 100)]
    }

    static func cpuModel() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }
}

/// A count shared by the leasers.
private final class Counter: Sendable {
    private let box = NIOLockedValueBox(0)
    var value: Int { box.withLockedValue { $0 } }
    func add(_ n: Int) { box.withLockedValue { $0 += n } }
}
