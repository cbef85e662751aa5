// Encoding frames into a video file through an `ffmpeg` child process.

import Foundation

/// Writes 8-bit RGB(A) frames into an MP4 (H.264, yuv420p, `+faststart`) or WebM (VP9) file,
/// optionally with the audio of another file.
///
/// Frames go to ffmpeg's standard input as they come; nothing accumulates here. The file is
/// written under a temporary name beside `path` and renamed only when `finish()` succeeds, so
/// a failure or `cancel()` never leaves a partial output.
public final class VideoWriter {
    /// The output container and codecs.
    public enum Container: String, Sendable {
        /// MP4: H.264 (libx264), yuv420p, AAC audio, moov atom first (`+faststart`).
        case mp4
        /// WebM: VP9 (libvpx-vp9), Opus audio.
        case webm
    }

    /// Encoder settings.
    public struct Configuration: Sendable {
        /// Container and codecs.
        public var container: Container
        /// Frames per second as ffmpeg takes it: `25`, `30000/1001` (copy `VideoInfo.frameRate`).
        public var frameRate: String
        /// Constant rate factor: lower is better and bigger (H.264 default 18, VP9 default 31).
        public var quality: Int?
        /// A file whose first audio stream is muxed into the output (re-encoded), if any.
        public var audioSource: String?

        /// Settings with defaults.
        public init(container: Container = .mp4, frameRate: String, quality: Int? = nil, audioSource: String? = nil) {
            self.container = container
            self.frameRate = frameRate
            self.quality = quality
            self.audioSource = audioSource
        }
    }

    /// Frame width every frame must have.
    public let width: Int
    /// Frame height every frame must have.
    public let height: Int
    private let path: String
    private let temporaryPath: String
    private let process: Process
    private let input: FileHandle
    private let errors: TemporaryFile
    private var done = false

    /// Starts an encoder for `width` × `height` frames.
    /// - Throws: `MediaError` — `invalidArgument` for bad sizes, `io` when ffmpeg cannot start.
    public init(path: String, width: Int, height: Int, configuration: Configuration) throws {
        guard width > 0, height > 0 else { throw MediaError(.invalidArgument, "video: frame size \(width)x\(height)") }
        let ffmpeg = try FFmpeg.require(FFmpeg.ffmpegPath, "ffmpeg")
        _ = FFmpeg.ignoreBrokenPipes
        self.width = width
        self.height = height
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial").path
        errors = try TemporaryFile(suffix: ".log")
        var arguments = ["-v", "error", "-nostdin", "-y",
                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", "\(width)x\(height)",
                         "-framerate", configuration.frameRate, "-i", "pipe:0"]
        if let audio = configuration.audioSource { arguments += ["-i", audio, "-map", "0:v:0", "-map", "1:a:0?"] }
        // yuv420p needs even sides: pad odd ones by a pixel rather than fail.
        arguments += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        switch configuration.container {
        case .mp4:
            arguments += ["-c:v", "libx264", "-preset", "medium", "-crf", String(configuration.quality ?? 18),
                          "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-f", "mp4"]
        case .webm:
            arguments += ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", String(configuration.quality ?? 31), "-row-mt", "1",
                          "-pix_fmt", "yuv420p", "-c:a", "libopus", "-f", "webm"]
        }
        arguments.append(temporaryPath)
        process = Process()
        process.executableURL = URL(fileURLWithPath: ffmpeg)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardInput = pipe
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: errors.url)
        input = pipe.fileHandleForWriting
        do { try process.run() } catch {
            errors.remove()
            throw MediaError(.io, "video: could not start ffmpeg", underlying: error)
        }
    }

    /// Sends one frame to the encoder (converted to 8-bit RGB if needed).
    /// - Throws: `MediaError` — `invalidArgument` for a frame of another size, `encodingFailed`
    ///   when ffmpeg has exited (its message included); the writer is then cancelled.
    public func write(_ frame: Image) throws {
        guard !done else { throw MediaError(.invalidArgument, "video: write after finish or cancel") }
        guard frame.width == width, frame.height == height else {
            throw MediaError(.invalidArgument, "video: frame is \(frame.width)x\(frame.height), the video is \(width)x\(height)")
        }
        let rgb = try frame.converted(to: .eight).converted(toChannels: 3)
        guard case .uint8(let bytes) = rgb.samples else { return }
        do { try input.write(contentsOf: Data(bytes)) } catch {
            let message = stopAndCollect()
            throw MediaError(.encodingFailed, "video: ffmpeg stopped taking frames: \(message)", underlying: error)
        }
    }

    /// Ends the stream, waits for ffmpeg, and moves the file into place.
    /// - Throws: `MediaError` with code `encodingFailed` (ffmpeg's message included).
    public func finish() throws {
        guard !done else { throw MediaError(.invalidArgument, "video: finish after finish or cancel") }
        done = true
        try? input.close()
        process.waitUntilExit()
        defer { errors.remove() }
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw MediaError(.encodingFailed, "video: encoding failed: \(errors.text())")
        }
        guard rename(temporaryPath, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw MediaError(.io, "video: could not move the output to \(path) (errno \(errno))")
        }
    }

    /// Stops the encoder and removes everything it wrote (also done on deinit if unfinished).
    public func cancel() {
        guard !done else { return }
        _ = stopAndCollect()
    }

    private func stopAndCollect() -> String {
        done = true
        try? input.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let message = errors.text()
        errors.remove()
        try? FileManager.default.removeItem(atPath: temporaryPath)
        return message
    }

    deinit { cancel() }
}
