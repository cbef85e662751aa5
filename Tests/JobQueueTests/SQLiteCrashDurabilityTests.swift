import Foundation
import TestSupport
import JobQueue
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Lines a child process has written to a pipe, read on a Dispatch thread.
/// `@unchecked Sendable`: `lines` and `partial` are only touched under `lock`.
private final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = Data()

    func start(reading handle: FileHandle) {
        DispatchQueue.global().async {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                self.lock.withLock {
                    self.partial.append(chunk)
                    while let newline = self.partial.firstIndex(of: UInt8(ascii: "\n")) {
                        self.lines.append(String(decoding: self.partial[..<newline], as: UTF8.self))
                        self.partial = Data(self.partial[(newline + 1)...])
                    }
                }
            }
        }
    }

    /// Complete lines only: a line cut by the kill is not counted.
    var complete: [String] { lock.withLock { lines } }
}

/// "A 200 on submit means the job is committed to disk": a process that is killed (SIGKILL)
/// while writing loses nothing that a call had already reported as done.
///
/// The parent test starts this same test binary again, running only `crashChildWrites`, which
/// enqueues and finishes jobs in a loop and reports each one after the call returned. The parent
/// kills it mid-stream, reopens the database and checks every reported job and webhook row.
@Suite("SQLite crash durability")
struct SQLiteCrashDurabilityTests {
    static let childDatabase = ProcessInfo.processInfo.environment["PEREGRINE_CRASH_CHILD_DB"]

    @Test(.enabled(if: childDatabase != nil, "runs only as the child of killedWriterLosesNothing"))
    func crashChildWrites() async throws {
        let store = try SQLiteJobStore(path: try #require(Self.childDatabase))
        let output = FileHandle.standardOutput
        for i in 0... {
            let id = "crash-\(i)"
            let withHook = i % 2 == 0
            // Jobs that will be finished go to their own endpoint, so the lease takes exactly them.
            _ = try await store.enqueue(
                newJob(id, endpoint: withHook ? "acme/hooked" : "acme/upscale",
                       webhookURL: withHook ? "https://hooks.example/\(id)" : nil))
            output.write(Data("queued \(id)\n".utf8))
            if withHook {
                let leased = try await store.lease(endpointIDs: ["acme/hooked"], owner: "child", limit: 1, leaseDuration: 60, now: t0)
                guard leased.map(\.id) == [id],
                    try await store.finish(id: id, leaseToken: store.leaseToken(of: id), state: .completed, result: okResult, now: t0)
                else {
                    output.write(Data("unexpected \(id)\n".utf8))
                    return
                }
                output.write(Data("completed \(id)\n".utf8))
            }
        }
    }

    @Test(.disabled(if: childDatabase != nil, "the child does not start children"))
    func killedWriterLosesNothing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("jobs.sqlite").path
        _ = try SQLiteDatabase(path: path)  // created and migrated before the child starts

        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["--testing-library", "swift-testing", "--filter", "crashChildWrites"]
        var environment = ProcessInfo.processInfo.environment
        environment["PEREGRINE_CRASH_CHILD_DB"] = path
        child.environment = environment
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = FileHandle.nullDevice
        let collector = LineCollector()
        collector.start(reading: pipe.fileHandleForReading)
        try child.run()
        let wrote = await waitUntil(deadline: .seconds(120)) {
            collector.complete.filter { $0.hasPrefix("completed ") }.count >= 100
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(wrote, "the child did not report enough writes")
        #expect(!collector.complete.contains { $0.hasPrefix("unexpected ") })
        #expect(child.terminationReason == .uncaughtSignal)

        let reported = collector.complete.filter { $0.hasPrefix("queued ") || $0.hasPrefix("completed ") }
        let store = try SQLiteJobStore(path: path)
        let hooks = Set(try await store.dueWebhooks(now: t0.addingTimeInterval(1e6), limit: 100_000).map(\.requestID))
        var completed = 0
        for line in reported {
            let parts = line.split(separator: " ").map(String.init)
            let job = try await store.job(id: parts[1])
            #expect(job != nil, "\(parts[1]) was reported but is gone")
            if parts[0] == "completed" {
                completed += 1
                #expect(job?.state == .completed && job?.result == okResult)
                #expect(hooks.contains(parts[1]), "webhook of \(parts[1]) is gone")
            }
        }
        #expect(completed >= 100)
    }
}
