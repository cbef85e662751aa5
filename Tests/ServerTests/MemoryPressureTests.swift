import Foundation
import JobQueue
import ModelKit
import Platform
import Runners
import Server
import TestSupport
import Testing

/// Holds a table of `bytes` bytes while loaded and answers with a checksum over it and the
/// input, so the memory it reports is memory it really holds.
private struct TableModel: Model {
    let endpointID: String
    let bytes: Int
    /// When set, each run signals `started` and then waits for the gate.
    var gate: (Gate, AsyncStream<String>.Continuation)?

    var manifest: ModelManifest {
        ModelManifest(
            endpointID: endpointID, category: "text-to-image", displayName: "Table", description: "Sums a table.",
            inputSchema: ["type": "object", "properties": ["seed": ["type": "integer"]], "required": ["seed"]],
            outputSchema: ["type": "object"], schemaName: "Table", memoryEstimateBytes: bytes)
    }

    func load(context: LoadContext) async throws -> any LoadedModel {
        Loaded(table: (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }, gate: gate)
    }

    struct Loaded: LoadedModel {
        let table: [UInt8]
        let gate: (Gate, AsyncStream<String>.Continuation)?
        var footprintBytes: Int { table.count }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            if let (gate, started) = gate {
                started.yield("run")
                await gate.wait()
            }
            let seed = Int(input["seed"]?.intValue ?? 0)
            var sum = seed
            for byte in table { sum = (sum &* 33) &+ Int(byte) }
            return ["sum": .int(Int64(sum & 0xFFFF))]
        }
    }
}

@Suite("Runner pool under memory pressure")
struct MemoryPressureTests {
    @Test("four models with room for two: every request completes, models are evicted, the budget holds")
    func moreModelsThanFit() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        let size = 1 << 20
        let names = (0..<4).map { "test/table\($0)" }
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: names.map { TableModel(endpointID: $0, bytes: size) },
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, memoryBudgetBytes: 2 * size + size / 2))
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        try await h.test { client in
            var ids: [String] = []
            for round in 0..<3 {
                for name in names {
                    let body = try await client.send(.post, "/queue/\(name)", json: ["seed": .int(Int64(round))]).json
                    ids.append(try #require(body["request_id"]?.stringValue))
                }
            }
            for id in ids {
                let job = try await h.waitForJob(id) { $0.state.isTerminal }
                #expect(job.state == .completed, "\(id): \(job.state) \(String(describing: job.result?.errorMessage))")
            }
            let snapshot = platform.pool.residencySnapshot
            #expect(snapshot.residentBytes <= snapshot.budget)
            #expect(snapshot.loadedModels.count <= 2)
            let evictions = snapshot.models.values.reduce(0) { $0 + $1.counters.evictions }
            #expect(evictions >= 2)
        }
    }

    @Test("a request cancelled while waiting for memory ends cancelled and leaves no slot behind")
    func cancelWhileWaiting() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        let size = 1 << 20
        let gate = Gate()
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let models = [
            TableModel(endpointID: "test/held", bytes: size, gate: (gate, startedContinuation)),
            TableModel(endpointID: "test/table", bytes: size),
        ]
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: models,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, memoryBudgetBytes: size + size / 2))
        let h = Harness(platform: platform, gate: gate, started: started)
        try await h.test { client in
            let held = try #require(try await client.send(.post, "/queue/test/held", json: ["seed": 1]).json["request_id"]?.stringValue)
            var runs = started.makeAsyncIterator()
            _ = await runs.next()
            // The second model cannot fit while the first one runs: its request waits for memory.
            let waiting = try #require(try await client.send(.post, "/queue/test/table", json: ["seed": 2]).json["request_id"]?.stringValue)
            _ = try await h.waitForJob(waiting) { $0.state == .running }
            #expect(try await client.send(.put, "/queue/test/table/requests/\(waiting)/cancel").status == .accepted)
            #expect(try await h.waitForJob(waiting) { $0.state.isTerminal }.state == .cancelled)
            #expect(platform.pool.residencySnapshot.models["test/table"]?.queued == 0)

            gate.open()
            #expect(try await h.waitForJob(held) { $0.state.isTerminal }.state == .completed)
            let next = try #require(try await client.send(.post, "/queue/test/table", json: ["seed": 3]).json["request_id"]?.stringValue)
            #expect(try await h.waitForJob(next) { $0.state.isTerminal }.state == .completed)
            let table = platform.pool.residencySnapshot.models["test/table"]
            #expect(table?.running == 0)
            #expect(table?.counters.loads == 1)
        }
    }
}
