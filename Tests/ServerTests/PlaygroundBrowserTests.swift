import Foundation
import Media
import Models
import Platform
import Runners
import Server
import ServiceLifecycle
import TestSupport
import Testing
import Weights

/// An executable named `name` on `PATH` (or the path in `override`, when set).
private func executable(_ name: String, override: String? = nil) -> String? {
    if let override, let path = ProcessInfo.processInfo.environment[override], FileManager.default.isExecutableFile(atPath: path) { return path }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Chromium from Debian's archive (`scripts/setup.sh` installs it); `PEREGRINE_CHROMIUM` overrides.
private let chromium = executable("chromium", override: "PEREGRINE_CHROMIUM")
/// CI must run this test: there a missing browser is a failure, not a skip.
private let inCI = ["true", "1"].contains(ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? "")

/// `<repo>/.peregrine-test/server-models`, shared with the other real-model server tests.
private let modelDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".peregrine-test/server-models")

/// One browser at a time: the cases share this machine's few cores with the rest of the suite.
@Suite("The playground in headless Chromium", .serialized)
struct PlaygroundBrowserTests {
    @Test(
        "sign in (auth on) or not (auth off), search the gallery, upload an image on a model page, follow the request to the upscaled result, screenshot",
        .enabled(if: chromium != nil || inCI, "needs chromium (apt-get install chromium; scripts/setup.sh installs it)"),
        arguments: [true, false])
    func upscaleInBrowser(auth: Bool) async throws {
        let chromium = try #require(chromium, "chromium is not installed: scripts/setup.sh installs it (apt-get install chromium)")
        let python = try #require(executable("python3"), "python3 is needed to drive chromium")
        _ = try await ModelPuller(modelDirectory: modelDirectory).pull(WeightsCatalog.realESRAnimeVideoV3)

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-playground-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var configuration = ServerConfiguration()
        configuration.home = work.appendingPathComponent("home")
        configuration.port = 0
        configuration.authEnabled = auth
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        let endpoint = "peregrine/realesr-animevideov3"
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [try ManifestUpscaler(Gallery.upscaler(endpoint))],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, threads: 2),
            modelsDirectory: modelDirectory)
        let (key, secret) = try await platform.keys.createKey(name: "browser", now: Date())

        // A real picture, 40×30, picked through the page's file input.
        var samples = [UInt8](repeating: 0, count: 40 * 30 * 3)
        for y in 0..<30 {
            for x in 0..<40 {
                let i = (y * 40 + x) * 3
                samples[i] = UInt8(x * 6)
                samples[i + 1] = UInt8(y * 8)
                samples[i + 2] = (x / 5 + y / 5) % 2 == 0 ? 220 : 40
            }
        }
        let picture = work.appendingPathComponent("input.png")
        try Data(try Image(width: 40, height: 30, channels: 3, samples: .uint8(samples)).encoded(as: .png())).write(to: picture)
        let screenshot = work.appendingPathComponent("playground.png")
        let (status, output) = try await drive(platform, python: python, chromium: chromium, [
            "--key", auth ? "\(key.id):\(secret)" : "", "--endpoint", endpoint, "--image", picture.path, "--scale", "2",
            "--expect-width", "80", "--expect-height", "60", "--screenshot", screenshot.path,
        ])
        print("playground screenshot: \(screenshot.path)")
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(output)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(seen["state"] as? String == "COMPLETED")
        #expect(seen["asked_for_key"] as? Bool == false, "the gallery shows once signed in, or at once without auth: \(seen)")
        #expect((seen["gallery_categories"] as? [String])?.contains("image to image") == true, "\(seen)")
        #expect(seen["search_hits"] as? Int == 1 && seen["search_miss"] as? Int == 0, "\(seen)")
        // The form follows the schema: the image first, scale as a select, tile size a bounded slider, folded.
        #expect((seen["fields"] as? [String])?.first == "image_url", "\(seen)")
        #expect(seen["scale_options"] as? [String] == ["2", "3", "4"], "\(seen)")
        #expect(seen["tile_slider"] as? [Int] == [32, 1024], "\(seen)")
        #expect((seen["advanced_folded"] as? [String])?.contains("tile_size") == true, "\(seen)")
        #expect((seen["image_url"] as? String)?.contains("/files/") == true, "the page uploaded the file: \(seen)")
        #expect((seen["snippet_curl"] as? String)?.contains("/queue/\(endpoint)") == true, "\(seen)")
        let result = try #require(seen["output"] as? [String: Any], "\(seen)")
        #expect(result["width"] as? Int == 80 && result["height"] as? Int == 60, "\(result)")
        #expect(result["compare"] as? Bool == true && result["before_width"] as? Int == 40, "\(result)")
        let renderers = try #require(seen["renderers"] as? [String: Any], "\(seen)")
        #expect(renderers["grid"] as? Int == 3 && renderers["video"] as? Int == 1, "\(renderers)")
        #expect(renderers["terrain"] as? [String] == ["heightmap", "relief"], "\(renderers)")
        let requestID = try #require(seen["request_id"] as? String)
        #expect((seen["history"] as? [[String]])?.first == [requestID, "COMPLETED"], "\(seen)")
        #expect((seen["history_row"] as? String)?.contains(endpoint) == true, "\(seen)")
        #expect(seen["history_source"] as? String == "server", "the server's request history lists it: \(seen)")
        #expect(seen["rerun"] as? [String] == [seen["image_url"] as? String ?? "", "2"], "re-run fills the form with the request's input: \(seen)")
        let dropped = try #require(seen["dropped"] as? [String], "\(seen)")
        #expect(dropped.first == "uploaded" && dropped.last?.hasSuffix("/dropped.png") == true, "a dropped file is uploaded: \(dropped)")
        #expect(seen["key_in_local_storage"] as? Bool == false, "the key must stay in sessionStorage")
        #expect((seen["page_errors"] as? [String]) == [], "\(seen)")
        #expect(FileManager.default.fileExists(atPath: screenshot.path))
        let job = try #require(try await platform.store.job(id: requestID))
        #expect(job.apiKeyID == (auth ? key.id : nil), "the page's calls were authorized with the signed-in key")
    }

    @Test(
        "a running request shows its state and log line live, and the page's Cancel ends it cancelled",
        .enabled(if: chromium != nil || inCI, "needs chromium (apt-get install chromium; scripts/setup.sh installs it)"))
    func cancelInBrowser() async throws {
        let chromium = try #require(chromium, "chromium is not installed: scripts/setup.sh installs it (apt-get install chromium)")
        let python = try #require(executable("python3"), "python3 is needed to drive chromium")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-playground-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var configuration = ServerConfiguration()
        configuration.home = work.appendingPathComponent("home")
        configuration.port = 0
        configuration.authEnabled = false
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        // The model holds every request running until the gate opens: the page is seen running.
        let gate = Gate()
        defer { gate.open() }
        let (_, started) = AsyncStream<String>.makeStream()
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [GatedModel(gate: gate, started: started)],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        let screenshot = work.appendingPathComponent("playground-cancel.png")
        let (status, output) = try await drive(platform, python: python, chromium: chromium, [
            "--flow", "cancel", "--endpoint", "test/gated", "--screenshot", screenshot.path,
        ])
        print("playground screenshot: \(screenshot.path)")
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(output)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect((seen["running"] as? String)?.contains("waiting for the gate") == true, "\(seen)")
        let ended = try #require(seen["ended"] as? [String], "\(seen)")
        #expect(ended.prefix(2) == ["FAILED", "Cancelled"] && ended.last?.contains("request_cancelled") == true, "\(ended)")
        let requestID = try #require(seen["request_id"] as? String)
        #expect((seen["history"] as? [[String]])?.first == [requestID, "FAILED"], "\(seen)")
        #expect(try await platform.store.job(id: requestID)?.state == .cancelled)
    }

    /// Serves `platform` on a real TLS socket and runs the driver against it, bounded in time.
    private func drive(_ platform: EmbeddedPlatform, python: String, chromium: String, _ flowArguments: [String]) async throws -> (Int32, String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../tests/playground/drive_playground.py").standardized.path
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let group = try PeregrineServer(platform: platform).serviceGroup(signals: false) { scheme, port in
            if scheme == "https" { portContinuation.yield(port) }
        }
        return try await withThrowingTaskGroup(of: (Int32, String)?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw HarnessError("server did not start") }
            tasks.addTask {
                var arguments = [script, "--chromium", chromium, "--base", "https://127.0.0.1:\(port)", "--timeout", "150"] + flowArguments
                // Chromium's sandbox cannot start as root (CI runs as root); only this test turns it off.
                if getuid() == 0 { arguments.append("--no-sandbox") }
                return try await runProcess(python, arguments, environment: ProcessInfo.processInfo.environment, hangGuard: 240)
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
    }
}
