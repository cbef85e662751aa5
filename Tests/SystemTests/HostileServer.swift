import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// A real `peregrine serve` process (the shipped binary, its gallery plus the example Python
/// runner), with an API key made by `peregrine keys create`, a TLS port for ordinary clients
/// and a plain-HTTP port for raw bytes.
final class HostileServer: @unchecked Sendable {
    // @unchecked: every stored property is set once in init.
    let process: ServerProcess
    let home: URL
    let tlsPort: Int
    let httpPort: Int
    let key: String
    let certificate: String

    /// Starts the server; `environment` adds or overrides `PEREGRINE_*` settings.
    init(environment: [String: String] = [:]) throws {
        home = try ServerProcess.temporaryHome()
        tlsPort = try ServerProcess.freePort()
        var http = try ServerProcess.freePort()
        while http == tlsPort { http = try ServerProcess.freePort() }
        httpPort = http
        let examples = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python/examples").path
        var env = ["PEREGRINE_RUNNER_MANIFESTS": examples]
        for (k, v) in environment { env[k] = v }
        key = try Self.createKey(home: home)
        process = try ServerProcess(
            home: home, port: tlsPort, extraEnvironment: env, executable: "peregrine",
            arguments: ["serve", "--port", String(tlsPort), "--http-port", String(httpPort)])
        certificate = try process.waitUntilListening()
    }

    /// `peregrine keys create --quiet` against `home`: prints `id:secret`.
    private static func createKey(home: URL) throws -> String {
        let p = Process()
        p.executableURL = try ServerProcess.binary("peregrine")
        p.arguments = ["keys", "create", "--name", "hostile", "--quiet"]
        var env = ProcessInfo.processInfo.environment
        env["PEREGRINE_HOME"] = home.path
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let key = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0, key.contains(":") else { throw SystemTestError("keys create failed: \(key)") }
        return key
    }

    var pid: Int32 { process.process.processIdentifier }
    var isRunning: Bool { process.process.isRunning }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(at: home)
    }
}

/// One HTTPS exchange with full control of method, headers and body.
struct Exchange: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    var text: String { String(decoding: body, as: UTF8.self) }
}

extension TestHTTP {
    /// Sends one request and collects at most 32 MiB of the answer.
    func exchange(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: Data? = nil
    ) async throws -> Exchange {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        return Exchange(status: Int(response.status.code), headers: response.headers, body: Data(bytes.readableBytesView))
    }
}
