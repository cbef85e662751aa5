// Finding and running the ffmpeg programs.
//
// Video goes through the `ffmpeg`/`ffprobe` programs over pipes rather than libavformat and
// libavcodec linked in:
// - isolation: libavcodec is a very large C attack surface (hundreds of decoders and demuxers,
//   a steady stream of CVEs on crafted files). Uploaded videos are hostile input; a decoder crash,
//   hang or runaway allocation then ends or stalls a child process we can kill, not the server
//   with every other job in it.
// - no ABI coupling: libav* change their ABI every major release (Debian 12 ships 5.1, 13 ships
//   7.1); talking to the program over its stable command line works with any of them, and the
//   codecs are whatever the distribution's build enables (x264, libvpx, libaom, ...).
// - the program already does what a pipeline needs: autorotation, audio stream copy or
//   re-encode, muxing with `+faststart`, encoder threading.
// The cost is one copy of each raw frame through a pipe, read straight into the frame's buffer.
// bench/video measures it (`pipe_cost`, three runs on a busy 2-core machine): 120 frames of
// 854x480 H.264 decoded into this process took 0.96-1.51 s against 0.52-1.00 s for ffmpeg
// decoding and converting them to /dev/null: 2-4 ms per 1.2 MB frame (90-150 MiB/s), while
// realesr-animevideov3 x2 spends seconds on each such frame, so well under 1% of a job.

import Foundation

/// Where the ffmpeg programs are.
public enum FFmpeg {
    /// The `ffmpeg` program: `$PEREGRINE_FFMPEG`, else the first `ffmpeg` on `$PATH`.
    public static var ffmpegPath: String? { locate("ffmpeg", override: "PEREGRINE_FFMPEG") }
    /// The `ffprobe` program: `$PEREGRINE_FFPROBE`, else the first `ffprobe` on `$PATH`.
    public static var ffprobePath: String? { locate("ffprobe", override: "PEREGRINE_FFPROBE") }
    /// Whether both programs are installed.
    public static var isAvailable: Bool { ffmpegPath != nil && ffprobePath != nil }

    static func locate(_ name: String, override: String) -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment[override], FileManager.default.isExecutableFile(atPath: path) { return path }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func require(_ path: String?, _ name: String) throws -> String {
        guard let path else {
            throw MediaError(.unsupportedFeature, "video: the \(name) program is not installed (Debian: apt-get install ffmpeg)")
        }
        return path
    }

    /// Runs a program to completion and returns its standard output; a non-zero exit throws with
    /// the program's standard error in the message.
    static func run(_ executable: String, _ arguments: [String], failure: MediaError.Code, what: String) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = try TemporaryFile(suffix: ".log")
        defer { errors.remove() }
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errors.url)
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw MediaError(.io, "video: could not start \(executable)", underlying: error)
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw MediaError(failure, "video: \(what): \(errors.text())")
        }
        return data
    }

    /// Writing to a pipe whose reader has exited raises SIGPIPE, whose default action ends the
    /// whole process; a dead ffmpeg must surface as an error instead. Done once per process.
    static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN); return () }()
}

/// A file for a child's standard error: files never fill up and block the child, as a pipe
/// that nobody drains would.
struct TemporaryFile {
    let url: URL

    /// - Parameter directory: where to create it (default: the system's temporary directory).
    init(suffix: String, in directory: URL? = nil) throws {
        url = (directory ?? FileManager.default.temporaryDirectory).appendingPathComponent("peregrine-\(UUID().uuidString)\(suffix)")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw MediaError(.io, "video: could not create \(url.path)")
        }
    }

    /// The last 2,000 characters, trimmed: enough to name the problem.
    func text() -> String {
        let data = (try? Data(contentsOf: url)) ?? Data()
        let text = String(decoding: data.suffix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no message" : text
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Whole-buffer reads and writes on a pipe's file descriptor, straight into and out of frame
/// buffers: the one copy the pipe costs, and no other (no intermediate `Data`).
enum PipeIO {
    /// Reads until `count` bytes or end of file; returns the bytes read.
    /// - Throws: `MediaError` `.io` on a read error other than an interrupted call.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let n = Foundation.read(fd, buffer.baseAddress! + done, count - done)
            if n > 0 { done += n; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw MediaError(.io, "video: reading frames from ffmpeg failed (errno \(errno))")
        }
        return done
    }

    /// Writes all of `bytes`.
    /// - Throws: `MediaError` `.io` when the reader has gone (EPIPE) or another write error.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n >= 0 { done += n; continue }
            if errno == EINTR { continue }
            throw MediaError(.io, "video: writing frames to ffmpeg failed (errno \(errno))")
        }
    }
}
