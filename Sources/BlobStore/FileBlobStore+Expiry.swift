import Foundation

extension FileBlobStore {
    /// Rewrites the metadata file (atomically, fsynced): the content is untouched, so a reader
    /// sees the blob throughout.
    public func setExpiry(id: String, expiresAt: Date?) async throws -> Bool {
        guard BlobID.isValid(id) else { return false }
        return try await offload { [self] in
            guard var metadata = try readMetadata(id) else { return false }
            metadata.expiresAt = expiresAt
            do {
                try DurableFile.write(
                    try JSONEncoder().encode(metadata), to: metadataPath(id), temporaryDirectory: temporaryDirectory)
            } catch {
                throw error as? BlobStoreError ?? BlobStoreError(.storage, "cannot update blob \(id)", underlying: error)
            }
            return true
        }
    }
}
