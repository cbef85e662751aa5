import Foundation
import JobQueue
import Media
import ModelKit
import Models
import Runners
import Server
import Testing

/// `<repo>/.peregrine-test/models`, where the engine tests keep the pulled weights.
private let testModelDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".peregrine-test/models")

/// A deterministic RGB PNG as a data URI.
private func pngDataURI(width: Int, height: Int) throws -> String {
    var bytes = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 13) }
    let image = try Image(width: width, height: height, channels: 3, samples: .uint8(bytes))
    return "data:image/png;base64," + Data(try image.encoded(as: .png())).base64EncodedString()
}

@Suite("Cancellation reaches a running real model")
struct RealModelCancellationTests {
    static var weightsPresent: Bool {
        FileManager.default.fileExists(
            atPath: testModelDirectory.appendingPathComponent("realesr-animevideov3/realesr-animevideov3-x4.param").path)
    }

    @Test(
        "cancelling realesr-animevideov3 mid-image ends the request cancelled within one tile, before the last tile",
        .enabled(if: weightsPresent, "realesr-animevideov3 weights are not in .peregrine-test/models"))
    func cancelMidRun() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [RealESRAnimeVideoV3()],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, threads: 2),
            modelsDirectory: testModelDirectory)
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        let endpoint = "peregrine/realesr-animevideov3"
        try await h.test { client in
            // 512x512 in 128-pixel tiles: 16 tiles.
            let input: JSONValue = ["image_url": .string(try pngDataURI(width: 512, height: 512)), "scale": 2, "tile_size": 128]
            let id = try #require(try await client.send(.post, "/queue/\(endpoint)", json: input).json["request_id"]?.stringValue)
            var updates = platform.hub.changes(of: id, includingProgress: true).makeAsyncIterator()
            var stepAtCancel: Int?
            var highest = 0
            var total = 0
            while true {
                if let p = platform.hub.progress(of: id), let step = p.step {
                    highest = max(highest, step)
                    total = p.total ?? total
                    if stepAtCancel == nil && step >= 2 {
                        #expect(try await client.send(.put, "/queue/\(endpoint)/requests/\(id)/cancel").status == .accepted)
                        // The tile running when the cancellation was recorded.
                        stepAtCancel = max(step, platform.hub.progress(of: id)?.step ?? step)
                        highest = max(highest, stepAtCancel ?? 0)
                    }
                }
                if try await platform.store.job(id: id)?.state.isTerminal == true { break }
                guard await updates.next() != nil else { break }
            }
            let job = try await h.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .cancelled)
            #expect(job.result?.errorType == "request_cancelled")
            let status = try await client.send(.get, "/queue/\(endpoint)/requests/\(id)/status").json
            #expect(status["status"]?.stringValue == "COMPLETED")
            #expect(status["error_type"]?.stringValue == "request_cancelled")
            let cancelledAt = try #require(stepAtCancel)
            #expect(total == 16)
            // The tile running when the cancel arrived finishes; no further tile starts.
            #expect(highest <= cancelledAt + 1, "cancelled at tile \(cancelledAt), reached tile \(highest) of \(total)")
            #expect(highest < total)
            // The slot is free: the model serves the next request.
            let small: JSONValue = ["image_url": .string(try pngDataURI(width: 32, height: 32)), "scale": 2]
            let next = try #require(try await client.send(.post, "/queue/\(endpoint)", json: small).json["request_id"]?.stringValue)
            #expect(try await h.waitForJob(next) { $0.state.isTerminal }.state == .completed)
            #expect(platform.pool.residencySnapshot.models[endpoint]?.running == 0)
        }
    }
}
