import Foundation
import JobQueue
import Media
import ModelKit
import NIOConcurrencyHelpers

/// The `RunContext` of one job: progress to the event hub, log lines batched into the store,
/// cancellation from the job's handle, files through `FileAccess` (or data URIs in sync mode).
final class JobRunContext: RunContext {
    private let handle: JobHandle
    private let hub: JobEventHub
    private let files: any FileAccess
    private let syncMode: Bool
    private let lifetime: TimeInterval?
    private let maxInputBytes: Int
    private let pendingLogs = NIOLockedValueBox<[JobLogLine]>([])
    /// Remote inputs fetched before the job took its model slot, by `key(field:url:)`; each is
    /// handed out once.
    private let prefetched = NIOLockedValueBox<[String: Result<FetchedFile, any Error>]>([:])
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
        pendingLogs.withLockedValue { $0.append(JobLogLine(message: message, level: level.rawValue, timestamp: Date())) }
        logSignal.yield()
    }

    var isCancelled: Bool { handle.isCancelled || Task.isCancelled }

    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        if url.prefix(5).lowercased() == "data:" {
            return try FetchedFile.decoding(dataURI: url, field: field, maxBytes: maxInputBytes)
        }
        if let early = prefetched.withLockedValue({ $0.removeValue(forKey: Self.key(field: field, url: url)) }) {
            return try early.get()
        }
        return try await files.fetch(url, field: field)
    }

    /// Fetches `inputs` now, keeping each file (or the error the model will see when it asks
    /// for it: an input the model does not use must not fail the job).
    /// - Throws: `CancellationError` when the job is stopped meanwhile.
    func prefetch(_ inputs: [(field: String, url: String)]) async throws {
        for (field, url) in inputs {
            try checkCancellation()
            let outcome: Result<FetchedFile, any Error>
            do {
                outcome = .success(try await files.fetch(url, field: field))
            } catch {
                try checkCancellation()
                if error is CancellationError { throw error }
                outcome = .failure(error)
            }
            prefetched.withLockedValue { $0[Self.key(field: field, url: url)] = outcome }
        }
    }

    /// The inputs to fetch before a job takes a slot: the top-level string members the model's
    /// input schema declares whose value is an http(s) URL (`data:` URIs need no network; the
    /// schema bounds how many there are).
    static func remoteInputs(of input: JSONValue, schema: JSONValue) -> [(field: String, url: String)] {
        guard let declared = schema["properties"]?.objectValue, let members = input.objectValue else { return [] }
        return declared.keys.sorted().compactMap { field in
            guard let url = members[field]?.stringValue else { return nil }
            let scheme = url.prefix(8).lowercased()
            guard scheme.hasPrefix("http://") || scheme.hasPrefix("https://") else { return nil }
            return (field, url)
        }
    }

    private static func key(field: String, url: String) -> String { "\(field)\u{0}\(url)" }

    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        if syncMode {
            return StoredFile(url: DataURI(mimeType: contentType, payload: [UInt8](data)).uriString, contentType: contentType, fileName: fileName, fileSize: data.count)
        }
        return try await files.store(data, contentType: contentType, fileName: fileName, lifetime: lifetime)
    }

    /// Takes the waiting log lines.
    func drainLogs() -> [JobLogLine] {
        pendingLogs.withLockedValue { lines in
            defer { lines.removeAll() }
            return lines
        }
    }

    /// Ends the wake-up stream (the flusher's loop).
    func closeLogs() { logSignal.finish() }
}
