import Foundation
import JobQueue
import Media
import ModelKit
import Models
import Platform
import Runners
import Server
import TestSupport
import Testing
import Weights

/// `<repo>/.peregrine-test/server-models`: this suite pulls its own copy of the weights (kept
/// between runs), apart from the engine tests' directory, so the two never write the same
/// files at once and the test runs on a fresh clone too.
private let testModelDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".peregrine-test/server-models")

/// A deterministic RGB PNG as a data URI.
private func pngDataURI(width: Int, height: Int) throws -> String {
    var bytes = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 13) }
    let image = try Image(width: width, height: height, channels: 3, samples: .uint8(bytes))
    return "data:image/png;base64," + Data(try image.encoded(as: .png())).base64EncodedString()
}

/// Wraps a model so that its run stops at a checkpoint: when the model reports progress step
/// `pauseAt`, the run waits until the test has recorded the cancellation. Without it the test
/// races the model, which on a fast or idle machine finishes every tile before the cancel lands.
private struct CheckpointModel: Model {
    let wrapped: any Model
    let checkpoint: Checkpoint
    var manifest: ModelManifest { wrapped.manifest }

    func load(context: LoadContext) async throws -> any LoadedModel {
        Loaded(wrapped: try await wrapped.load(context: context), checkpoint: checkpoint)
    }

    private struct Loaded: LoadedModel {
        let wrapped: any LoadedModel
        let checkpoint: Checkpoint
        var footprintBytes: Int { wrapped.footprintBytes }
        func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
            try await wrapped.run(input: input, context: CheckpointContext(wrapped: context, checkpoint: checkpoint))
        }
    }
}

/// The pause point of a `CheckpointModel` and what the model reported.
/// `@unchecked Sendable`: `steps` is only touched under `lock`.
private final class Checkpoint: @unchecked Sendable {
    let pauseAt: Int
    private let resume = DispatchSemaphore(value: 0)
    private let (reachedStream, reached) = AsyncStream<Int>.makeStream()
    private let lock = NSLock()
    private var steps: [Int] = []

    init(pauseAt: Int) { self.pauseAt = pauseAt }

    /// Called on the model's compute thread (never a cooperative one), so blocking is safe; the
    /// hang guard only ends a test that failed before resuming it.
    func reportAndMaybeWait(step: Int) {
        lock.withLock { steps.append(step) }
        guard step == pauseAt else { return }
        reached.yield(step)
        _ = resume.wait(timeout: .now() + 300)
    }

    /// Waits until the model is parked at `pauseAt`.
    func waitUntilReached() async -> Bool {
        for await _ in reachedStream { return true }
        return false
    }

    /// Lets the parked model go on.
    func proceed() { resume.signal() }

    /// Every step the model reported, in order.
    var reported: [Int] { lock.withLock { steps } }
}

private struct CheckpointContext: RunContext {
    let wrapped: RunContext
    let checkpoint: Checkpoint
    func progress(_ progress: ModelKit.Progress) {
        wrapped.progress(progress)
        if let step = progress.step, progress.fraction != 1 { checkpoint.reportAndMaybeWait(step: step) }
    }
    func log(_ message: String, level: LogLevel) { wrapped.log(message, level: level) }
    var isCancelled: Bool { wrapped.isCancelled }
    func fetch(_ url: String, field: String) async throws -> FetchedFile { try await wrapped.fetch(url, field: field) }
    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        try await wrapped.store(data, contentType: contentType, fileName: fileName)
    }
}

@Suite("Cancellation reaches a running real model")
struct RealModelCancellationTests {
    @Test("cancelling realesr-animevideov3 mid-image ends the request cancelled within the running tile")
    func cancelMidRun() async throws {
        // The published weights, pulled and verified (a download only on the first run).
        _ = try await ModelPuller(modelDirectory: testModelDirectory).pull(WeightsCatalog.realESRAnimeVideoV3)
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        // The model parks at tile 2 until the cancel is recorded: the outcome cannot depend on
        // how fast this machine runs the remaining tiles.
        let checkpoint = Checkpoint(pauseAt: 2)
        defer { checkpoint.proceed() }
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [CheckpointModel(wrapped: try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")), checkpoint: checkpoint)],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, threads: 2),
            modelsDirectory: testModelDirectory)
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        let endpoint = "peregrine/realesr-animevideov3"
        try await h.test { client in
            // 512x512 in 128-pixel tiles: 16 tiles.
            let input: JSONValue = ["image_url": .string(try pngDataURI(width: 512, height: 512)), "scale": 2, "tile_size": 128]
            let id = try #require(try await client.send(.post, "/queue/\(endpoint)", json: input).json["request_id"]?.stringValue)
            #expect(await checkpoint.waitUntilReached())
            #expect(platform.hub.progress(of: id)?.step == 2)
            #expect(platform.hub.progress(of: id)?.total == 16)
            #expect(try await client.send(.put, "/queue/\(endpoint)/requests/\(id)/cancel").status == .accepted)
            // The cancellation is recorded (and the running job told); now the model may go on.
            checkpoint.proceed()
            let job = try await h.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .cancelled)
            #expect(job.result?.errorType == "request_cancelled")
            let status = try await client.send(.get, "/queue/\(endpoint)/requests/\(id)/status").json
            #expect(status["status"]?.stringValue == "COMPLETED")
            #expect(status["error_type"]?.stringValue == "request_cancelled")
            // The tile running when the cancel arrived stops at its next layer; no further tile starts.
            #expect(checkpoint.reported == [1, 2])
            // The slot is free: the model serves the next request.
            let small: JSONValue = ["image_url": .string(try pngDataURI(width: 32, height: 32)), "scale": 2]
            let next = try #require(try await client.send(.post, "/queue/\(endpoint)", json: small).json["request_id"]?.stringValue)
            #expect(try await h.waitForJob(next) { $0.state.isTerminal }.state == .completed)
            #expect(platform.pool.residencySnapshot.models[endpoint]?.running == 0)
        }
    }
}
