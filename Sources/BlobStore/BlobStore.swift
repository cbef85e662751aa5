import Foundation

/// Where inputs and outputs live: uploaded files, model outputs served back as URLs.
///
/// Ids are unguessable (128 random bits): knowing a blob's URL is what grants reading it.
/// Drivers: the filesystem (`FileBlobStore`, the default); PostgreSQL and S3-compatible later.
public protocol BlobStore: Sendable {
    /// Stores `data` as a new blob.
    /// - Parameters:
    ///   - contentType: MIME type served back with the blob.
    ///   - fileName: the name the client gave the file, if any.
    ///   - expiresAt: after this instant `sweepExpired` deletes the blob; `nil` keeps it.
    /// - Throws: `BlobStoreError.tooLarge` over the size limit, `.storage` on I/O failure.
    func put(_ data: Data, contentType: String, fileName: String?, expiresAt: Date?) async throws -> BlobMetadata

    /// Stores the file at `path` as a new blob (copied in chunks, so it need not fit in memory).
    func put(fileAt path: String, contentType: String, fileName: String?, expiresAt: Date?) async throws
        -> BlobMetadata

    /// The blob's metadata, or `nil` when there is no such blob (or the id is malformed).
    func metadata(id: String) async throws -> BlobMetadata?

    /// The whole blob in memory, or `nil`. Use `open` for large blobs.
    func get(id: String) async throws -> Blob?

    /// Opens the blob for streaming reads, or `nil`. The caller closes the reader.
    func open(id: String) async throws -> (any BlobReader)?

    /// Deletes a blob; false when there was none.
    func delete(id: String) async throws -> Bool

    /// Changes when `sweepExpired` may delete a blob (`nil`: never), durably. The result cache
    /// pins the blobs its entries reference this way and hands them back to the sweeper, with
    /// the latest lifetime any URL to them was promised, when no entry references them.
    /// - Returns: false when there is no such blob (or it already expired).
    func setExpiry(id: String, expiresAt: Date?) async throws -> Bool

    /// Deletes blobs whose `expiresAt` is at or before `now`, and abandoned multipart uploads.
    /// - Returns: the ids of the deleted blobs.
    func sweepExpired(now: Date) async throws -> [String]

    /// Starts a multipart upload; parts are added with `putPart` and joined by `completeMultipart`
    /// (or the whole file is given at once to `completeUpload`). The blob it becomes has the
    /// upload's id, so a file URL promised at the start is valid the moment it completes.
    /// - Parameter owner: whose quota the upload's bytes count against (`nil`: nobody's).
    /// - Returns: the upload id.
    func beginMultipart(contentType: String, fileName: String?, expiresAt: Date?, owner: String?) async throws -> String

    /// An upload in progress, or `nil` when there is none (or the id is malformed). Cheap: answers
    /// from memory, so callers check it before accepting a body.
    func upload(id: String) async throws -> BlobUpload?

    /// Bytes `owner` holds: uploaded blobs until deleted or swept, parts of uploads in progress,
    /// and writes being received.
    func storedBytes(owner: String) async throws -> Int64

    /// Opens a staging file for a write about to be received, reserving its room under `limits`.
    /// - Throws: `BlobStoreError.quotaExceeded` or `.tooLarge` when the declared length (or any
    ///   byte at all) does not fit; `.notFound` for an unknown upload; `.storage` on I/O failure.
    func stage(_ limits: StagingLimits) async throws -> StagingFile

    /// Stores a received staging file as a new blob (moved into place, not copied).
    func put(staged: StagingFile, contentType: String, fileName: String?, expiresAt: Date?) async throws -> BlobMetadata

    /// Stores a received staging file as part `partNumber` of an upload (moved into place).
    /// - Returns: the part's entity tag.
    func putPart(uploadID: String, partNumber: Int, staged: StagingFile) async throws -> String

    /// Completes an upload whose whole content is one received staging file.
    func completeUpload(uploadID: String, staged: StagingFile) async throws -> BlobMetadata

    /// Stores part `partNumber` (1-based) of an upload, replacing an earlier part with that number.
    /// - Returns: the part's entity tag, to be handed back to `completeMultipart`.
    /// - Throws: `BlobStoreError.notFound` for an unknown upload, `.invalidPart` for a bad number,
    ///   `.tooLarge` over the part size limit.
    func putPart(uploadID: String, partNumber: Int, data: Data) async throws -> String

    /// Joins the listed parts, in the listed order, into one blob and ends the upload.
    /// - Throws: `BlobStoreError.invalidPart` when a part is missing, out of order, or its etag
    ///   does not match; `.tooLarge` when the whole is over the blob size limit.
    func completeMultipart(uploadID: String, parts: [BlobPart]) async throws -> BlobMetadata

    /// Ends an upload and deletes its parts; unknown uploads are ignored.
    func abortMultipart(uploadID: String) async throws
}

/// What is known about a stored blob.
public struct BlobMetadata: Sendable, Equatable, Codable {
    /// 32 lowercase hex digits (128 random bits).
    public var id: String
    /// MIME type given when the blob was stored.
    public var contentType: String
    /// The client's file name, if it gave one.
    public var fileName: String?
    /// Size in bytes.
    public var size: Int64
    /// Hex SHA-256 of the content (a strong entity tag).
    public var sha256: String
    /// When the blob was stored.
    public var createdAt: Date
    /// When `sweepExpired` may delete it; `nil` keeps it.
    public var expiresAt: Date?
    /// Whose upload quota the blob counts against (`nil` for outputs).
    public var owner: String?

    /// Creates metadata; stores build these, callers read them.
    public init(
        id: String, contentType: String, fileName: String?, size: Int64, sha256: String, createdAt: Date,
        expiresAt: Date?, owner: String? = nil
    ) {
        self.owner = owner
        self.id = id
        self.contentType = contentType
        self.fileName = fileName
        self.size = size
        self.sha256 = sha256
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A blob read whole.
public struct Blob: Sendable, Equatable {
    /// What is known about the blob.
    public var metadata: BlobMetadata
    /// The content.
    public var data: Data

    /// A blob with its content.
    public init(metadata: BlobMetadata, data: Data) {
        self.metadata = metadata
        self.data = data
    }
}

/// A part named in `completeMultipart`.
public struct BlobPart: Sendable, Equatable, Codable {
    /// 1-based part number.
    public var partNumber: Int
    /// The etag `putPart` returned for it.
    public var etag: String

    /// A part reference.
    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

/// Streaming access to one blob.
public protocol BlobReader: Sendable {
    /// The blob's metadata.
    var metadata: BlobMetadata { get }
    /// A local file holding exactly the blob's bytes, when the store has one (a server can hand it
    /// to a zero-copy file responder); `nil` for remote stores.
    var localPath: String? { get }
    /// The next chunk of at most `maxLength` bytes; empty at the end.
    func read(upTo maxLength: Int) async throws -> Data
    /// Releases the underlying handle. Reading after closing throws.
    func close() async throws
}

/// A multipart upload in progress.
public struct BlobUpload: Sendable, Equatable {
    /// Whose quota its bytes count against.
    public var owner: String?
    /// How many parts are stored.
    public var partCount: Int
    /// Total bytes of the stored parts.
    public var storedBytes: Int64

    /// An upload's state.
    public init(owner: String?, partCount: Int, storedBytes: Int64) {
        self.owner = owner
        self.partCount = partCount
        self.storedBytes = storedBytes
    }
}

extension BlobStore {
    /// Starts a multipart upload that counts against nobody's quota.
    public func beginMultipart(contentType: String, fileName: String?, expiresAt: Date?) async throws -> String {
        try await beginMultipart(contentType: contentType, fileName: fileName, expiresAt: expiresAt, owner: nil)
    }
}
