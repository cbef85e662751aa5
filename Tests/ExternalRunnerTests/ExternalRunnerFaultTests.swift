import ExternalRunners
import Foundation
import Hummingbird
import JobQueue
import ModelKit
import Platform
import Testing

private let noRetry = HTTPFields.Element.Name("X-Fal-No-Retry")!

/// Runners that crash, hang or ignore cancellation: every job still ends, cleanly.
@Suite("External runners: faults")
struct ExternalRunnerFaultTests {
    @Test("a runner crashing mid-request under X-Fal-No-Retry fails the job with runner_disconnected and is restarted")
    func crashMidRequest() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let warm = try await server.submit(client, "test/fault", ["mode": "echo"])
            #expect(try await server.waitForJob(warm) { $0.state.isTerminal }.state == .completed)
            let firstPID = try #require(await model.status()?.pid)

            let id = try await server.submit(client, "test/fault", ["mode": "crash"], headers: [noRetry: "1"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.attempt == 1)
            #expect(job.result?.errorType == "runner_disconnected")
            #expect(job.result?.status == 503)
            #expect(job.result?.errorMessage?.contains("exited with status 3") == true)
            #expect(RunnerFixtures.marks(in: marks).contains("crashed-\(firstPID)"))

            // The supervisor brings up a new process; the next request is served by it.
            let restarted = await RunnerFixtures.eventually {
                guard let s = await model.status() else { return false }
                return s.restarts == 1 && s.pid != nil && s.pid != firstPID
            }
            #expect(restarted)
            let after = try await server.submit(client, "test/fault", ["mode": "echo", "text": "again"])
            let done = try await server.waitForJob(after) { $0.state.isTerminal }
            #expect(done.state == .completed)
            let out = try await server.get(client, "/queue/test/fault/requests/\(after)")
            #expect(out["text"] == "again")
            #expect(out["pid"]?.intValue.map { Int32($0) } != firstPID)
        }
        await model.shutdown()
    }

    @Test("a runner that never answers its health check fails the job with startup_timeout")
    func startupHang() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(
            endpoint: "test/hang", marks: marks, startup: "hang", extra: ["startup_timeout": 1]))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/hang", ["mode": "echo"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorType == "startup_timeout")
            #expect(job.result?.status == 503)
        }
        #expect(await model.status() == nil, "the hung process was stopped, nothing is left loaded")
        await model.shutdown()
    }

    @Test("a runner exiting at startup fails the job with runner_start_failed and its own words")
    func startupExit() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/exit", marks: marks, startup: "exit"))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/exit", ["mode": "echo"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorType == "runner_start_failed")
            #expect(job.result?.errorMessage?.contains("exited with status 7") == true)
            #expect(job.result?.errorMessage?.contains("refusing to start") == true)
        }
        await model.shutdown()
    }

    @Test("cancelling a running request reaches the runner, which stops it")
    func cancelReachesRunner() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        // A generous cancel grace: a runner that honours the cancel must never be killed because
        // a loaded machine took longer than a second to deliver it.
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(
            endpoint: "test/fault", marks: marks, extra: ["cancel_grace": 60]))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/fault", ["mode": "wait"])
            // The runner's first progress report says it is inside predict.
            _ = try await server.waitForJob(id) { _ in server.platform.hub.progress(of: id) != nil }
            let pid = try #require(await model.status()?.pid)
            let cancel = try await client.execute(uri: "/queue/test/fault/requests/\(id)/cancel", method: .put, headers: [:], body: nil)
            #expect(cancel.status == .accepted)
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .cancelled)
            #expect(RunnerFixtures.marks(in: marks).contains { $0.hasPrefix("cancelled-") }, "the runner saw POST /cancel")
            let logs = try await server.store.logs(id: id)
            #expect(logs.contains { $0.message == "cancel received" }, "lines the runner sent after the cancel are kept")
            #expect(await model.status()?.pid == pid, "a runner that honours cancellation keeps running")
            #expect(await model.status()?.restarts == 0)
        }
        await model.shutdown()
    }

    @Test("a runner ignoring cancellation is killed after the grace period and restarted")
    func cancelIgnored() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(endpoint: "test/fault", marks: marks))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            let id = try await server.submit(client, "test/fault", ["mode": "ignore_cancel"])
            _ = try await server.waitForJob(id) { _ in server.platform.hub.progress(of: id) != nil }
            let pid = try #require(await model.status()?.pid)
            _ = try await client.execute(uri: "/queue/test/fault/requests/\(id)/cancel", method: .put, headers: [:], body: nil)
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .cancelled, "killed for ignoring the cancel, the request still ends cancelled")
            let restarted = await RunnerFixtures.eventually {
                guard let s = await model.status() else { return false }
                return s.restarts == 1 && s.pid != nil && s.pid != pid
            }
            #expect(restarted)
            let next = try await server.submit(client, "test/fault", ["mode": "echo"])
            #expect(try await server.waitForJob(next) { $0.state.isTerminal }.state == .completed)
        }
        await model.shutdown()
    }

    @Test("a runner that stops answering health checks is killed and restarted; its no-retry request fails cleanly")
    func hungRunner() async throws {
        let marks = try RunnerFixtures.temporaryDirectory("runner-marks")
        defer { try? FileManager.default.removeItem(at: marks) }
        let model = ExternalModel(runner: try RunnerFixtures.faultManifest(
            // The health timeout is long enough that a healthy runner on a loaded machine always
            // answers in time; only the frozen one misses it.
            endpoint: "test/fault", marks: marks, extra: ["health_interval": 0.1, "health_timeout": 3, "health_failures": 2]))
        let server = try RunnerPlatform(models: [model])
        try await server.test { client in
            // No retry: the retry of a runner failure has its own tests (ExternalRunnerCrashRetryTests).
            let id = try await server.submit(client, "test/fault", ["mode": "freeze"], headers: [noRetry: "1"])
            let job = try await server.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorType == "runner_disconnected")
            #expect(job.result?.errorMessage?.contains("killed by signal 9") == true)
            #expect(RunnerFixtures.marks(in: marks).contains { $0.hasPrefix("frozen-") })
            let restarted = await RunnerFixtures.eventually {
                guard let s = await model.status() else { return false }
                return s.restarts == 1 && s.pid != nil
            }
            #expect(restarted)
            let next = try await server.submit(client, "test/fault", ["mode": "echo"])
            #expect(try await server.waitForJob(next) { $0.state.isTerminal }.state == .completed)
        }
        await model.shutdown()
    }
}
