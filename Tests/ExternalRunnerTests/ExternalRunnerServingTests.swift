import Crypto
import ExternalRunners
import Foundation
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import Platform
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Models served by separate runner processes, end to end through the queue API.
@Suite("External runners: serving")
struct ExternalRunnerServingTests {
    @Test("the shipped numpy Mandelbrot runner: progress is visible, the PNG is real and served")
    func mandelbrot() async throws {
        let models = try ExternalRunnerManifests.load(directory: RunnerFixtures.root.appendingPathComponent("python/examples"))
        let model = try #require(models.first { $0.manifest.endpointID == "examples/mandelbrot" })
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "examples/mandelbrot", ["width": 256, "height": 160, "max_iterations": 300])
            let progress = NIOLockedValueBox<[ModelKit.Progress]>([])
            let job = try await server.waitForJob(id, progress: progress) { $0.state.isTerminal }
            #expect(job.state == .completed, "\(String(decoding: job.result?.body ?? Data(), as: UTF8.self))")
            #expect(!progress.withLockedValue({ $0 }).isEmpty, "progress reports reach the platform while the runner works")
            #expect(progress.withLockedValue({ $0 }).allSatisfy { ($0.fraction ?? -1) > 0 && ($0.fraction ?? 2) <= 1 })

            let result = try await server.get(client, "/queue/examples/mandelbrot/requests/\(id)")
            let image = try #require(result["image"])
            #expect(image["content_type"] == "image/png")
            #expect(image["width"] == 256)
            #expect(image["height"] == 160)
            let inside = try #require(result["inside_fraction"]?.doubleValue)
            #expect(inside > 0.05 && inside < 0.6, "part of the default view lies inside the set")

            let url = try #require(image["url"]?.stringValue)
            let file = try #require(try await server.platform.files.storedFile(at: url))
            #expect(file.data.count == image["file_size"]?.intValue.map(Int.init))
            #expect(Array(file.data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            // IHDR: width and height, big-endian, at bytes 16..<24.
            let header = Array(file.data[16..<24])
            #expect(header == [0, 0, 1, 0, 0, 0, 0, 160])

            let logs = try await server.store.logs(id: id)
            #expect(logs.contains { $0.message.contains("rendered 256x160") })
        }
        await model.shutdown()
    }

    @Test("file inputs are fetched by the platform and handed over; output files become URLs")
    func files() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        let bytes = Data((0..<5000).map { UInt8($0 % 251) })
        try await server.test { client in
            let echo = try await server.submit(client, "test/fault", [
                "mode": "echo", "text": "hello", "image_url": .string("data:image/png;base64,\(bytes.base64EncodedString())"),
            ])
            let job = try await server.waitForJob(echo) { $0.state.isTerminal }
            #expect(job.state == .completed)
            let out = try await server.get(client, "/queue/test/fault/requests/\(echo)")
            #expect(out["text"] == "hello")
            #expect(out["image"]?["size"] == 5000)
            #expect(out["image"]?["content_type"] == "image/png")
            #expect(out["image"]?["sha256"]?.stringValue == sha256Hex(bytes))

            let file = try await server.submit(client, "test/fault", ["mode": "file", "text": "written by the runner"])
            #expect(try await server.waitForJob(file) { $0.state.isTerminal }.state == .completed)
            let stored = try await server.get(client, "/queue/test/fault/requests/\(file)")
            #expect(stored["file"]?["content_type"] == "text/plain")
            #expect(stored["file"]?["file_name"] == "out.txt")
            #expect(stored["file"]?["lines"] == 1, "extra members of the reference are kept")
            let url = try #require(stored["file"]?["url"]?.stringValue)
            let blob = try #require(try await server.platform.files.storedFile(at: url))
            #expect(String(decoding: blob.data, as: UTF8.self) == "written by the runner")
        }
        await model.shutdown()
    }

    @Test("a runner's own error reaches the caller with its error_type, status and field")
    func runnerError() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/fault", ["mode": "fail"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.status == 422)
            #expect(job.result?.errorType == "invalid_input")
            #expect(job.result?.errorMessage == "text must not be empty")
        }
        await model.shutdown()
    }

    @Test("stopping the model ends its runner process")
    func shutdownStopsProcess() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let loaded = try await model.load(context: LoadContext(modelDirectory: marks, compute: ComputeResources(threads: 1, handle: NoComputePool())))
        #expect(loaded.footprintBytes >= 1 << 20, "at least what setup reported")
        let pid = try #require(await model.status()?.pid)
        #expect(kill(pid, 0) == 0)
        await model.shutdown()
        #expect(kill(pid, 0) != 0, "the process is gone (and reaped) once shutdown returns")
        #expect(await model.status() == nil)
    }

    @Test("an idle runner is stopped when its model is unloaded after the keep-alive, and started again on demand")
    func evictionStopsRunner() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model], keepAlive: 0.2)
        try await server.test { client in
            let first = try await server.submit(client, "test/fault", ["mode": "echo"])
            #expect(try await server.waitForJob(first) { $0.state.isTerminal }.state == .completed)
            let pid = Int32(try #require(try await server.get(client, "/queue/test/fault/requests/\(first)")["pid"]?.intValue))
            let gone = await RunnerFixtures.eventually { kill(pid, 0) != 0 }
            #expect(gone, "the unloaded model's process ended")

            let second = try await server.submit(client, "test/fault", ["mode": "echo"])
            #expect(try await server.waitForJob(second) { $0.state.isTerminal }.state == .completed)
            let again = try await server.get(client, "/queue/test/fault/requests/\(second)")["pid"]?.intValue
            #expect(again != nil && again != Int64(pid))
        }
        await model.shutdown()
    }

    @Test("one runner serves max_concurrency requests at once")
    func concurrentRequests() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks, extra: ["max_concurrency": 2]))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let a = try await server.submit(client, "test/fault", ["mode": "wait"])
            let b = try await server.submit(client, "test/fault", ["mode": "wait"])
            // Both are inside the same process's predict at once, each waiting for its cancel.
            let both = await RunnerFixtures.eventually { RunnerFixtures.marks(in: marks).filter { $0.hasPrefix("waiting-") }.count == 2 }
            #expect(both)
            #expect(await model.status()?.starts == 1)
            for id in [a, b] {
                _ = try await client.execute(uri: "/queue/test/fault/requests/\(id)/cancel", method: .put, headers: [:], body: nil)
            }
            for id in [a, b] {
                #expect(try await server.waitForJob(id) { $0.state.isTerminal }.state == .cancelled)
            }
            #expect(RunnerFixtures.marks(in: marks).filter { $0.hasPrefix("cancelled-") }.count == 2)
        }
        await model.shutdown()
    }
}

/// Lowercase hex sha256.
private func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// External runners compute in their own processes: they never touch the engine's pool.
private final class NoComputePool: Sendable {}
