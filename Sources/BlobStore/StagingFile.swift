import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a write being received may use, checked before its first byte is accepted.
public struct StagingLimits: Sendable, Equatable {
    /// Most bytes the write may have.
    public var maxBytes: Int64
    /// The length the sender declared (`Content-Length`), when it did: refused at once if it
    /// does not fit, and reserved exactly.
    public var declaredBytes: Int64?
    /// Whose quota the bytes count against (`nil`: nobody's). Ignored for parts, which count
    /// against the owner recorded when their upload began.
    public var owner: String?
    /// Most bytes an owner may hold in the store (uploaded blobs, parts, writes in progress);
    /// 0 means no quota.
    public var ownerQuota: Int64
    /// The multipart upload the write belongs to, if any (must exist).
    public var uploadID: String?
    /// The part number within `uploadID` (its earlier bytes, if any, are about to be replaced).
    public var partNumber: Int?
    /// Most bytes all parts of `uploadID` may add up to.
    public var maxUploadTotal: Int64?

    /// - Parameters:
    ///   - maxBytes: most bytes of this write.
    ///   - declaredBytes: the sender's declared length, if any.
    ///   - owner: whose quota the write counts against.
    ///   - ownerQuota: that owner's quota (0: none).
    ///   - uploadID: the upload of a part, or the upload completed by a whole-file write.
    ///   - partNumber: the part's number.
    ///   - maxUploadTotal: the upload's total limit.
    public init(
        maxBytes: Int64, declaredBytes: Int64? = nil, owner: String? = nil, ownerQuota: Int64 = 0,
        uploadID: String? = nil, partNumber: Int? = nil, maxUploadTotal: Int64? = nil
    ) {
        self.maxBytes = maxBytes
        self.declaredBytes = declaredBytes
        self.owner = owner
        self.ownerQuota = ownerQuota
        self.uploadID = uploadID
        self.partNumber = partNumber
        self.maxUploadTotal = maxUploadTotal
    }
}

/// Bytes being received into a store before they become a blob or a part: written chunk by
/// chunk to a temporary file in the store's own directory (so committing is a rename) while
/// their SHA-256 is computed, never held in memory whole. Its bytes are reserved in the store's
/// quota ledger from creation until they are committed or discarded.
///
/// Create one with `BlobStore.stage(_:)`, `append` the chunks in order, then hand it to
/// `put(staged:...)`, `putPart(uploadID:partNumber:staged:)` or `completeUpload(uploadID:staged:)`;
/// `discard()` it when the transfer fails (dropping the last reference discards it too).
///
/// `@unchecked Sendable`: every mutable field is touched only under `lock`.
public final class StagingFile: @unchecked Sendable {
    /// The temporary file.
    let path: String
    /// The reservation: the most bytes this file may hold.
    public let limit: Int64
    /// Whose quota the bytes count against.
    let owner: String?
    /// Whether `limit` is what is left of the owner's quota (then passing it is `.quotaExceeded`).
    let quotaBinds: Bool
    /// The upload this write belongs to, if any.
    let uploadID: String?
    let partNumber: Int?
    private let ledger: UsageLedger
    private let lock = NSLock()
    private var fd: Int32
    private var hasher = SHA256()
    private var count: Int64 = 0
    private var largest = 0
    private var digest: String?
    private var settled = false

    init(directory: String, limits: StagingLimits, ledger: UsageLedger) throws {
        let (reserved, owner, quotaBinds) = try ledger.reserve(limits)
        path = directory + "/" + UUID().uuidString
        do {
            fd = try DurableFile.openExclusive(path)
        } catch {
            ledger.release(owner: owner, uploadID: limits.uploadID, reserved: reserved)
            throw error
        }
        limit = reserved
        self.quotaBinds = quotaBinds
        self.owner = owner
        uploadID = limits.uploadID
        partNumber = limits.partNumber
        self.ledger = ledger
    }

    /// Bytes written so far.
    public var size: Int64 { lock.withLock { count } }

    /// The largest chunk appended so far: the most bytes this write held in memory at once.
    public var largestChunk: Int { lock.withLock { largest } }

    /// Writes the next chunk (on a Dispatch worker).
    /// - Throws: `BlobStoreError.tooLarge` (the file is discarded) when the chunk would take the
    ///   file past `limit`; `.storage` on I/O failure.
    public func append(_ chunk: Data) async throws {
        try await offload { [self] in
            try lock.withLock {
                guard !settled, digest == nil else { throw BlobStoreError(.storage, "staging file is closed") }
                let (total, overflow) = count.addingReportingOverflow(Int64(chunk.count))
                guard !overflow, total <= limit else {
                    settleLocked()
                    if quotaBinds {
                        throw BlobStoreError(.quotaExceeded, "upload is over what is left of the upload quota (\(limit) bytes)")
                    }
                    throw BlobStoreError(.tooLarge, "upload is over the limit of \(limit) bytes")
                }
                do {
                    try DurableFile.write(chunk, to: fd, path: path)
                } catch {
                    settleLocked()
                    throw error
                }
                hasher.update(data: chunk)
                count = total
                largest = max(largest, chunk.count)
            }
        }
    }

    /// Removes the file and returns its reservation (no effect once committed).
    public func discard() { lock.withLock { settleLocked() } }

    deinit { settleLocked() }

    /// fsyncs and closes the file; answers its size and hex SHA-256. Blocking: call on a worker.
    func finish() throws -> (size: Int64, sha256: String) {
        try lock.withLock {
            guard !settled else { throw BlobStoreError(.storage, "staging file was discarded") }
            if let digest { return (count, digest) }
            do {
                try DurableFile.finish(fd, path: path)
            } catch {
                fd = -1
                settleLocked()
                throw error
            }
            fd = -1
            let hex = hasher.finalize().hexString
            digest = hex
            return (count, hex)
        }
    }

    /// Marks the file as moved into place by `commit` (which updates the ledger itself).
    /// Blocking: call on a worker.
    func commit(_ body: (_ path: String, _ size: Int64, _ sha256: String) throws -> Void) throws {
        let (size, sha256) = try finish()
        try lock.withLock {
            guard !settled else { throw BlobStoreError(.storage, "staging file was discarded") }
            try body(path, size, sha256)
            settled = true
        }
    }

    private func settleLocked() {
        guard !settled else { return }
        settled = true
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
        ledger.release(owner: owner, uploadID: uploadID, reserved: limit)
    }
}
