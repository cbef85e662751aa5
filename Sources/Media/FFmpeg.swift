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

    /// Options that go before every `-i` of a file that came from outside: files and pipes only
    /// (no network, no `concat:`/`subfile:` protocols), and only the listed demuxers, so a
    /// playlist or manifest (HLS, DASH, concat) given as a "video" is refused before it can name
    /// other files or URLs.
    static func inputOptions(_ limits: VideoLimits) -> [String] {
        ["-protocol_whitelist", "file,pipe", "-format_whitelist", limits.inputFormats.joined(separator: ",")]
    }

    /// Runs a program to completion and returns its standard output.
    ///
    /// The child is killed when it runs past `timeout` (a hostile file can make a demuxer spin
    /// or block, e.g. on a FIFO) or writes more than `maxOutputBytes`. A failure's message says
    /// only `what` failed: the program's standard error names local paths, so it goes to the
    /// server's log and into the error's `underlying` value, never into the message.
    /// - Throws: `MediaError` with code `failure` on a non-zero exit, `timedOut` past the deadline.
    static func run(_ executable: String, _ arguments: [String], failure: MediaError.Code, what: String,
                    timeout: Duration = VideoLimits.defaultProcessTimeout, maxOutputBytes: Int = 64 << 20) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = try TemporaryFile(suffix: ".log")
        defer { errors.remove() }
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errors.url)
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do { try process.run() } catch {
            throw MediaError(.io, "video: could not start \(URL(fileURLWithPath: executable).lastPathComponent)", underlying: error)
        }
        let deadline = ContinuousClock.now + timeout
        var data = Data()
        var stopped: MediaError?
        let fd = output.fileHandleForReading.fileDescriptor
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            guard PipeIO.waitReadable(fd, until: deadline) else {
                stopped = MediaError(.timedOut, "video: \(what): gave up after \(timeout)")
                break
            }
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                guard data.count + n <= maxOutputBytes else {
                    stopped = MediaError(.tooLarge, "video: \(what): the report is larger than \(maxOutputBytes) bytes")
                    break
                }
                data.append(contentsOf: chunk[0..<n])
                continue
            }
            if n == 0 { break }
            if errno == EINTR { continue }
            stopped = MediaError(.io, "video: \(what): reading the output failed (errno \(errno))")
            break
        }
        if stopped != nil { kill(process.processIdentifier, SIGKILL) }
        try? output.fileHandleForReading.close()
        // A child that closed its output but keeps running is held to the same deadline.
        if exited.wait(timeout: DispatchTime.now() + .milliseconds(min(PipeIO.milliseconds(PipeIO.remaining(until: deadline)), 1 << 40))) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
            stopped = stopped ?? MediaError(.timedOut, "video: \(what): gave up after \(timeout)")
        }
        if let stopped { throw stopped }
        guard process.terminationStatus == 0 else {
            let message = errors.text()
            log(what, message)
            throw MediaError(failure, "video: \(what)", underlying: ProgramOutput(text: message))
        }
        return data
    }

    /// Writes a child's standard error to the server's own standard error (its log): the
    /// operator sees what ffmpeg said, the user sees only a clean message.
    static func log(_ what: String, _ message: String) {
        let line = "ffmpeg: \(what): \(message.replacingOccurrences(of: "\n", with: " | "))\n"
        FileHandle.standardError.write(Data(line.utf8))
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
            throw MediaError(.io, "video: could not create a log file")
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

/// What an ffmpeg program wrote to its standard error: kept as a failure's `underlying` error
/// for logs, never shown to users (it names local paths).
public struct ProgramOutput: Error, Sendable, CustomStringConvertible {
    /// The last part of the program's standard error.
    public let text: String
    /// The text.
    public var description: String { text }
}

/// Whole-buffer reads and writes on a pipe's file descriptor, straight into and out of frame
/// buffers: the one copy the pipe costs, and no other (no intermediate `Data`).
enum PipeIO {
    /// Reads until `count` bytes or end of file; returns the bytes read.
    /// - Parameter deadline: when to give up waiting for the next bytes (`nil`: never).
    /// - Throws: `MediaError` `.io` on a read error other than an interrupted call, `.timedOut`
    ///   when nothing arrives before `deadline`.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, count: Int,
                     deadline: ContinuousClock.Instant? = nil) throws -> Int {
        var done = 0
        while done < count {
            if let deadline, !waitReadable(fd, until: deadline) {
                throw MediaError(.timedOut, "video: ffmpeg delivered no frame in time")
            }
            let n = Foundation.read(fd, buffer.baseAddress! + done, count - done)
            if n > 0 { done += n; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw MediaError(.io, "video: reading frames from ffmpeg failed (errno \(errno))")
        }
        return done
    }

    /// Waits until `fd` has bytes (or end of file) to read; `false` when `deadline` passes first.
    static func waitReadable(_ fd: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = remaining(until: deadline)
            let milliseconds = Int32(clamping: Self.milliseconds(left) + 1)
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { return true }  // let the read report the error
            if ContinuousClock.now >= deadline { return false }
        }
    }

    /// Whole milliseconds in `duration`, saturating (a configured timeout may be huge).
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = Int(clamping: seconds).multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? Int.min : Int.max }
        return whole.addingReportingOverflow(Int(attoseconds / 1_000_000_000_000_000)).partialValue
    }

    /// Time left until `deadline`, never negative.
    static func remaining(until deadline: ContinuousClock.Instant) -> Duration {
        max(.zero, deadline - ContinuousClock.now)
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
