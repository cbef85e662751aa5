import Foundation

/// One stored result: what a request with this key answered, and the blobs its output names.
public struct ResultCacheEntry: Sendable, Equatable {
    /// The content address (hex SHA-256 of the model identity and the canonical input).
    public var key: String
    /// The model that computed it.
    public var endpointID: String
    /// The output JSON exactly as the first request answered it.
    public var output: Data
    /// Where in `output` each stored file's URL sits, as JSON (see the platform's result cache).
    public var files: Data
    /// The blobs the output names; each entry holds one reference to each.
    public var blobIDs: [String]
    /// Bytes charged to the cache budget: the blobs' sizes plus the output's.
    public var bytes: Int64
    /// The model's own run time, reported again on every hit.
    public var inferenceTime: Double?

    /// - Parameters: each field.
    public init(
        key: String, endpointID: String, output: Data, files: Data, blobIDs: [String], bytes: Int64, inferenceTime: Double?
    ) {
        self.key = key
        self.endpointID = endpointID
        self.output = output
        self.files = files
        self.blobIDs = blobIDs
        self.bytes = bytes
        self.inferenceTime = inferenceTime
    }
}

/// A blob no cache entry references any more: it goes back to the sweeper, to be deleted once
/// the latest lifetime promised to any URL naming it has passed.
public struct ReleasedBlob: Sendable, Equatable {
    /// The blob.
    public var id: String
    /// When its last promised lifetime ends.
    public var releaseAt: Date

    /// - Parameters: each field.
    public init(id: String, releaseAt: Date) {
        self.id = id
        self.releaseAt = releaseAt
    }
}

/// The result cache's durable index: entries by key (least recently used evicted first under a
/// byte budget), reference counts of the blobs they name, the cache key of each queued request
/// that may be answered from or written to the cache, and per-model switches.
///
/// Apart from `JobStore` on purpose: the job queue's drivers owe it nothing, and a deployment
/// without a cache index simply computes every request.
public protocol ResultCacheIndex: Sendable {
    /// The entry for `key`, marked used at `now` (so eviction spares it), or `nil`.
    func entry(key: String, now: Date) async throws -> ResultCacheEntry?

    /// Stores `entry` (replacing one with the same key), takes a reference on each of its blobs
    /// (each to be kept at least until `releaseAt`), then evicts least recently used entries
    /// until the total is within `budget`; all in one transaction, so a crash leaves either no
    /// trace of the entry or all of it.
    /// - Returns: the blobs no entry references any more (evicted entries', or the replaced
    ///   entry's), for the caller to hand back to the sweeper.
    func insert(_ entry: ResultCacheEntry, releaseAt: Date, budget: Int64, now: Date) async throws -> [ReleasedBlob]

    /// Removes the entry for `key` (its blobs vanished, or an operator cleared it).
    /// - Returns: the blobs no entry references any more.
    func remove(key: String) async throws -> [ReleasedBlob]

    /// Records that each blob must live at least until `until` (a hit handed out new URLs to it).
    func extendRelease(blobIDs: [String], until: Date) async throws

    /// Bytes held by all entries.
    func totalBytes() async throws -> Int64

    /// Remembers the key of a queued request, so its runner can join an identical computation
    /// and store what it computes. Written before the job is inserted.
    func setPendingKey(_ key: String, jobID: String) async throws

    /// The key of a request, or `nil` when it is not to be cached.
    func pendingKey(jobID: String) async throws -> String?

    /// Forgets the key of a finished request.
    func clearPendingKey(jobID: String) async throws

    /// A model's runtime switch: `nil` when none was set (the model's own declaration decides).
    func isEnabled(endpointID: String) async throws -> Bool?

    /// Sets (`nil`: clears) a model's runtime switch.
    func setEnabled(_ enabled: Bool?, endpointID: String, now: Date) async throws
}
