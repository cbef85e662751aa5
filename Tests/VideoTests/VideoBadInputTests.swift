import Foundation
import Kernels
import Media
import ModelKit
@testable import Models
import Testing

/// Unusable inputs are refused with a 422 before any frame reaches a network: no progress is
/// reported, nothing is stored and no scratch file is left.
@Suite("Video upscale bad input", .enabled(if: FFmpeg.isAvailable))
struct VideoBadInputTests {
    /// Runs the model on `data` and returns the ModelError it throws, checking that no compute
    /// happened.
    static func rejection(_ data: Data, configuration: VideoUpscaleConfiguration = .init()) async throws -> ModelError? {
        let dir = try VideoFixtures.directory("bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("input.bin")
        try data.write(to: input)
        var configuration = configuration
        configuration.scratchDirectory = dir.appendingPathComponent("scratch")
        try await VideoFixtures.ensureWeights()
        let loaded = try await VideoUpscale(configuration: configuration)
            .load(context: LoadContext(modelDirectory: VideoFixtures.modelDirectory, pool: ComputePool(threads: 1)))
        let ctx = try FileRunContext(outputDirectory: dir.appendingPathComponent("out"))
        var caught: ModelError?
        do { _ = try await loaded.run(input: ["video_url": .string(input.path)], context: ctx) } catch let error as ModelError {
            caught = error
        }
        #expect(ctx.progressReports.isEmpty, "no frame was processed")
        #expect(ctx.stored.isEmpty)
        #expect(VideoFixtures.contents(dir.appendingPathComponent("scratch")).isEmpty)
        return caught
    }

    static func clipData(frames: Int = 12, extra: [String] = []) throws -> Data {
        let dir = try VideoFixtures.directory("bad-clip")
        defer { try? FileManager.default.removeItem(at: dir) }
        return try Data(contentsOf: URL(fileURLWithPath: try VideoFixtures.clip("mp4", in: dir, frames: frames, extra: extra)))
    }

    @Test("random bytes, text and an empty file are not videos")
    func notVideo() async throws {
        var generator = SystemRandomNumberGenerator()
        let inputs = [Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) }),
                      Data("just some text, certainly not a video\n".utf8), Data()]
        for data in inputs {
            let error = try await Self.rejection(data)
            #expect(error?.status == 422 && error?.field == ["body", "video_url"], "\(String(describing: error))")
        }
    }

    @Test("a still image is not a video")
    func stillImage() async throws {
        let image = try Image(width: 16, height: 16, channels: 3, samples: .uint8([UInt8](repeating: 90, count: 16 * 16 * 3)))
        let error = try await Self.rejection(Data(try image.encoded(as: .png())))
        #expect(error?.status == 422 && error?.message.contains("still image") == true, "\(String(describing: error))")
    }

    @Test("a truncated file is refused, whether its index comes first or last",
          arguments: [["-movflags", "+faststart"], []])
    func truncated(extra: [String]) async throws {
        let whole = try Self.clipData(frames: 48, extra: extra)
        let error = try await Self.rejection(whole.prefix(whole.count / 2))
        #expect(error?.status == 422, "\(String(describing: error))")
    }

    @Test("a stream with damaged frame data is refused and the codec is named")
    func damaged() async throws {
        var bytes = [UInt8](try Self.clipData(extra: ["-movflags", "+faststart"]))
        let mdat = try #require((0..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)] == [0x6D, 0x64, 0x61, 0x74] })
        for i in (mdat + 4)..<min(mdat + 1500, bytes.count) { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        let error = try await Self.rejection(Data(bytes))
        #expect(error?.status == 422 && error?.message.contains("h264") == true, "\(String(describing: error))")
    }

    @Test("limits on duration, frame size and file size are 422s naming the limit")
    func limits() async throws {
        let clip = try Self.clipData()
        let long = try await Self.rejection(clip, configuration: .init(limits: VideoLimits(maxDuration: 0.5)))
        #expect(long?.status == 422 && long?.message.contains("longer than") == true)
        let big = try await Self.rejection(clip, configuration: .init(limits: VideoLimits(maxPixels: 32 * 32)))
        #expect(big?.status == 422 && big?.message.contains("pixels") == true)
        let heavy = try await Self.rejection(clip, configuration: .init(maxFileBytes: 1000))
        #expect(heavy?.status == 422 && heavy?.message.contains("bytes") == true)
        let output = try await Self.rejection(clip, configuration: .init(maxOutputPixels: 100 * 100))
        #expect(output?.status == 422 && output?.field == ["body", "scale"])
    }

    @Test("a codec ffmpeg cannot decode is refused and named by its tag")
    func unknownCodec() async throws {
        var bytes = [UInt8](try Self.clipData(extra: ["-movflags", "+faststart"]))
        // Rename the sample entry `avc1` in the `stsd` box to a codec nobody knows.
        let stsd = try #require((0..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)] == Array("stsd".utf8)[...] })
        let entry = try #require((stsd..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)] == Array("avc1".utf8)[...] })
        bytes.replaceSubrange(entry..<(entry + 4), with: Array("zzz9".utf8))
        let error = try await Self.rejection(Data(bytes))
        #expect(error?.status == 422 && error?.message.contains("zzz9") == true, "\(String(describing: error))")
    }
}
