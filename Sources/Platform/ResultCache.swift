import BlobStore
import Crypto
import Foundation
import JobQueue
import Logging
import ModelKit
import Runners

/// The content-addressed result cache: a request to a deterministic model whose key (the
/// model's identity and the canonical input, every input file replaced by the SHA-256 of its
/// bytes) was computed before is answered with the stored output, under new file URLs naming
/// the same blobs; no model is loaded and no runner is taken.
///
/// Write order, so that a crash at any point never serves a partial result: the output blobs are
/// durable before the entry exists (the model stored them), are pinned next (their expiry
/// cleared, so the sweeper keeps them), and only then is the index row with its blob references
/// committed, in one transaction. A crash before that commit leaves no entry (at worst a pinned
/// blob nobody references); a hit also checks that every blob is still there.
public final class ResultCache: JobResultCache, Sendable {
    /// Bumped whenever the engine may compute different bits for the same input and weights (a
    /// kernel or pre/post-processing change): part of every key, so older entries stop matching.
    public static let engineVersion = "peregrine-engine/1"

    /// The durable index.
    public let index: any ResultCacheIndex
    let blobs: any BlobStore
    let uploads: UploadIndex
    let files: BlobFileAccess
    let registry: ModelRegistry
    /// Bytes all entries may hold together (0: the cache is off).
    public let budgetBytes: Int64
    let defaultLifetime: TimeInterval
    let maxInputBytes: Int
    let logger: Logger

    /// - Parameters:
    ///   - index: the durable index.
    ///   - blobs: where outputs live.
    ///   - uploads: the id index new file URLs are recorded in.
    ///   - files: recognizes this server's own file URLs.
    ///   - registry: the served models (their declarations decide what is cached).
    ///   - configuration: the budget, the result lifetime and the input size limit.
    ///   - logger: where failures to store a result are reported (the request is answered anyway).
    public init(
        index: any ResultCacheIndex, blobs: any BlobStore, uploads: UploadIndex, files: BlobFileAccess, registry: ModelRegistry,
        configuration: ServerConfiguration, logger: Logger
    ) {
        self.index = index
        self.blobs = blobs
        self.uploads = uploads
        self.files = files
        self.registry = registry
        budgetBytes = configuration.resultCacheBytes
        defaultLifetime = configuration.resultTTL
        maxInputBytes = configuration.maxUploadBytes
        self.logger = logger
    }

    // MARK: Keys

    /// Whether requests to `entry` may be cached at all: the model declares itself
    /// deterministic, the cache has a budget, and no operator switched it off for the model.
    public func isEnabled(for entry: ModelRegistry.Entry) async -> Bool {
        guard budgetBytes > 0, entry.model.manifest.determinism != .none else { return false }
        return (try? await index.isEnabled(endpointID: entry.model.manifest.endpointID)) ?? true
    }

    /// The cache key of a request, or `nil` when it cannot be cached: the model does not allow it
    /// for this input (a seeded model without an explicit `seed`), or an input file is neither a
    /// `data:` URI nor one of this server's own files (its bytes are not known before the run).
    /// - Parameters:
    ///   - entry: the model.
    ///   - submitted: the body as the caller sent it.
    ///   - validated: the body with the schema's defaults filled in (what the model runs on).
    public func key(for entry: ModelRegistry.Entry, submitted: JSONValue, validated: JSONValue) async -> String? {
        let manifest = entry.model.manifest
        guard manifest.determinism.allowsCaching(of: submitted), let canonical = await canonical(validated) else { return nil }
        var hasher = SHA256()
        for part in [
            "peregrine-result-cache/1", manifest.endpointID, manifest.version, manifest.weightsDigest, Self.engineVersion,
            entry.model.computePath,
        ] {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        hasher.update(data: canonical.encoded())
        return Self.hex(hasher.finalize())
    }

    /// `value` with canonical numbers (an integral double as an integer) and every file replaced
    /// by `sha256:<hex>` of its bytes; `nil` when a file's bytes are unknown before the run.
    func canonical(_ value: JSONValue) async -> JSONValue? {
        switch value {
        case .string(let text):
            let scheme = text.prefix(8).lowercased()
            if scheme.hasPrefix("data:") {
                // A malformed URI stays as it is: the model refuses it, and refusals are not stored.
                guard let file = try? FetchedFile.decoding(dataURI: text, field: "", maxBytes: maxInputBytes) else { return value }
                return .string("sha256:" + Self.hex(SHA256.hash(data: file.data)))
            }
            guard scheme.hasPrefix("http://") || scheme.hasPrefix("https://") else { return value }
            guard let id = files.ownFileID(text), let metadata = try? await metadata(ofFile: id) else { return nil }
            return .string("sha256:" + metadata.sha256)
        case .double(let d):
            if d.rounded() == d, abs(d) < 9_007_199_254_740_992 { return .int(Int64(d)) }
            return value
        case .array(let items):
            var out: [JSONValue] = []
            out.reserveCapacity(items.count)
            for item in items {
                guard let c = await canonical(item) else { return nil }
                out.append(c)
            }
            return .array(out)
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (k, v) in members {
                guard let c = await canonical(v) else { return nil }
                out[k] = c
            }
            return .object(out)
        default:
            return value
        }
    }

    /// The metadata of the blob a file id names (a blob id, or an id recorded in the upload index).
    func metadata(ofFile id: String) async throws -> BlobMetadata? {
        if let m = try await blobs.metadata(id: id) { return m }
        if let blob = uploads.blobID(for: id) { return try await blobs.metadata(id: blob) }
        return nil
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    // MARK: JobResultCache

    public func pendingKey(jobID: String) async -> String? { try? await index.pendingKey(jobID: jobID) }

    public func contains(key: String) async -> Bool { (try? await index.entry(key: key, now: Date())) != nil }

    public func finished(jobID: String) async { try? await index.clearPendingKey(jobID: jobID) }

    /// Where a stored file sits in an output.
    struct FileReference: Codable, Equatable {
        /// Object keys (strings) and array indices (numbers) from the root to the URL string.
        var path: [PathStep]
        var blob: String
        var name: String
    }

    /// One step of a `FileReference` path.
    enum PathStep: Codable, Equatable {
        case key(String)
        case index(Int)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .index(i) } else { self = .key(try c.decode(String.self)) }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .key(let k): try c.encode(k)
            case .index(let i): try c.encode(i)
            }
        }
    }

    public func output(for key: String, lifetime: TimeInterval?) async -> (output: JSONValue, inferenceTime: Double?)? {
        do {
            guard let entry = try await index.entry(key: key, now: Date()),
                var output = try? JSONValue(parsing: entry.output),
                let references = try? JSONDecoder().decode([FileReference].self, from: entry.files)
            else { return nil }
            var names: [String: String] = [:]
            for blob in Set(references.map(\.blob)) {
                guard try await blobs.metadata(id: blob) != nil else {
                    // Never answer with a file that is gone: forget the entry, compute again.
                    await release(try await index.remove(key: key))
                    return nil
                }
                let alias = BlobID.make()
                try uploads.record(uploadID: alias, blobID: blob)
                names[blob] = alias
            }
            for reference in references {
                guard let alias = names[reference.blob] else { continue }
                output = Self.replacing(output, at: reference.path[...], with: .string(FileNames.url(base: files.publicBase, id: alias, name: reference.name)))
            }
            try await index.extendRelease(blobIDs: Array(names.keys), until: Date().addingTimeInterval(lifetime ?? defaultLifetime))
            return (output, entry.inferenceTime)
        } catch {
            logger.warning("result cache read failed; computing", metadata: ["error": "\(error)"])
            return nil
        }
    }

    public func record(key: String, endpointID: String, output: JSONValue, inferenceTime: Double?, lifetime: TimeInterval?) async {
        guard budgetBytes > 0 else { return }
        do {
            var references: [FileReference] = []
            var sizes: [String: Int64] = [:]
            for (path, url) in Self.strings(in: output, path: []) {
                guard let id = files.ownFileID(url), let metadata = try await metadata(ofFile: id) else { continue }
                references.append(FileReference(path: path, blob: metadata.id, name: Self.fileName(of: url) ?? metadata.fileName ?? "file"))
                sizes[metadata.id] = metadata.size
            }
            let body = output.encoded()
            let bytes = sizes.values.reduce(Int64(body.count)) { $0.addingReportingOverflow($1).partialValue }
            guard bytes <= budgetBytes else { return }
            // 1. The blobs are durable already; pin them so the sweeper keeps them.
            for blob in sizes.keys {
                guard try await blobs.setExpiry(id: blob, expiresAt: nil) else { return }
            }
            // 2. Then the entry and its references, in one transaction.
            let entry = ResultCacheEntry(
                key: key, endpointID: endpointID, output: body, files: try JSONEncoder().encode(references),
                blobIDs: Array(sizes.keys), bytes: bytes, inferenceTime: inferenceTime)
            let now = Date()
            let released = try await index.insert(
                entry, releaseAt: now.addingTimeInterval(lifetime ?? defaultLifetime), budget: budgetBytes, now: now)
            await release(released)
        } catch {
            logger.warning("could not store a result in the cache", metadata: ["endpoint": "\(endpointID)", "error": "\(error)"])
        }
    }

    /// Hands blobs no entry references back to the sweeper, with the lifetime their URLs were promised.
    func release(_ released: [ReleasedBlob]) async {
        for blob in released {
            do { _ = try await blobs.setExpiry(id: blob.id, expiresAt: blob.releaseAt) } catch {
                logger.warning("could not unpin a cached blob", metadata: ["blob": "\(blob.id)", "error": "\(error)"])
            }
        }
    }

    /// Every string in `value` with its path.
    static func strings(in value: JSONValue, path: [PathStep]) -> [([PathStep], String)] {
        switch value {
        case .string(let s): return [(path, s)]
        case .array(let items): return items.enumerated().flatMap { strings(in: $1, path: path + [.index($0)]) }
        case .object(let members): return members.sorted { $0.key < $1.key }.flatMap { strings(in: $1, path: path + [.key($0)]) }
        default: return []
        }
    }

    /// `value` with the member at `path` replaced.
    static func replacing(_ value: JSONValue, at path: ArraySlice<PathStep>, with new: JSONValue) -> JSONValue {
        guard let step = path.first else { return new }
        switch (value, step) {
        case (.object(var members), .key(let k)):
            guard let child = members[k] else { return value }
            members[k] = replacing(child, at: path.dropFirst(), with: new)
            return .object(members)
        case (.array(var items), .index(let i)) where items.indices.contains(i):
            items[i] = replacing(items[i], at: path.dropFirst(), with: new)
            return .array(items)
        default:
            return value
        }
    }

    /// The (decoded) last path segment of a `/files/{id}/{name}` URL.
    static func fileName(of url: String) -> String? {
        guard let parsed = URL(string: url) else { return nil }
        let segments = parsed.path.split(separator: "/")
        return segments.count >= 3 ? String(segments[2]) : nil
    }
}
