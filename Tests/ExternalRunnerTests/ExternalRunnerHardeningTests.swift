@testable import ExternalRunners
import Foundation
import JobQueue
import ModelKit
import Platform
import Testing

/// A runner's output is untrusted: file references that lead out of its directory and lines
/// that never end must fail the request cleanly.
@Suite("External runners: untrusted output")
struct ExternalRunnerHardeningTests {
    @Test("an output file that is a symlink out of the runner's directory fails the job; the target is not published")
    func symlinkOutputRefused() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/fault", ["mode": "symlink"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorMessage?.contains("symbolic link") == true)
            #expect(RunnerFixtures.marks(in: marks).contains("secret.txt"), "the runner did make the link")
            let stored = try FileManager.default.subpathsOfDirectory(atPath: server.platform.configuration.home.path)
                .map { server.platform.configuration.home.appendingPathComponent($0) }
                .filter { (try? String(contentsOf: $0, encoding: .utf8)) == "top secret" }
            #expect(stored.isEmpty, "the link's target was stored: \(stored)")
        }
        await model.shutdown()
    }

    @Test("a progress or log line over max_event_line_bytes fails the job cleanly; the runner keeps serving")
    func longEventLine() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(
            endpoint: "test/fault", marks: marks, extra: ["max_event_line_bytes": 4096]))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/fault", ["mode": "long_log", "text": "100000"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorMessage?.contains("max_event_line_bytes") == true)
            #expect(job.result?.errorType != "runner_disconnected")
            let next = try await server.submit(client, "test/fault", ["mode": "echo", "text": "still here"])
            #expect(try await server.waitForJob(next) { $0.state.isTerminal }.state == .completed)
        }
        await model.shutdown()
    }

    @Test("a result line over max_result_line_bytes fails the job cleanly before it is read whole")
    func longResultLine() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(
            endpoint: "test/fault", marks: marks, extra: ["max_event_line_bytes": 1024, "max_result_line_bytes": 8192]))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let small = try await server.submit(client, "test/fault", ["mode": "long_result", "text": "4000"])
            #expect(try await server.waitForJob(small) { $0.state.isTerminal }.state == .completed,
                    "a result over the event limit but under the result limit is fine")
            let id = try await server.submit(client, "test/fault", ["mode": "long_result", "text": "200000"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorMessage?.contains("max_result_line_bytes") == true)
        }
        await model.shutdown()
    }

    @Test("each runner directory is new, private (0700) and not a predictable name")
    func runnerDirectory() throws {
        let first = try RunnerSupervisor.makeDirectory()
        let second = try RunnerSupervisor.makeDirectory()
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        #expect(first != second)
        for directory in [first, second] {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o700)
            #expect(attributes[.type] as? FileAttributeType == .typeDirectory)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
    }

    @Test("line limits are read from the manifest and must be whole byte counts")
    func lineLimitsInManifest() throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let defaults = try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks)
        #expect(defaults.maxEventLineBytes == 1 << 20 && defaults.maxResultLineBytes == 64 << 20)
        let set = try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks,
                                                   extra: ["max_event_line_bytes": 100, "max_result_line_bytes": 1000])
        #expect(set.maxEventLineBytes == 100 && set.maxResultLineBytes == 1000)
        for bad: JSONValue in [0, -5, 1.5, 1e300, "big"] {
            #expect(throws: ExternalRunnerError.self) {
                _ = try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks, extra: ["max_event_line_bytes": bad])
            }
        }
    }
}
