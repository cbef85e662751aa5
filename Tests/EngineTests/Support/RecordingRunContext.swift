import Foundation
import ModelKit

/// A RunContext for tests: serves fixed input files, records progress and stored outputs, and
/// can be told to report cancellation after some progress calls.
final class RecordingRunContext: RunContext, @unchecked Sendable {
    private let lock = NSLock()
    private let files: [String: Data]
    private var progressLog: [ModelKit.Progress] = []
    private var storedFiles: [(Data, String, String)] = []
    private let cancelAfterProgress: Int?

    init(files: [String: Data], cancelAfterProgress: Int? = nil) {
        self.files = files
        self.cancelAfterProgress = cancelAfterProgress
    }

    var progressReports: [ModelKit.Progress] { lock.lock(); defer { lock.unlock() }; return progressLog }
    var stored: [(data: Data, contentType: String, fileName: String)] {
        lock.lock(); defer { lock.unlock() }
        return storedFiles.map { ($0.0, $0.1, $0.2) }
    }

    func progress(_ progress: ModelKit.Progress) { lock.lock(); progressLog.append(progress); lock.unlock() }
    func log(_ message: String, level: LogLevel) {}

    var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        guard let n = cancelAfterProgress else { return false }
        return progressLog.count >= n
    }

    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        guard let data = files[url] else {
            throw ModelError(.fileDownloadError, "no such file \(url)", field: ["body", field])
        }
        return FetchedFile(data: data, contentType: nil, fileName: nil)
    }

    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        lock.withLock { storedFiles.append((data, contentType, fileName)) }
        return StoredFile(url: "memory://\(fileName)", contentType: contentType, fileName: fileName, fileSize: data.count)
    }
}
