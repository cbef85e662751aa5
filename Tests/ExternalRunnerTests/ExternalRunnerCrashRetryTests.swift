import ExternalRunners
import Foundation
import Hummingbird
import JobQueue
import ModelKit
import Testing

/// A runner process that dies under a job is an infrastructure failure: the job is retried on a
/// restarted runner, like any other infrastructure failure, unless the caller asked for no retry.
@Suite("External runners: crash retry")
struct ExternalRunnerCrashRetryTests {
    @Test("a runner crashing on a job's first attempt is restarted and the job completes on its retry")
    func crashIsRetried() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let text = "survived-\(UUID().uuidString)"
            let id = try await server.submit(client, "test/fault", ["mode": "crash_once", "text": .string(text)])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .completed)
            #expect(job.attempt == 2)
            #expect(RunnerFixtures.marks(in: marks).contains("crashed-once-\(text)"))
            let out = try await server.get(client, "/queue/test/fault/requests/\(id)")
            #expect(out["text"] == .string(text))
        }
        await model.shutdown()
    }

    @Test("a runner crashing on every attempt fails the job with runner_disconnected once attempts run out")
    func crashEveryAttemptFails() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/fault", ["mode": "crash"])
            let job = try await server.waitForJob(id, seconds: 120) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.attempt == job.maxAttempts)
            #expect(job.maxAttempts > 1)
            #expect(job.result?.errorType == "runner_disconnected")
            #expect(job.result?.status == 503)
            #expect(RunnerFixtures.marks(in: marks).filter { $0.hasPrefix("crashed-") }.count == job.maxAttempts)
        }
        await model.shutdown()
    }
}
