import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `peregrine-test-server` child process: started with an environment, killed or stopped
/// by its pid, its output collected for the test's diagnostics.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: `output` is only touched under `lock`; `process` is set once in init.
    let process = Process()
    private let lock = NSLock()
    private var output = ""
    let port: Int
    let home: URL

    /// Starts the server on `port` with its state under `home`: the fixture server by
    /// default, or another binary of the build (`peregrine` with `serve` arguments).
    init(
        home: URL, port: Int, extraEnvironment: [String: String] = [:],
        executable: String = "peregrine-test-server", arguments: [String] = []
    ) throws {
        self.port = port
        self.home = home
        process.executableURL = try Self.binary(executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PEREGRINE_HOME"] = home.path
        env["PEREGRINE_HOST"] = "127.0.0.1"
        env["PEREGRINE_PORT"] = String(port)
        for (k, v) in extraEnvironment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let handle = pipe.fileHandleForReading
        try process.run()
        let thread = Thread { [weak self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                self?.append(String(decoding: data, as: UTF8.self))
            }
        }
        thread.start()
    }

    private func append(_ text: String) {
        lock.lock()
        output += text
        lock.unlock()
    }

    /// Everything the server printed so far.
    var log: String {
        lock.lock()
        defer { lock.unlock() }
        return output
    }

    /// Waits for the `LISTENING` line (fixture server) or `peregrine serve`'s `listening on
    /// https://` line and returns the certificate path the output names.
    func waitUntilListening(timeout: TimeInterval = 120) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let lines = log.split(separator: "\n")
            if let line = lines.first(where: { $0.hasPrefix("LISTENING ") }) {
                return String(line.split(separator: " ")[2])
            }
            if lines.contains(where: { $0.hasPrefix("peregrine: listening on https://") }),
               let line = lines.first(where: { $0.hasPrefix("peregrine: certificate ") }) {
                return String(line.dropFirst("peregrine: certificate ".count))
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw SystemTestError("server did not start listening; output:\n\(log)")
    }

    /// SIGKILL: no graceful shutdown, exactly like a crash or an OOM kill.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait for a graceful exit.
    func stop() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    /// A binary of the build (the fixture server by default) next to the test bundle.
    static func binary(_ name: String = "peregrine-test-server") throws -> URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw SystemTestError("\(name) not found near \(CommandLine.arguments[0]); build with `swift build --build-tests`")
    }

    /// A free TCP port on 127.0.0.1 (bound and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemTestError("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SystemTestError("bind() failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A fresh temporary directory for a server home.
    static func temporaryHome() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-system-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A failed system-test precondition, with the context needed to debug it.
struct SystemTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
