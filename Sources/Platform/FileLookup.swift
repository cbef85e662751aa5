import BlobStore
import Foundation

/// Finds a stored file by the id in its URL: a blob id, or an upload id that became a blob.
public enum FileLookup {
    /// Opens a stored file for streaming reads; uploads completed by earlier versions are found
    /// through the upload index (completed uploads now keep their id).
    public static func open(_ id: String, blobs: any BlobStore, uploads: UploadIndex) async throws -> (any BlobReader)? {
        if let reader = try await blobs.open(id: id) { return reader }
        if let blobID = uploads.blobID(for: id) { return try await blobs.open(id: blobID) }
        return nil
    }

    /// The whole stored file named by `id` (a blob id or a completed upload id), or `nil`.
    public static func get(_ id: String, blobs: any BlobStore, uploads: UploadIndex) async throws -> Blob? {
        if let blob = try await blobs.get(id: id) { return blob }
        if let blobID = uploads.blobID(for: id) { return try await blobs.get(id: blobID) }
        return nil
    }
}
