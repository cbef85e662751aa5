import Crypto
import Foundation

/// Blobs as files under one root directory (the embedded default, `$PEREGRINE_HOME/files`).
///
/// Layout: `blobs/<first two hex digits>/<id>` holds the content and `<id>.json` its metadata;
/// `uploads/<upload id>/` holds multipart uploads in progress; `tmp/` holds files being written.
/// Content is written to `tmp/`, fsynced and renamed into place, and the metadata file is
/// committed last, so a blob exists exactly when its metadata file does.
///
/// Quota accounting (bytes per owner, parts per upload) is kept in memory and rebuilt from the
/// files when the store is opened: open one store per root in a process.
public struct FileBlobStore: BlobStore {
    /// The root directory.
    public let root: String
    /// Size limits and upload lifetime.
    public let configuration: FileBlobStoreConfiguration

    static let chunkSize = 1 << 20

    /// Bytes per owner and parts per upload.
    let ledger = UsageLedger()

    /// Opens (creating its directories if needed) a store under `root`.
    /// - Throws: `BlobStoreError.storage` when the directories cannot be created.
    public init(root: String, configuration: FileBlobStoreConfiguration = .init()) throws {
        self.root = root
        self.configuration = configuration
        do {
            for directory in ["blobs", "uploads", "tmp"] {
                try FileManager.default.createDirectory(
                    atPath: root + "/" + directory, withIntermediateDirectories: true)
            }
        } catch {
            throw BlobStoreError(.storage, "cannot create blob store under \(root)", underlying: error)
        }
        rebuildLedger()
    }

    // MARK: Paths (ids are validated before any of these is called)

    var temporaryDirectory: String { root + "/tmp" }
    func shardDirectory(_ id: String) -> String { root + "/blobs/" + id.prefix(2) }
    func dataPath(_ id: String) -> String { shardDirectory(id) + "/" + id }
    func metadataPath(_ id: String) -> String { shardDirectory(id) + "/" + id + ".json" }
    func temporaryPath() -> String { temporaryDirectory + "/" + UUID().uuidString }

    // MARK: BlobStore

    public func put(_ data: Data, contentType: String, fileName: String?, expiresAt: Date?) async throws -> BlobMetadata {
        guard Int64(data.count) <= configuration.maxBlobSize else {
            throw BlobStoreError(.tooLarge, "blob of \(data.count) bytes is over the limit of \(configuration.maxBlobSize)")
        }
        return try await offload { [self] in
            let temporary = temporaryPath()
            try DurableFile.create(temporary) { fd in try DurableFile.write(data, to: fd, path: temporary) }
            let digest = SHA256.hash(data: data).hexString
            return try commitBlob(
                temporary: temporary, size: Int64(data.count), sha256: digest, contentType: contentType,
                fileName: fileName, expiresAt: expiresAt)
        }
    }

    public func put(fileAt path: String, contentType: String, fileName: String?, expiresAt: Date?) async throws
        -> BlobMetadata
    {
        try await offload { [self] in
            guard let source = FileHandle(forReadingAtPath: path) else {
                throw BlobStoreError(.notFound, "cannot read \(path)")
            }
            defer { try? source.close() }
            let temporary = temporaryPath()
            var hasher = SHA256()
            var size: Int64 = 0
            try DurableFile.create(temporary) { fd in
                while let chunk = try source.read(upToCount: Self.chunkSize), !chunk.isEmpty {
                    size += Int64(chunk.count)
                    guard size <= configuration.maxBlobSize else {
                        throw BlobStoreError(.tooLarge, "file is over the limit of \(configuration.maxBlobSize) bytes")
                    }
                    hasher.update(data: chunk)
                    try DurableFile.write(chunk, to: fd, path: temporary)
                }
            }
            return try commitBlob(
                temporary: temporary, size: size, sha256: hasher.finalize().hexString, contentType: contentType,
                fileName: fileName, expiresAt: expiresAt)
        }
    }

    public func metadata(id: String) async throws -> BlobMetadata? {
        guard BlobID.isValid(id) else { return nil }
        return try await offload { [self] in try readMetadata(id) }
    }

    public func get(id: String) async throws -> Blob? {
        guard BlobID.isValid(id) else { return nil }
        return try await offload { [self] in
            guard let metadata = try readMetadata(id) else { return nil }
            guard let data = FileManager.default.contents(atPath: dataPath(id)) else {
                return try missingContent(id)
            }
            return Blob(metadata: metadata, data: data)
        }
    }

    public func open(id: String) async throws -> (any BlobReader)? {
        guard BlobID.isValid(id) else { return nil }
        return try await offload { [self] () -> FileBlobReader? in
            guard let metadata = try readMetadata(id) else { return nil }
            let path = dataPath(id)
            guard let handle = FileHandle(forReadingAtPath: path) else {
                return try missingContent(id)
            }
            return FileBlobReader(metadata: metadata, path: path, handle: handle)
        }
    }

    /// The metadata file goes first: from then on the blob does not exist for readers.
    public func delete(id: String) async throws -> Bool {
        guard BlobID.isValid(id) else { return false }
        return try await offload { [self] in
            let metadata = try? readMetadata(id, now: .distantPast)
            guard unlink(metadataPath(id)) == 0 else { return false }
            if let metadata { ledger.removeBlob(owner: metadata.owner, size: metadata.size) }
            unlink(dataPath(id))
            try DurableFile.syncDirectory(shardDirectory(id))
            return true
        }
    }

    // MARK: Shared steps

    /// Moves a written, fsynced temporary file into place under `id` (a new one by default) and
    /// commits its metadata: the one step after which the blob exists.
    func commitBlob(
        temporary: String, size: Int64, sha256: String, contentType: String, fileName: String?, expiresAt: Date?,
        id: String = BlobID.make(), owner: String? = nil
    ) throws -> BlobMetadata {
        let metadata = BlobMetadata(
            id: id, contentType: contentType, fileName: fileName, size: size, sha256: sha256,
            createdAt: Date(), expiresAt: expiresAt, owner: owner)
        do {
            try FileManager.default.createDirectory(atPath: shardDirectory(metadata.id), withIntermediateDirectories: true)
            try DurableFile.commit(temporary, to: dataPath(metadata.id))
            try DurableFile.write(
                try JSONEncoder().encode(metadata), to: metadataPath(metadata.id), temporaryDirectory: temporaryDirectory)
        } catch {
            unlink(temporary)
            unlink(dataPath(metadata.id))
            throw error as? BlobStoreError ?? BlobStoreError(.storage, "cannot store blob", underlying: error)
        }
        return metadata
    }

    /// The content vanished after the metadata was read: a concurrent `delete` (metadata goes
    /// first, so it is gone now) means "no such blob"; otherwise the store is damaged.
    func missingContent<T>(_ id: String) throws -> T? {
        if !FileManager.default.fileExists(atPath: metadataPath(id)) { return nil }
        throw BlobStoreError(.storage, "blob \(id) has metadata but no content")
    }

    /// The blob's metadata; `nil` when absent or expired (an expired blob is gone even before
    /// the sweeper deletes its files).
    func readMetadata(_ id: String, now: Date = Date()) throws -> BlobMetadata? {
        guard let data = FileManager.default.contents(atPath: metadataPath(id)) else { return nil }
        do {
            let metadata = try JSONDecoder().decode(BlobMetadata.self, from: data)
            if let expiresAt = metadata.expiresAt, expiresAt <= now { return nil }
            return metadata
        } catch {
            throw BlobStoreError(.storage, "metadata of blob \(id) is unreadable", underlying: error)
        }
    }
}

extension Digest {
    /// Lowercase hex of the digest bytes.
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
