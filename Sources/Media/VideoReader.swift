// Decoding a video's frames through an `ffmpeg` child process.

import Foundation

/// Reads a video's frames, upright (rotation applied), as 8-bit RGB images, one at a time.
///
/// ffmpeg decodes in a child process and writes raw RGB frames into a pipe; at most one frame
/// (plus the pipe's buffer) is in memory here whatever the video's length. Not thread-safe:
/// use a reader from one task at a time.
public final class VideoReader {
    /// What the file holds.
    public let info: VideoInfo
    private let process: Process
    private let frames: FileHandle
    private let errors: TemporaryFile
    private let frameBytes: Int
    private var finished = false

    /// Starts decoding `path`.
    /// - Parameters:
    ///   - path: the video file.
    ///   - info: a probe result, when the caller already has one.
    /// - Throws: `MediaError` from probing, or `io` when ffmpeg cannot start.
    public init(path: String, info: VideoInfo? = nil) throws {
        let ffmpeg = try FFmpeg.require(FFmpeg.ffmpegPath, "ffmpeg")
        let info = try info ?? VideoInfo.probe(path: path)
        self.info = info
        frameBytes = info.width * info.height * 3
        errors = try TemporaryFile(suffix: ".log")
        process = Process()
        process.executableURL = URL(fileURLWithPath: ffmpeg)
        // One output frame per decoded frame (no duplication or dropping to a constant rate).
        process.arguments = ["-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
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
    /// - Throws: `MediaError` with code `corrupt` when ffmpeg fails (its message included, e.g.
    ///   a codec it cannot decode) or the stream ends inside a frame.
    public func nextFrame() throws -> Image? {
        if finished { return nil }
        var buffer = [UInt8]()
        buffer.reserveCapacity(frameBytes)
        while buffer.count < frameBytes {
            let chunk = try frames.read(upToCount: frameBytes - buffer.count) ?? Data()
            if chunk.isEmpty { break }
            buffer.append(contentsOf: chunk)
        }
        if buffer.count == frameBytes {
            return Image(uncheckedWidth: info.width, height: info.height, channels: 3, samples: .uint8(buffer))
        }
        finished = true
        process.waitUntilExit()
        defer { errors.remove() }
        if process.terminationStatus != 0 {
            throw MediaError(.corrupt, "video: decoding failed (\(info.videoCodec) in \(info.container)): \(errors.text())")
        }
        if !buffer.isEmpty {
            throw MediaError(.truncated, "video: the stream ended inside a frame (\(buffer.count) of \(frameBytes) bytes)")
        }
        return nil
    }

    /// Stops decoding and ends the child process (also done on deinit).
    public func close() {
        if process.isRunning { process.terminate() }
        if !finished {
            finished = true
            try? frames.close()
            process.waitUntilExit()
            errors.remove()
        }
    }

    deinit { close() }
}
