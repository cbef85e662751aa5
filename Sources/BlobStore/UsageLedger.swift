import Foundation

/// Bytes on disk per owner and per multipart upload, kept in memory so that quota checks do not
/// scan the store. Rebuilt from the files when a store is opened; afterwards every write,
/// reservation and deletion goes through it under one lock, so two concurrent writes of one
/// owner (or two parts of one upload) can never both fit in the same free space.
///
/// Owner bytes count uploaded blobs (until deleted or swept), stored parts of uploads in
/// progress, and reservations of writes being received.
///
/// `@unchecked Sendable`: all state is touched only under `lock`.
final class UsageLedger: @unchecked Sendable {
    struct Upload {
        var owner: String?
        /// Sizes of the stored parts by part number.
        var parts: [Int: Int64] = [:]
        /// Sum of `parts`.
        var stored: Int64 = 0
        /// Bytes reserved by parts being received.
        var reserved: Int64 = 0
    }

    private let lock = NSLock()
    private var owners: [String: Int64] = [:]
    private var uploads: [String: Upload] = [:]
    /// Uploads in progress per owner.
    private var pending: [String: Int] = [:]

    /// Bytes of `owner` (stored and reserved).
    func bytes(owner: String) -> Int64 { lock.withLock { owners[owner] ?? 0 } }

    /// Uploads in progress of `owner`.
    func uploadCount(owner: String) -> Int { lock.withLock { pending[owner] ?? 0 } }

    /// The upload's owner and part sizes, or `nil` when no such upload is known.
    func upload(_ id: String) -> Upload? { lock.withLock { uploads[id] } }

    /// Registers an upload (at begin, or found on disk when the store opens).
    /// - Parameter limit: most uploads in progress per owner (0: no limit).
    /// - Throws: `.quotaExceeded` when `owner` already has `limit` uploads in progress.
    func addUpload(_ id: String, owner: String?, parts: [Int: Int64] = [:], limit: Int = 0) throws {
        try lock.withLock {
            if let owner, limit > 0, (pending[owner] ?? 0) >= limit {
                throw BlobStoreError(.quotaExceeded, "\(limit) uploads are already in progress for this key")
            }
            var upload = Upload(owner: owner, parts: parts)
            upload.stored = parts.values.reduce(0, +)
            uploads[id] = upload
            add(owner, upload.stored)
            if let owner { pending[owner, default: 0] += 1 }
        }
    }

    /// Adds a stored blob of `owner` (found on disk when the store opens).
    func addBlob(owner: String?, size: Int64) { lock.withLock { add(owner, size) } }

    /// Removes a deleted or swept blob of `owner`.
    func removeBlob(owner: String?, size: Int64) { lock.withLock { add(owner, -size) } }

    /// Removes an aborted or swept upload with its parts (writes still being received release
    /// their own reservations).
    func removeUpload(_ id: String) {
        lock.withLock {
            guard let upload = uploads.removeValue(forKey: id) else { return }
            add(upload.owner, -upload.stored)
            finished(upload.owner)
        }
    }

    /// Reserves room for a write of at most `maxBytes` (exactly `declared` when the sender
    /// declared its length), bounded by the owner's quota and, for a part, by the upload's total.
    /// - Returns: the bytes reserved, which bound the write, and the owner they count against
    ///   (an upload's parts count against the owner recorded when it began).
    /// - Throws: `.quotaExceeded` or `.tooLarge` when not even the declared length (or one byte)
    ///   fits; `.notFound` for an unknown upload.
    ///   `quotaBinds` tells whether the owner's quota, rather than a size limit, set the bytes.
    func reserve(_ limits: StagingLimits) throws -> (bytes: Int64, owner: String?, quotaBinds: Bool) {
        try lock.withLock {
            var room = limits.maxBytes
            var quotaBinds = false
            var owner = limits.owner
            if let id = limits.uploadID {
                guard let upload = uploads[id] else { throw BlobStoreError(.notFound, "no upload \(id)") }
                owner = upload.owner
                if let maxTotal = limits.maxUploadTotal {
                    let replaced = limits.partNumber.flatMap { upload.parts[$0] } ?? 0
                    let used = upload.stored - replaced + upload.reserved
                    room = min(room, max(0, maxTotal.subtractingClamped(used)))
                }
            }
            if let owner, limits.ownerQuota > 0 {
                let free = max(0, limits.ownerQuota.subtractingClamped(owners[owner] ?? 0))
                if free < room {
                    room = free
                    quotaBinds = true
                }
            }
            let needed = limits.declaredBytes ?? 1
            guard room >= needed else {
                if quotaBinds {
                    throw BlobStoreError(.quotaExceeded, "upload quota of \(limits.ownerQuota) bytes is used up (\(room) bytes free)")
                }
                throw BlobStoreError(.tooLarge, "upload is over the limit (\(room) bytes left of it)")
            }
            if let declared = limits.declaredBytes { room = declared }
            if let id = limits.uploadID { uploads[id]?.reserved += room }
            add(owner, room)
            return (room, owner, quotaBinds && limits.declaredBytes == nil)
        }
    }

    /// Returns an unused reservation.
    func release(owner: String?, uploadID: String?, reserved: Int64) {
        lock.withLock {
            if let id = uploadID { uploads[id]?.reserved -= reserved }
            add(owner, -reserved)
        }
    }

    /// A reserved write became a blob of `size` bytes.
    func commitBlob(owner: String?, reserved: Int64, size: Int64) { lock.withLock { add(owner, size - reserved) } }

    /// A reserved write became part `number` of upload `id`, replacing any earlier one.
    /// `owner` is the reservation's, which is returned even if the upload ended meanwhile.
    func commitPart(uploadID id: String, number: Int, owner: String?, reserved: Int64, size: Int64) {
        lock.withLock {
            guard var upload = uploads[id] else {
                add(owner, -reserved)
                return
            }
            let replaced = upload.parts[number] ?? 0
            upload.parts[number] = size
            upload.stored += size - replaced
            upload.reserved -= reserved
            uploads[id] = upload
            add(upload.owner, size - replaced - reserved)
        }
    }

    /// Upload `id` became a blob of `size` bytes (its parts are gone), less `reserved` bytes of
    /// a write that became the blob directly.
    /// A completion that lost a race with another one returns its reservation (`owner`'s);
    /// the blob it rewrote was counted by the first.
    func completeUpload(_ id: String, owner: String? = nil, reserved: Int64 = 0, size: Int64) {
        lock.withLock {
            guard let upload = uploads.removeValue(forKey: id) else {
                add(owner, -reserved)
                return
            }
            add(upload.owner, size - upload.stored - reserved)
            finished(upload.owner)
        }
    }

    private func finished(_ owner: String?) {
        guard let owner, let count = pending[owner] else { return }
        pending[owner] = count > 1 ? count - 1 : nil
    }

    private func add(_ owner: String?, _ delta: Int64) {
        guard let owner, delta != 0 else { return }
        let total = (owners[owner] ?? 0) + delta
        owners[owner] = total > 0 ? total : nil
    }
}

extension Int64 {
    /// `self - other`, clamped instead of trapping on overflow.
    func subtractingClamped(_ other: Int64) -> Int64 {
        let (result, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : result
    }
}
