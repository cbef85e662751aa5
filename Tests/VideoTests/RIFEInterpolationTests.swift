import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
@testable import Models
import Tensor
import Testing

/// `peregrine/rife-interpolate` end to end with generated weights in a safetensors file.
@Suite("RIFE interpolation model", .enabled(if: FFmpeg.isAvailable))
struct RIFEInterpolationTests {
    @Test("damaged weights are weightsInvalid naming the file")
    func damagedWeights() async throws {
        let models = try VideoFixtures.directory("rife-damaged")
        defer { try? FileManager.default.removeItem(at: models) }
        let url = models.appendingPathComponent(RIFEInterpolation.weightsPath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try SafetensorsFile.write(RIFETests.weights(seed: 4), to: url)
        var bytes = try Data(contentsOf: url)
        bytes[0] = 0xFF
        try bytes.write(to: url)
        await #expect {
            _ = try await RIFEInterpolation().load(context: LoadContext(modelDirectory: models, pool: ComputePool(threads: 1)))
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.code == .weightsInvalid && error.message.contains(url.lastPathComponent)
        }
    }

    @Test("missing weights are a 503 that says where they belong")
    func missingWeights() async throws {
        let dir = try VideoFixtures.directory("rife-missing")
        defer { try? FileManager.default.removeItem(at: dir) }
        await #expect { _ = try await RIFEInterpolation().load(context: LoadContext(modelDirectory: dir, pool: ComputePool(threads: 1))) } throws: {
            ($0 as? ModelError)?.status == 503 && ($0 as? ModelError)?.message.contains(RIFEInterpolation.weightsPath) == true
        }
    }

    @Test("12 frames at 12 fps become 23 frames at 24 fps with the audio kept")
    func doublesFrameRate() async throws {
        let dir = try VideoFixtures.directory("rife")
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models.appendingPathComponent("rife"), withIntermediateDirectories: true)
        try SafetensorsFile.write(RIFETests.weights(seed: 4), to: models.appendingPathComponent(RIFEInterpolation.weightsPath))
        let loaded = try await RIFEInterpolation(configuration: .init(scratchDirectory: dir.appendingPathComponent("scratch")))
            .load(context: LoadContext(modelDirectory: models, pool: ComputePool(threads: 2)))
        let clip = try VideoFixtures.clip("mp4", in: dir)
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"))
        let out = try await loaded.run(input: ["video_url": .string(clip)], context: ctx)
        let path = try VideoUpscaleTests.outputPath(out)
        let probed = try ProbedOutput(path: path)
        #expect(probed.frames == 23 && probed.width == 64 && probed.height == 48)
        #expect(probed.audioCodec == "aac")
        #expect(try VideoInfo.probe(path: path).framesPerSecond == 24)
        #expect(out["video"]?["frame_count"]?.intValue == 23)
        #expect(ctx.progressReports.count == 12)
        #expect(VideoFixtures.contents(dir.appendingPathComponent("scratch")).isEmpty)
    }
}
