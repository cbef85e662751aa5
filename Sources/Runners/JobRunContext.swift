import Foundation
import JobQueue
import ModelKit

/// The `RunContext` of one job: progress to the event hub, log lines batched into the store,
/// cancellation from the job's handle, files through `FileAccess` (or data URIs in sync mode).
final class JobRunContext: RunContext {
    private let handle: JobHandle
    private let hub: JobEventHub
    private let files: any FileAccess
    private let syncMode: Bool
    private let lifetime: TimeInterval?
    private let maxInputBytes: Int
    private let pendingLogs = Locked<[JobLogLine]>([])
    private let logSignal: AsyncStream<Void>.Continuation
    /// Wakes the flusher when lines are waiting.
    let logWakeups: AsyncStream<Void>

    init(handle: JobHandle, hub: JobEventHub, files: any FileAccess, syncMode: Bool, lifetime: TimeInterval?, maxInputBytes: Int) {
        self.handle = handle
        self.hub = hub
        self.files = files
        self.syncMode = syncMode
        self.lifetime = lifetime
        self.maxInputBytes = maxInputBytes
        (logWakeups, logSignal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func progress(_ progress: ModelKit.Progress) {
        hub.publishProgress(progress, job: handle.id)
    }

    func log(_ message: String, level: LogLevel) {
        pendingLogs.withLock { $0.append(JobLogLine(message: message, level: level.rawValue, timestamp: Date())) }
        logSignal.yield()
    }

    var isCancelled: Bool { handle.isCancelled || Task.isCancelled }

    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        if url.prefix(5).lowercased() == "data:" {
            return try DataURI.decode(url, field: field, maxBytes: maxInputBytes)
        }
        return try await files.fetch(url, field: field)
    }

    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        if syncMode {
            return StoredFile(url: DataURI.encode(data, contentType: contentType), contentType: contentType, fileName: fileName, fileSize: data.count)
        }
        return try await files.store(data, contentType: contentType, fileName: fileName, lifetime: lifetime)
    }

    /// Takes the waiting log lines.
    func drainLogs() -> [JobLogLine] {
        pendingLogs.withLock { lines in
            defer { lines.removeAll() }
            return lines
        }
    }

    /// Ends the wake-up stream (the flusher's loop).
    func closeLogs() { logSignal.finish() }
}
