import Foundation
import JobQueue
import Media
import ModelKit
import Models
import Platform
import Runners
import Tensor

/// The mixed-workload benchmark: a seeded open-loop stream of requests over five gallery models
/// through the embedded platform (store, event hub, runner pool) under a memory budget that
/// holds two of them, reporting throughput, latency, cold starts and evictions.
enum MixedWorkload {
    struct Options {
        var modelDirectory: URL
        var requests = 40
        var rate = 1.0
        var threads = 2
        var seed: UInt64 = 1
        var budgetBytes: Int?
    }

    /// One kind of request: a model and an input.
    struct Kind {
        var endpoint: String
        var weight: Double
        var input: JSONValue
    }

    static func kinds() throws -> [Kind] {
        func png(_ side: Int) throws -> JSONValue {
            var bytes = [UInt8](repeating: 0, count: side * side * 3)
            for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 13) }
            let image = try Image(width: side, height: side, channels: 3, samples: .uint8(bytes))
            return .string("data:image/png;base64," + Data(try image.encoded(as: .png())).base64EncodedString())
        }
        return [
            Kind(endpoint: "peregrine/realesr-animevideov3", weight: 0.3, input: ["image_url": try png(96), "scale": 2]),
            Kind(endpoint: "peregrine/waifu2x", weight: 0.25, input: ["image_url": try png(64), "model": "cunet", "noise_level": 1]),
            Kind(endpoint: "peregrine/terrain-diffusion", weight: 0.2, input: ["difficulty": 0.5, "seed": 7]),
            Kind(endpoint: "peregrine/realesrgan-x4plus", weight: 0.125, input: ["image_url": try png(48)]),
            Kind(endpoint: "peregrine/realesrgan-x4plus-anime", weight: 0.125, input: ["image_url": try png(48)]),
        ]
    }

    static func run(_ options: Options) async throws -> JSONValue {
        let kinds = try kinds()
        let gallery = try EngineModels.all().filter { m in kinds.contains { $0.endpoint == m.manifest.endpointID } }
        // 1. Calibration: each model's measured footprint, with room for all.
        let footprints = try await session(gallery: gallery, options: options, budget: Int.max / 4) { platform, submit in
            for kind in kinds { _ = try await submit(kind) }
            return platform.pool.residencySnapshot.models.compactMapValues(\.measuredBytes)
        }.result
        let sizes = footprints.values.sorted(by: >)
        let budget = options.budgetBytes ?? (sizes.count >= 2 ? sizes[0] + sizes[1] : sizes.first ?? 0)

        // 2. The stream: exponential inter-arrival times at `rate`, models drawn by weight.
        let plan = schedule(kinds: kinds, options: options)
        let (outcome, pool) = try await session(gallery: gallery, options: options, budget: budget) { platform, submit in
            let clock = ContinuousClock()
            let start = clock.now
            let latencies = try await withThrowingTaskGroup(of: (String, Double, Bool).self) { group in
                for item in plan {
                    try await clock.sleep(until: start + .milliseconds(Int64(item.at * 1000)))
                    group.addTask {
                        let t0 = clock.now
                        let ok = try await submit(item.kind)
                        return (item.kind.endpoint, seconds(clock.now - t0), ok)
                    }
                }
                var all: [(String, Double, Bool)] = []
                for try await r in group { all.append(r) }
                return all
            }
            return (latencies, seconds(clock.now - start))
        }
        let (latencies, wall) = outcome
        let snapshot = pool.residencySnapshot
        var loads = 0, evictions = 0, expirations = 0
        var coldCost = 0.0
        var perModel: [String: JSONValue] = [:]
        for (model, state) in snapshot.models {
            loads += state.counters.loads
            evictions += state.counters.evictions
            expirations += state.counters.expirations
            let loadSeconds = pool.metrics.loadSeconds(of: model)
            coldCost += loadSeconds
            let mine = latencies.filter { $0.0 == model }.map(\.1)
            perModel[model] = [
                "requests": .int(Int64(mine.count)),
                "footprint_bytes": .int(Int64(footprints[model] ?? 0)),
                "loads": .int(Int64(state.counters.loads)),
                "load_seconds_total": .double(round3(loadSeconds)),
                "evictions": .int(Int64(state.counters.evictions)),
                "cold_starts": .int(Int64(pool.metrics.starts(of: model).cold)),
                "latency_p50_s": .double(round3(quantile(mine, 0.5))),
            ]
        }
        let all = latencies.map(\.1)
        return [
            "benchmark": "pool-mixed",
            "models": .array(kinds.map { .string($0.endpoint) }),
            "cpu_cores": .int(Int64(ProcessInfo.processInfo.activeProcessorCount)),
            "threads_per_model": .int(Int64(options.threads)),
            "budget_bytes": .int(Int64(budget)),
            "budget_rule": options.budgetBytes == nil ? "sum of the two largest measured footprints" : "given",
            "requests": .int(Int64(options.requests)),
            "arrival_rate_per_s": .double(options.rate),
            "completed": .int(Int64(latencies.filter(\.2).count)),
            "wall_seconds": .double(round3(wall)),
            "throughput_per_s": .double(round3(Double(latencies.count) / wall)),
            "latency_s": ["p50": .double(round3(quantile(all, 0.5))), "p99": .double(round3(quantile(all, 0.99))),
                          "max": .double(round3(all.max() ?? 0))],
            "cold_starts": .int(Int64(loads)),
            "cold_start_seconds_total": .double(round3(coldCost)),
            "evictions": .int(Int64(evictions)),
            "keep_alive_expirations": .int(Int64(expirations)),
            "batching": "none (see the batching benchmark: it does not pay on this engine)",
            "per_model": .object(perModel),
        ]
    }

    /// When each request arrives and what it asks for.
    static func schedule(kinds: [Kind], options: Options) -> [(at: Double, kind: Kind)] {
        // A seeded stream: every run draws the same requests.
        var rng = SplitMix64(seed: options.seed)
        var plan: [(at: Double, kind: Kind)] = []
        var t = 0.0
        let totalWeight = kinds.reduce(0) { $0 + $1.weight }
        for _ in 0..<options.requests {
            t += -log(1 - rng.nextDouble()) / options.rate
            var pick = rng.nextDouble() * totalWeight
            var chosen = kinds[0]
            for kind in kinds {
                pick -= kind.weight
                if pick < 0 { chosen = kind; break }
            }
            plan.append((t, chosen))
        }
        return plan
    }

    /// Runs `body` against a fresh platform (temporary home) with the hub and pool running;
    /// `submit` enqueues one request and waits for its outcome (true when completed).
    static func session<T: Sendable>(
        gallery: [any Model], options: Options, budget: Int,
        _ body: @Sendable (EmbeddedPlatform, @escaping @Sendable (Kind) async throws -> Bool) async throws -> T
    ) async throws -> (result: T, pool: RunnerPool) {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-poolbench-\(UUID().uuidString)")
        configuration.authEnabled = false
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: gallery,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 120, shutdownGracePeriod: 1, threads: options.threads, memoryBudgetBytes: budget),
            modelsDirectory: options.modelDirectory)
        let submit: @Sendable (Kind) async throws -> Bool = { kind in
            // Through the same submitter as the HTTP routes: schema check, defaults, one insert.
            let job = try platform.submitter.prepare(endpoint: kind.endpoint, input: kind.input, options: SubmitOptions(noRetry: true))
            let id = job.id
            let changes = platform.hub.changes(of: id)
            _ = try await platform.submitter.enqueue(job)
            var iterator = changes.makeAsyncIterator()
            while true {
                if let job = try await platform.store.jobWithoutPayloads(id: id), job.state.isTerminal {
                    if job.state != .completed {
                        FileHandle.standardError.write(Data("\(kind.endpoint): \(job.state) \(job.result?.errorMessage ?? "")\n".utf8))
                    }
                    return job.state == .completed
                }
                guard await iterator.next() != nil else { return false }
            }
        }
        let result = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await platform.hub.run(); return nil }
            group.addTask { try await platform.pool.run(); return nil }
            let value = try await body(platform, submit)
            group.cancelAll()
            return value
        }
        return (result, platform.pool)
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
    static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
    static func quantile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
    }
}
