// Finding and running the ffmpeg programs.
//
// Video goes through the `ffmpeg`/`ffprobe` programs over pipes rather than libavformat and
// libavcodec linked in: a decoder crash on a hostile file then ends a child process, not the
// server; there is no coupling to libav's ABI (which changes every major release); and the
// program already does what a pipeline needs (autorotation, audio muxing, `+faststart`). The cost
// is one copy of each raw frame through a pipe, small next to a model's work on that frame.

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

    init(suffix: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-\(UUID().uuidString)\(suffix)")
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
