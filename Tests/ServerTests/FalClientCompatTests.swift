import Foundation
import Platform
import Server
import ServiceLifecycle
import Testing

/// The Python interpreter with fal's official client (`scripts/test.sh` sets it up).
let compatPython: String? = {
    let env = ProcessInfo.processInfo.environment
    if let path = env["PEREGRINE_COMPAT_PYTHON"], FileManager.default.isExecutableFile(atPath: path) { return path }
    let local = FileManager.default.currentDirectoryPath + "/.venv-compat/bin/python"
    return FileManager.default.isExecutableFile(atPath: local) ? local : nil
}()

@Suite("fal's Python client against a live TLS server")
struct FalClientCompatTests {
    @Test("tests/compat/fal_client_compat.py passes unchanged", .enabled(if: compatPython != nil, "needs a Python with fal-client==1.0.3"))
    func pythonClient() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-compat-\(UUID().uuidString)")
        configuration.port = 0
        configuration.allowPrivateURLs = true
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        let platform = try EmbeddedPlatform(configuration: configuration, models: [CompatEchoModel(), CompatSlowModel(), CompatFailModel()])
        let (key, secret) = try await platform.keys.createKey(name: "compat", now: Date())
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let group = try PeregrineServer(platform: platform).serviceGroup(signals: false) { scheme, port in
            if scheme == "https" { portContinuation.yield(port) }
        }
        let certificate = SelfSignedCertificate.files(in: configuration.tlsDirectory).certificate.path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../tests/compat/fal_client_compat.py").standardized.path

        let (status, output) = try await withThrowingTaskGroup(of: (Int32, String)?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw HarnessError("server did not start") }
            tasks.addTask {
                var env = ProcessInfo.processInfo.environment
                env["FAL_KEY"] = "\(key.id):\(secret)"
                env["FAL_RUN_HOST"] = "127.0.0.1:\(port)/run"
                env["FAL_QUEUE_RUN_HOST"] = "127.0.0.1:\(port)/queue"
                env["SSL_CERT_FILE"] = certificate
                env["PEREGRINE_BASE"] = "https://127.0.0.1:\(port)"
                return try await runProcess(compatPython!, [script], environment: env)
            }
            var result: (Int32, String)?
            while let next = try await tasks.next() {
                if let value = next {
                    result = value
                    await group.triggerGracefulShutdown()
                }
            }
            return result ?? (-1, "no result")
        }
        #expect(status == 0, "\(output)")
    }
}

/// Runs a program to completion off the cooperative pool and returns its status and output.
/// With `hangGuard`, a program still running after that many seconds is sent SIGTERM (SIGKILL
/// ten seconds later), so a hung program fails its test instead of hanging the suite.
func runProcess(
    _ path: String, _ arguments: [String], environment: [String: String], hangGuard: TimeInterval? = nil
) async throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = environment
    // Output goes to a file: a pipe nobody reads while the program runs could fill and block it.
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-process-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { p in continuation.resume(returning: p.terminationStatus) }
        do { try process.run() } catch { continuation.resume(throwing: error) }
        if let hangGuard {
            DispatchQueue.global().asyncAfter(deadline: .now() + hangGuard) {
                guard process.isRunning else { return }
                process.terminate()
                DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                }
            }
        }
    }
    try handle.close()
    return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}
