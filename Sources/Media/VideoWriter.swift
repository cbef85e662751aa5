// Encoding frames into a video file through an `ffmpeg` child process.

import Foundation

/// Writes 8-bit RGB(A) frames into an MP4 (H.264, yuv420p, `+faststart`) or WebM (VP9) file,
/// optionally with the audio of another file.
///
/// Frames go to ffmpeg's standard input as they come; nothing accumulates here. The file is
/// written under a temporary name beside `path` and renamed only when `finish()` succeeds, so
/// a failure or `cancel()` never leaves a partial output.
///
/// A writer is used from one thread at a time; it may be handed to another thread (an encoding
/// stage of a pipeline), hence `@unchecked Sendable`.
public final class VideoWriter: @unchecked Sendable {
    /// The output container and codecs.
    public enum Container: String, Sendable {
        /// MP4: H.264 (libx264), yuv420p, AAC audio, moov atom first (`+faststart`).
        case mp4
        /// WebM: VP9 (libvpx-vp9), Opus audio.
        case webm

        /// The MIME type of the container.
        public var mimeType: String { self == .mp4 ? "video/mp4" : "video/webm" }

        /// Whether an audio stream of `codec` (ffprobe's name) can be copied into this container
        /// unchanged: MP4 takes AAC, MP3, ALAC, AC-3, E-AC-3 and Opus; WebM only Opus and Vorbis.
        public func canCopyAudio(_ codec: String) -> Bool {
            switch self {
            case .mp4: return ["aac", "mp3", "alac", "ac3", "eac3", "opus"].contains(codec)
            case .webm: return ["opus", "vorbis"].contains(codec)
            }
        }

        /// Whether the container keeps a display-rotation tag (MP4's display matrix; ffmpeg 5.1's
        /// WebM muxer writes none, so WebM gets frames turned upright instead).
        public var keepsRotation: Bool { self == .mp4 }
    }

    /// Encoder settings.
    public struct Configuration: Sendable {
        /// Container and codecs.
        public var container: Container
        /// Frames per second as ffmpeg takes it: `25`, `30000/1001` (copy `VideoInfo.frameRate`).
        public var frameRate: String
        /// Constant rate factor: lower is better and bigger (H.264 default 18, VP9 default 31).
        public var quality: Int?
        /// A file whose first audio stream is muxed into the output, if any.
        public var audioSource: String?
        /// The codec of that audio stream (ffprobe's name): copied unchanged when the container
        /// takes it (no generation loss, no work), else re-encoded (AAC or Opus). `nil`
        /// re-encodes.
        public var audioCodec: String?
        /// Display rotation to record, in degrees as `VideoInfo.rotation` reports it (0, 90,
        /// 180, 270); only containers that `keepsRotation`.
        public var rotation: Int
        /// libx264 preset (`ultrafast` ... `veryslow`); ignored for VP9.
        public var preset: String
        /// Encoder threads (0: ffmpeg decides).
        public var threads: Int
        /// Where ffmpeg's message log goes (default: the system's temporary directory).
        public var scratchDirectory: URL?
        /// The demuxers allowed on `audioSource`, and the deadline of the rotation pass.
        public var limits: VideoLimits

        /// Settings with defaults.
        public init(container: Container = .mp4, frameRate: String, quality: Int? = nil, audioSource: String? = nil,
                    audioCodec: String? = nil, rotation: Int = 0, preset: String = "medium", threads: Int = 0,
                    scratchDirectory: URL? = nil, limits: VideoLimits = VideoLimits()) {
            self.container = container
            self.frameRate = frameRate
            self.quality = quality
            self.audioSource = audioSource
            self.audioCodec = audioCodec
            self.rotation = rotation
            self.preset = preset
            self.threads = threads
            self.scratchDirectory = scratchDirectory
            self.limits = limits
        }
    }

    /// Whether the audio stream is copied rather than re-encoded.
    public let copiesAudio: Bool

    /// Frame width every frame must have.
    public let width: Int
    /// Frame height every frame must have.
    public let height: Int
    private let path: String
    private let temporaryPath: String
    private let ffmpeg: String
    /// The `rotate` tag `finish()` records (0: none).
    private var rotationTag = 0
    private let limits: VideoLimits
    private let process: Process
    private let input: FileHandle
    private let errors: TemporaryFile
    private var done = false

    /// Starts an encoder for `width` × `height` frames.
    /// - Throws: `MediaError` — `invalidArgument` for bad sizes, `io` when ffmpeg cannot start.
    public init(path: String, width: Int, height: Int, configuration: Configuration) throws {
        guard width > 0, height > 0 else { throw MediaError(.invalidArgument, "video: frame size \(width)x\(height)") }
        let ffmpeg = try FFmpeg.require(FFmpeg.ffmpegPath, "ffmpeg")
        self.ffmpeg = ffmpeg
        _ = FFmpeg.ignoreBrokenPipes
        self.width = width
        self.height = height
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial").path
        errors = try TemporaryFile(suffix: ".log", in: configuration.scratchDirectory)
        let inputs = FFmpeg.inputOptions(configuration.limits)
        var arguments = ["-v", "error", "-nostdin", "-y", "-protocol_whitelist", "pipe",
                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", "\(width)x\(height)",
                         "-framerate", configuration.frameRate, "-i", "pipe:0"]
        var rotation = 0
        let copy = configuration.audioSource != nil && configuration.audioCodec.map(configuration.container.canCopyAudio) == true
        copiesAudio = copy
        if let audio = configuration.audioSource { arguments += inputs + ["-i", "file:" + audio, "-map", "0:v:0", "-map", "1:a:0?"] }
        // yuv420p needs even sides: pad odd ones by a pixel rather than fail.
        arguments += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        if configuration.threads > 0 { arguments += ["-threads", String(configuration.threads)] }
        switch configuration.container {
        case .mp4:
            arguments += ["-c:v", "libx264", "-preset", configuration.preset, "-crf", String(configuration.quality ?? 18),
                          "-pix_fmt", "yuv420p"]
            arguments += copy ? ["-c:a", "copy"] : ["-c:a", "aac", "-b:a", "192k"]
            rotation = ((configuration.rotation % 360) + 360) % 360
            // With a rotation to record, `finish()` remuxes the file and puts the index first then.
            arguments += (rotation == 0 ? ["-movflags", "+faststart"] : []) + ["-f", "mp4"]
        case .webm:
            arguments += ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", String(configuration.quality ?? 31), "-row-mt", "1",
                          "-pix_fmt", "yuv420p"]
            arguments += copy ? ["-c:a", "copy"] : ["-c:a", "libopus"]
            arguments += ["-f", "webm"]
        }
        arguments.append("file:" + temporaryPath)
        rotationTag = rotation
        limits = configuration.limits
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
        let rgb = frame.channels == 3 && frame.bitDepth == .eight ? frame : try frame.converted(to: .eight).converted(toChannels: 3)
        guard case .uint8(let bytes) = rgb.samples else { return }
        let fd = input.fileDescriptor
        do { try bytes.withUnsafeBytes { try PipeIO.write(fd, $0) } } catch {
            let message = stopAndCollect()
            FFmpeg.log("encoding", message)
            throw MediaError(.encodingFailed, "video: ffmpeg stopped taking frames", underlying: ProgramOutput(text: message))
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
            let message = errors.text()
            FFmpeg.log("encoding", message)
            throw MediaError(.encodingFailed, "video: encoding failed", underlying: ProgramOutput(text: message))
        }
        if rotationTag != 0 { try recordRotation() }
        guard rename(temporaryPath, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw MediaError(.io, "video: could not move the output into place (errno \(errno))")
        }
    }

    /// Rewrites the encoded file with the rotation recorded. ffmpeg 5.1 applies a stream's
    /// `rotate` tag (in ffprobe's degrees, which `VideoInfo.rotation` reports) only when it
    /// copies a stream, not when it encodes one, so this is a second pass that copies the
    /// streams (disk speed, no decoding) and puts the index first (`+faststart`).
    private func recordRotation() throws {
        let rotated = temporaryPath + ".rotated"
        do {
            _ = try FFmpeg.run(ffmpeg, ["-v", "error", "-nostdin", "-y"] + FFmpeg.inputOptions(limits)
                                + ["-i", "file:" + temporaryPath, "-map", "0", "-c", "copy",
                                   "-metadata:s:v:0", "rotate=\(rotationTag)", "-movflags", "+faststart", "-f", "mp4", "file:" + rotated],
                               failure: .encodingFailed, what: "recording the rotation", timeout: limits.processTimeout)
        } catch {
            try? FileManager.default.removeItem(atPath: rotated)
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw error
        }
        guard rename(rotated, temporaryPath) == 0 else {
            try? FileManager.default.removeItem(atPath: rotated)
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw MediaError(.io, "video: could not replace the encoded file (errno \(errno))")
        }
    }

    /// Stops the encoder and removes everything it wrote (also done on deinit if unfinished).
    public func cancel() {
        guard !done else { return }
        _ = stopAndCollect()
    }

    /// Kills the encoder at once, from any thread: a `write` blocked on a busy encoder then
    /// fails, and the thread that owns the writer cancels it. For stopping a pipeline.
    public func abort() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
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
