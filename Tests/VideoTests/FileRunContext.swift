import Foundation
import Media
import ModelKit

/// A RunContext over the file system, as the platform's is over its blob store: file inputs
/// are `data:` URIs, `file://` URLs or absolute paths; outputs are written into a directory and
/// answered with `file://` URLs. It records progress and logs, and can report cancellation once
/// a number of progress reports (frames) have arrived.
final class FileRunContext: RunContext, @unchecked Sendable {
    let outputDirectory: URL
    private let lock = NSLock()
    private var progressLog: [ModelKit.Progress] = []
    private var logLines: [String] = []
    private var storedFiles: [StoredFile] = []
    private let cancelAfterProgress: Int?

    init(outputDirectory: URL, cancelAfterProgress: Int? = nil) throws {
        self.outputDirectory = outputDirectory
        self.cancelAfterProgress = cancelAfterProgress
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
    }

    var progressReports: [ModelKit.Progress] { lock.withLock { progressLog } }
    var logs: [String] { lock.withLock { logLines } }
    var stored: [StoredFile] { lock.withLock { storedFiles } }

    func progress(_ progress: ModelKit.Progress) { lock.withLock { progressLog.append(progress) } }
    func log(_ message: String, level: LogLevel) { lock.withLock { logLines.append(message) } }

    var isCancelled: Bool {
        lock.withLock { cancelAfterProgress.map { progressLog.count >= $0 } ?? false }
    }

    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        if url.hasPrefix("data:") {
            do {
                let uri = try DataURI(parsing: url, maxBytes: 1 << 30)
                return FetchedFile(data: Data(uri.payload), contentType: uri.mimeType, fileName: nil)
            } catch let error as MediaError {
                throw ModelError(.fileDownloadError, "\(field): \(error.message)", field: ["body", field])
            }
        }
        let path = url.hasPrefix("file://") ? String(url.dropFirst("file://".count)) : url
        guard path.hasPrefix("/"), let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(.fileDownloadError, "\(field): cannot read \(url)", field: ["body", field])
        }
        return FetchedFile(data: data, contentType: nil, fileName: URL(fileURLWithPath: path).lastPathComponent)
    }

    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        let url = outputDirectory.appendingPathComponent("\(UUID().uuidString)-\(fileName)")
        try data.write(to: url)
        let file = StoredFile(url: url.absoluteString, contentType: contentType, fileName: fileName, fileSize: data.count)
        lock.withLock { storedFiles.append(file) }
        return file
    }
}
