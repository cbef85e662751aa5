import Foundation

/// Limits and lifetimes of a `FileBlobStore`.
public struct FileBlobStoreConfiguration: Sendable {
    /// Largest blob accepted, in bytes (single put or a completed multipart upload).
    public var maxBlobSize: Int64
    /// Largest multipart part, in bytes.
    public var maxPartSize: Int
    /// Highest part number (S3's limit is 10,000).
    public var maxParts: Int
    /// A multipart upload not completed within this is deleted by `sweepExpired`.
    public var uploadTTL: TimeInterval
    /// Most uploads in progress per owner (0: no limit); each holds a directory until it is
    /// completed, aborted or swept.
    public var maxUploadsPerOwner: Int

    /// - Parameters:
    ///   - maxBlobSize: default 5 GiB.
    ///   - maxPartSize: default 512 MiB.
    ///   - maxParts: default 10,000.
    ///   - uploadTTL: default 24 hours.
    ///   - maxUploadsPerOwner: default 0 (no limit).
    public init(
        maxBlobSize: Int64 = 5 << 30, maxPartSize: Int = 512 << 20, maxParts: Int = 10_000,
        uploadTTL: TimeInterval = 24 * 3600, maxUploadsPerOwner: Int = 0
    ) {
        self.maxUploadsPerOwner = maxUploadsPerOwner
        self.maxBlobSize = maxBlobSize
        self.maxPartSize = maxPartSize
        self.maxParts = maxParts
        self.uploadTTL = uploadTTL
    }
}
