import Foundation
import Testing
@testable import Media

/// Videos are hostile input: playlists that name other files, inputs that block the decoder,
/// and failures whose ffmpeg messages name local paths. Needs the ffmpeg programs.
@Suite("Video: hostile inputs to ffmpeg", .enabled(if: FFmpeg.isAvailable))
struct VideoHostileInputTests {
    /// A private directory removed at the end of the test.
    final class Scratch {
        let directory: URL

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("media-hostile-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        /// A FIFO nobody writes to: opening it for reading blocks for ever.
        func fifo(_ name: String) throws -> String {
            let path = path(name)
            guard mkfifo(path, 0o600) == 0 else { throw MediaError(.io, "mkfifo failed (errno \(errno))") }
            return path
        }

        /// A 1-second 32×24 MPEG-TS clip.
        func clip(_ name: String) throws -> String {
            let path = path(name)
            _ = try FFmpeg.run(FFmpeg.ffmpegPath!, ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=10", "-t", "1",
                                                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mpegts", path],
                               failure: .io, what: "making a test clip")
            return path
        }

        deinit {
            // Unblock anything still waiting to open one of our FIFOs, then clean up.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
                let fd = open(path(name), O_WRONLY | O_NONBLOCK)
                if fd >= 0 { Foundation.close(fd) }
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Runs `body` on its own thread and waits for it at most a minute: a hang fails the test
    /// instead of stalling the suite. The wait is a hang guard, not a timing assertion.
    static func guarded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.result = Result { try body() }
            done.signal()
        }
        guard done.wait(timeout: .now() + 60) == .success else { return nil }
        return box.result
    }

    static func playlist(_ segment: String) -> Data {
        Data("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n\(segment)\n#EXT-X-ENDLIST\n".utf8)
    }

    @Test("an HLS playlist naming a local file is refused with a clean error, and the file is never opened")
    func hlsPlaylistRefused() throws {
        let scratch = try Scratch()
        // A playable segment: without the demuxer allowlist, ffprobe follows the playlist and
        // reports the segment's stream as if it were the upload.
        let segment = try scratch.clip("segment.ts")
        let playlist = scratch.path("video.m3u8")
        #expect(FileManager.default.createFile(atPath: playlist, contents: Self.playlist(segment)))
        #expect { try VideoInfo.probe(path: playlist) } throws: { error in
            guard let error = error as? MediaError else { return false }
            return error.code == .unsupportedFormat && !error.message.contains(scratch.directory.path) && !error.message.contains("/tmp")
        }
        // A segment that is a FIFO: opening it would block until the deadline, so a prompt
        // `unsupportedFormat` shows it was never opened.
        let fifo = try scratch.fifo("blocking.ts")
        let trap = scratch.path("trap.m3u8")
        #expect(FileManager.default.createFile(atPath: trap, contents: Self.playlist(fifo)))
        let outcome = Self.guarded { try VideoInfo.probe(path: trap) }
        guard case .failure(let error)? = outcome else {
            Issue.record("probing the playlist \(outcome == nil ? "hung" : "succeeded")")
            return
        }
        #expect((error as? MediaError)?.code == .unsupportedFormat)
        // The reader refuses it too (given a probe result, as a caller with one would).
        let info = try VideoInfo.probe(path: segment)
        let reader = try VideoReader(path: trap, info: info)
        #expect(throws: MediaError.self) { _ = try reader.nextFrame() }
    }

    @Test("failure messages name no local path; ffmpeg's own words stay in the underlying error")
    func messagesHoldNoPath() throws {
        let scratch = try Scratch()
        let garbage = scratch.path("upload-input")
        #expect(FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 0x5A, count: 4096)))
        do {
            _ = try VideoInfo.probe(path: garbage)
            Issue.record("garbage probed as a video")
        } catch let error as MediaError {
            #expect(error.code == .unsupportedFormat)
            #expect(!error.message.contains(scratch.directory.path) && !error.message.contains("upload-input"))
            #expect(!error.message.contains("/"))
            #expect(error.underlying is ProgramOutput)
        }
        // A reader on a valid probe result but a file that is not that video.
        let info = try VideoInfo.probe(path: try scratch.clip("real.ts"))
        let reader = try VideoReader(path: garbage, info: info)
        do {
            while try reader.nextFrame() != nil {}
            Issue.record("garbage decoded")
        } catch let error as MediaError {
            #expect(!error.message.contains(scratch.directory.path) && !error.message.contains("/tmp"))
        }
    }

    @Test("ffprobe that runs past its deadline is killed and reported as timedOut")
    func probeDeadline() throws {
        let scratch = try Scratch()
        let fifo = try scratch.fifo("stuck.mp4")
        let limits = VideoLimits(processTimeout: .milliseconds(200))
        let outcome = Self.guarded { try VideoInfo.probe(path: fifo, limits: limits) }
        guard case .failure(let error)? = outcome else {
            Issue.record("probing a FIFO \(outcome == nil ? "hung" : "succeeded")")
            return
        }
        #expect((error as? MediaError)?.code == .timedOut)
    }

    @Test("a decoder that delivers no frame before the deadline is killed and reported as timedOut")
    func readerDeadline() throws {
        let scratch = try Scratch()
        let info = try VideoInfo.probe(path: try scratch.clip("real.ts"))
        let fifo = try scratch.fifo("stuck.ts")
        let reader = try VideoReader(path: fifo, info: info, limits: VideoLimits(processTimeout: .milliseconds(200)))
        let outcome = Self.guarded { try reader.nextFrame() != nil }
        guard case .failure(let error)? = outcome else {
            Issue.record("reading a FIFO \(outcome == nil ? "hung" : "succeeded")")
            return
        }
        #expect((error as? MediaError)?.code == .timedOut)
    }

    @Test("the reader decodes no more frames than the probe counted")
    func readerStopsAtProbedFrameCount() throws {
        let scratch = try Scratch()
        let clip = try scratch.clip("real.ts")
        var info = try VideoInfo.probe(path: clip)
        #expect(info.frameCount == 10)
        info.frameCount = 4
        let reader = try VideoReader(path: clip, info: info)
        var frames = 0
        while try reader.nextFrame() != nil { frames += 1 }
        #expect(frames == 4)
    }
}

/// A result handed from a thread to a waiter: written before the semaphore is signalled and read
/// only after the wait succeeds, so the semaphore orders the accesses.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
