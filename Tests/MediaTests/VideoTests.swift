import Foundation
import Tensor
import Testing
@testable import Media

/// Needs the ffmpeg programs (Debian: `apt-get install ffmpeg`).
@Suite("Video over ffmpeg", .enabled(if: FFmpeg.isAvailable))
struct VideoTests {
    /// A scratch directory with a 1-second 64×48 10 fps H.264 clip with AAC audio.
    final class Scratch {
        let directory: URL
        let clip: String

        init(rotate: Int? = nil) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("media-video-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            clip = directory.appendingPathComponent("clip.mp4").path
            let arguments = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-t", "1",
                             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
            _ = try FFmpeg.run(FFmpeg.ffmpegPath!, arguments + [clip], failure: .io, what: "making a test clip")
            if let rotate {
                // Rotation metadata is set on a stream copy (an encode would not keep it).
                let plain = directory.appendingPathComponent("plain.mp4").path
                try FileManager.default.moveItem(atPath: clip, toPath: plain)
                _ = try FFmpeg.run(FFmpeg.ffmpegPath!, ["-v", "error", "-y", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=\(rotate)", clip],
                                   failure: .io, what: "rotating a test clip")
            }
        }

        func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    @Test("probe reports size, rate, frames, duration and audio")
    func probe() throws {
        let scratch = try Scratch()
        let info = try VideoInfo.probe(path: scratch.clip)
        #expect(info.width == 64 && info.height == 48)
        #expect(info.frameRate == "10/1" && info.framesPerSecond == 10)
        #expect(info.frameCount == 10)
        #expect(abs(info.duration - 1) < 0.05)
        #expect(info.videoCodec == "h264" && info.audioCodec == "aac")
        #expect(throws: MediaError.self) { try info.check(VideoLimits(maxDuration: 0.5)) }
        #expect(throws: MediaError.self) { try info.check(VideoLimits(maxPixels: 64 * 48 - 1)) }
        try info.check(VideoLimits())
    }

    @Test("non-video and corrupt files are rejected with a MediaError")
    func rejectsGarbage() throws {
        let scratch = try Scratch()
        let garbage = scratch.directory.appendingPathComponent("garbage.mp4").path
        #expect(FileManager.default.createFile(atPath: garbage, contents: Data((0..<4096).map { UInt8($0 * 31 & 0xFF) })))
        #expect { try VideoInfo.probe(path: garbage) } throws: { ($0 as? MediaError)?.code == .unsupportedFormat }
        let png = scratch.directory.appendingPathComponent("still.png").path
        let image = TestImages.smooth(width: 8, height: 8, channels: 3, bitDepth: .eight)
        #expect(FileManager.default.createFile(atPath: png, contents: Data(try image.encoded(as: .png()))))
        // A still image is a one-frame "video" to ffprobe: probing works, and the reader gives one frame.
        let reader = try VideoReader(path: png)
        #expect(try reader.nextFrame() == image)
        #expect(try reader.nextFrame() == nil)
    }

    @Test("reading, upscaling ×2 and writing keeps frame count, rate and audio; no temporary files remain",
          arguments: [VideoWriter.Container.mp4, .webm])
    func transcode(container: VideoWriter.Container) throws {
        let scratch = try Scratch()
        let reader = try VideoReader(path: scratch.clip)
        let output = scratch.directory.appendingPathComponent("out.\(container.rawValue)").path
        let writer = try VideoWriter(path: output, width: 128, height: 96,
                                     configuration: .init(container: container, frameRate: reader.info.frameRate, audioSource: scratch.clip))
        var count = 0
        while let frame = try reader.nextFrame() {
            #expect(frame.width == 64 && frame.height == 48 && frame.channels == 3)
            let planes = frame.tensors()
            let up = try PlaneResize.resize(planes.color, width: 128, height: 96, filter: .nearest)
            try writer.write(try Image(color: up))
            count += 1
        }
        try writer.finish()
        #expect(count == 10)
        let info = try VideoInfo.probe(path: output)
        #expect(info.width == 128 && info.height == 96)
        #expect(info.frameCount == 10 || container == .webm)  // WebM stores no frame count
        #expect(abs(info.duration - 1) < 0.1)
        #expect(info.hasAudio)
        #expect(Set(scratch.contents()) == ["clip.mp4", "out.\(container.rawValue)"])
        // The frames survive the trip (lossy, so close rather than equal).
        let again = try VideoReader(path: output)
        let first = try #require(try again.nextFrame())
        let reference = try #require(try VideoReader(path: scratch.clip).nextFrame())
        let expected = try Image(color: PlaneResize.resize(reference.tensors().color, width: 128, height: 96, filter: .nearest))
        var total = 0
        for y in 0..<96 { for x in 0..<128 { for c in 0..<3 { total += abs(first.sample(x: x, y: y, channel: c) - expected.sample(x: x, y: y, channel: c)) } } }
        #expect(Double(total) / Double(128 * 96 * 3) < 8)
    }

    @Test("cancelling leaves no output and no temporary file")
    func cancel() throws {
        let scratch = try Scratch()
        let output = scratch.directory.appendingPathComponent("cancelled.mp4").path
        let writer = try VideoWriter(path: output, width: 64, height: 48, configuration: .init(frameRate: "10"))
        let reader = try VideoReader(path: scratch.clip)
        for _ in 0..<3 { try writer.write(try #require(try reader.nextFrame())) }
        writer.cancel()
        reader.close()
        #expect(scratch.contents() == ["clip.mp4"])
        #expect(throws: MediaError.self) { try writer.write(try Image(width: 64, height: 48, channels: 3, bitDepth: .eight)) }
    }

    @Test("a frame of the wrong size is refused")
    func wrongSize() throws {
        let scratch = try Scratch()
        let writer = try VideoWriter(path: scratch.directory.appendingPathComponent("x.mp4").path, width: 64, height: 48,
                                     configuration: .init(frameRate: "10"))
        #expect { try writer.write(try Image(width: 32, height: 48, channels: 3, bitDepth: .eight)) } throws: {
            ($0 as? MediaError)?.code == .invalidArgument
        }
        writer.cancel()
    }

    @Test("a stream with damaged frame data probes but fails the decodability check")
    func damagedStream() throws {
        let scratch = try Scratch()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.clip)))
        let info = try VideoInfo.probe(path: scratch.clip)
        try info.verifyDecodable(path: scratch.clip)
        // Overwrite the start of the media data (after the `mdat` box header) with garbage.
        let mdat = try #require((0..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)] == [0x6D, 0x64, 0x61, 0x74] })
        var generator = SplitMix64(seed: 42)
        for i in (mdat + 4)..<min(mdat + 1200, bytes.count) { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let damaged = scratch.directory.appendingPathComponent("damaged.mp4").path
        #expect(FileManager.default.createFile(atPath: damaged, contents: Data(bytes)))
        let damagedInfo = try VideoInfo.probe(path: damaged)
        #expect { try damagedInfo.verifyDecodable(path: damaged) } throws: {
            ($0 as? MediaError)?.code == .corrupt && ($0 as? MediaError)?.message.contains("h264") == true
        }
    }

    @Test("rotation metadata: frames come out upright with width and height swapped")
    func rotation() throws {
        let scratch = try Scratch(rotate: 90)
        let info = try VideoInfo.probe(path: scratch.clip)
        #expect(info.rotation == 90 || info.rotation == 270)
        #expect(info.width == 48 && info.height == 64)
        let frame = try #require(try VideoReader(path: scratch.clip).nextFrame())
        #expect(frame.width == 48 && frame.height == 64)
    }

    @Test("MP4/H.264, WebM/VP9, MOV and animated GIF decode frame by frame; the probe counts their frames",
          arguments: ["mp4", "webm", "mov", "gif"])
    func containers(kind: String) throws {
        let scratch = try Scratch()
        let path = scratch.directory.appendingPathComponent("in.\(kind)").path
        var arguments = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=40x30:rate=12", "-frames:v", "12"]
        switch kind {
        case "webm": arguments += ["-c:v", "libvpx-vp9", "-deadline", "realtime"]
        case "gif": break
        default: arguments += ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
        }
        _ = try FFmpeg.run(FFmpeg.ffmpegPath!, arguments + [path], failure: .io, what: "making a \(kind) clip")
        let info = try VideoInfo.probe(path: path)
        #expect(info.frameCount == 12, "\(kind): \(info)")
        #expect(!info.isStillImage)
        try info.verifyDecodable(path: path)
        let reader = try VideoReader(path: path, info: info)
        var frames = 0
        while let frame = try reader.nextFrame() {
            #expect(frame.width == 40 && frame.height == 30)
            frames += 1
        }
        #expect(frames == 12)
    }

    @Test("a file cut short after its index is refused without decoding")
    func truncated() throws {
        let scratch = try Scratch()
        let faststart = scratch.directory.appendingPathComponent("fs.mp4").path
        _ = try FFmpeg.run(FFmpeg.ffmpegPath!, ["-v", "error", "-y", "-i", scratch.clip, "-c", "copy", "-movflags", "+faststart", faststart],
                           failure: .io, what: "faststart copy")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: faststart))
        let cut = scratch.directory.appendingPathComponent("cut.mp4").path
        #expect(FileManager.default.createFile(atPath: cut, contents: bytes.prefix(bytes.count / 2)))
        let info = try VideoInfo.probe(path: cut)
        #expect(info.declaredFrameCount == 10 && info.frameCount < 10)
        #expect { try info.verifyDecodable(path: cut) } throws: { ($0 as? MediaError)?.code == .truncated }
    }

    @Test("audio is copied when the container takes the codec, re-encoded otherwise")
    func audioCopy() throws {
        let scratch = try Scratch()
        let reader = try VideoReader(path: scratch.clip)
        var frames: [Image] = []
        while let frame = try reader.nextFrame() { frames.append(frame) }
        for (container, copies, codec) in [(VideoWriter.Container.mp4, true, "aac"), (.webm, false, "opus")] {
            let output = scratch.directory.appendingPathComponent("audio.\(container.rawValue)").path
            let writer = try VideoWriter(path: output, width: 64, height: 48,
                                         configuration: .init(container: container, frameRate: "10", audioSource: scratch.clip, audioCodec: "aac"))
            #expect(writer.copiesAudio == copies)
            for frame in frames { try writer.write(frame) }
            try writer.finish()
            #expect(try VideoInfo.probe(path: output).audioCodec == codec)
        }
    }

    @Test("an MP4 written with the source's rotation reads back with the same rotation")
    func rotationWritten() throws {
        let scratch = try Scratch(rotate: 90)
        let info = try VideoInfo.probe(path: scratch.clip)
        let reader = try VideoReader(path: scratch.clip, info: info, autorotate: false)
        #expect(reader.width == 64 && reader.height == 48)
        let output = scratch.directory.appendingPathComponent("rotated-out.mp4").path
        let writer = try VideoWriter(path: output, width: 64, height: 48, configuration: .init(frameRate: info.frameRate, rotation: info.rotation))
        while let frame = try reader.nextFrame() { try writer.write(frame) }
        try writer.finish()
        let written = try VideoInfo.probe(path: output)
        #expect(written.rotation == info.rotation && written.width == 48 && written.height == 64)
    }
}
