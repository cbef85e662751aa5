import BlobStore
import Foundation

/// Upload ids handed out before their blob exists (a file URL is promised when the upload
/// starts), mapped to the blob each became once completed. One small file per upload under
/// `$PEREGRINE_HOME/upload-index`, written atomically.
public struct UploadIndex: Sendable {
    /// Where the entries live.
    public let directory: URL

    /// - Parameter directory: where the entries live (created when missing).
    /// - Throws: file-system errors creating it.
    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Records that id `uploadID` names blob `blobID` (a completed upload, or a file URL the
    /// result cache handed out for a stored output), durably: a request answered with the URL
    /// must find the file after a crash.
    public func record(uploadID: String, blobID: String) throws {
        guard Self.isID(uploadID), Self.isID(blobID) else { return }
        // The temporary name is not an id, so `prune` and lookups never see a half-written entry.
        try DurableFile.write(Data(blobID.utf8), to: directory.appendingPathComponent(uploadID).path, temporaryDirectory: directory.path)
    }

    /// The blob a completed upload became, or `nil`.
    public func blobID(for uploadID: String) -> String? {
        guard Self.isID(uploadID), let data = try? Data(contentsOf: directory.appendingPathComponent(uploadID)) else { return nil }
        let id = String(decoding: data, as: UTF8.self)
        return Self.isID(id) ? id : nil
    }

    /// Blob and upload ids: 32 lowercase hex digits (never a path).
    public static func isID(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Removes entries whose blob no longer exists (swept or deleted).
    /// - Returns: how many were removed.
    public func prune(blobExists: (String) async throws -> Bool) async -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var removed = 0
        for uploadID in files where Self.isID(uploadID) {
            guard let blobID = blobID(for: uploadID), (try? await blobExists(blobID)) == false else { continue }
            if (try? FileManager.default.removeItem(at: directory.appendingPathComponent(uploadID))) != nil { removed += 1 }
        }
        return removed
    }
}
