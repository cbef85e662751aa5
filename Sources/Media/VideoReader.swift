// Decoding a video's frames through an `ffmpeg` child process.

import Foundation

/// Reads a video's frames as 8-bit RGB images, one at a time.
///
/// ffmpeg decodes in a child process and writes raw RGB frames into a pipe, which this reads
/// straight into each frame's buffer; at most one frame (plus the pipe's buffer) is in memory
/// here whatever the video's length.
///
/// A reader is used from one thread at a time; it may be handed to another thread (a decoding
/// stage of a pipeline), hence `@unchecked Sendable`.
public final class VideoReader: @unchecked Sendable {
    /// What the file holds.
    public let info: VideoInfo
    /// Width of the frames delivered: display width when autorotating, else the coded width.
    public let width: Int
    /// Height of the frames delivered.
    public let height: Int
    private let process: Process
    private let frames: FileHandle
    private let errors: TemporaryFile
    private let frameBytes: Int
    private let frameTimeout: Duration
    private var finished = false

    /// Starts decoding `path`.
    /// - Parameters:
    ///   - path: the video file.
    ///   - info: a probe result, when the caller already has one.
    ///   - autorotate: deliver frames turned upright by the rotation metadata (the default), or
    ///     as stored, for a caller that writes the rotation metadata back into its output.
    ///   - scratchDirectory: where ffmpeg's message log goes (default: the system's temporary
    ///     directory); it is removed when the reader finishes or closes.
    ///   - limits: the demuxers allowed, and how long to wait for each frame before the decoder
    ///     is killed (`processTimeout`).
    /// - Throws: `MediaError` from probing, `invalidArgument` for a frame size that does not fit
    ///   in memory, or `io` when ffmpeg cannot start.
    public init(path: String, info: VideoInfo? = nil, autorotate: Bool = true, scratchDirectory: URL? = nil,
                limits: VideoLimits = VideoLimits()) throws {
        let ffmpeg = try FFmpeg.require(FFmpeg.ffmpegPath, "ffmpeg")
        let info = try info ?? VideoInfo.probe(path: path, limits: limits)
        self.info = info
        width = autorotate ? info.width : info.codedWidth
        height = autorotate ? info.height : info.codedHeight
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard width > 0, height > 0, !overflow, pixels <= Int.max / 3 else {
            throw MediaError(.invalidArgument, "video: frame size \(width)x\(height)")
        }
        frameBytes = pixels * 3
        frameTimeout = limits.processTimeout
        errors = try TemporaryFile(suffix: ".log", in: scratchDirectory)
        process = Process()
        process.executableURL = URL(fileURLWithPath: ffmpeg)
        // One output frame per decoded frame (no duplication or dropping to a constant rate), and
        // no more frames than the probe counted: a stream that claims more is not decoded on.
        process.arguments = ["-v", "error", "-nostdin"] + (autorotate ? [] : ["-noautorotate"]) + FFmpeg.inputOptions(limits)
            + ["-i", "file:" + path, "-map", "0:v:0", "-fps_mode", "passthrough", "-frames:v", String(max(1, info.frameCount)),
               "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = try FileHandle(forWritingTo: errors.url)
        process.standardInput = FileHandle.nullDevice
        frames = pipe.fileHandleForReading
        do { try process.run() } catch {
            errors.remove()
            throw MediaError(.io, "video: could not start ffmpeg", underlying: error)
        }
    }

    /// The next frame, or `nil` after the last one.
    /// - Throws: `MediaError` with code `corrupt` when ffmpeg fails (its message goes to the log
    ///   and `underlying`), `truncated` when the stream ends inside a frame, `timedOut` when no
    ///   frame arrives within `limits.processTimeout` (the decoder is killed).
    public func nextFrame() throws -> Image? {
        if finished { return nil }
        let fd = frames.fileDescriptor
        var got = 0
        var readError: Error?
        let buffer = [UInt8](unsafeUninitializedCapacity: frameBytes) { storage, initialized in
            do {
                got = try PipeIO.read(fd, into: UnsafeMutableRawBufferPointer(storage), count: frameBytes,
                                      deadline: ContinuousClock.now + frameTimeout)
            } catch { readError = error }
            // Bytes past `got` are never read: a short frame is an error below.
            initialized = got
        }
        if let readError {
            abort()
            close()
            throw readError
        }
        if got == frameBytes {
            return Image(uncheckedWidth: width, height: height, channels: 3, samples: .uint8(buffer))
        }
        finished = true
        try? frames.close()
        process.waitUntilExit()
        defer { errors.remove() }
        if process.terminationStatus != 0 {
            let message = errors.text()
            FFmpeg.log("decoding \(info.videoCodec) in \(info.container)", message)
            throw MediaError(.corrupt, "video: decoding failed (\(info.videoCodec) in \(info.container))", underlying: ProgramOutput(text: message))
        }
        if got > 0 {
            throw MediaError(.truncated, "video: the stream ended inside a frame (\(got) of \(frameBytes) bytes)")
        }
        return nil
    }

    /// Stops decoding and ends the child process (also done on deinit).
    public func close() {
        guard !finished else { return }
        finished = true
        // Closing the pipe first makes a blocked ffmpeg fail its write at once (EPIPE); a
        // SIGTERM alone may be retried away inside a blocked write.
        try? frames.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        errors.remove()
    }

    /// Kills the decoder at once, from any thread: a `nextFrame` blocked on a slow or hung
    /// decoder then returns (with an error), and the thread that owns the reader closes it.
    public func abort() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { close() }
}
