import Crypto
import Foundation

/// A multipart upload in progress, stored as `uploads/<id>/upload.json`.
struct MultipartUpload: Codable {
    var contentType: String
    var fileName: String?
    var expiresAt: Date?
    var createdAt: Date
    /// Whose quota the upload counts against (recorded at the start, since its parts may be
    /// sent without a key).
    var owner: String?
}

extension FileBlobStore {
    func uploadDirectory(_ uploadID: String) -> String { root + "/uploads/" + uploadID }
    func partPath(_ uploadID: String, _ partNumber: Int) -> String { uploadDirectory(uploadID) + "/part-\(partNumber)" }

    /// A part's etag: the first 128 bits of its SHA-256, in hex.
    static func etag(_ digest: SHA256.Digest) -> String { String(digest.hexString.prefix(32)) }

    public func beginMultipart(contentType: String, fileName: String?, expiresAt: Date?, owner: String?) async throws -> String {
        try await offload { [self] in
            let uploadID = BlobID.make()
            let directory = uploadDirectory(uploadID)
            let upload = MultipartUpload(
                contentType: contentType, fileName: fileName, expiresAt: expiresAt, createdAt: Date(), owner: owner)
            // Counted before the directory exists, so concurrent begins cannot pass the limit.
            try ledger.addUpload(uploadID, owner: owner, limit: configuration.maxUploadsPerOwner)
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                try DurableFile.write(
                    try JSONEncoder().encode(upload), to: directory + "/upload.json", temporaryDirectory: temporaryDirectory)
            } catch {
                ledger.removeUpload(uploadID)
                try? FileManager.default.removeItem(atPath: directory)
                throw error as? BlobStoreError ?? BlobStoreError(.storage, "cannot begin upload", underlying: error)
            }
            return uploadID
        }
    }

    public func putPart(uploadID: String, partNumber: Int, data: Data) async throws -> String {
        let staged = try await stage(
            StagingLimits(maxBytes: Int64(data.count), declaredBytes: Int64(data.count), uploadID: uploadID, partNumber: partNumber))
        do {
            try await staged.append(data)
            return try await putPart(uploadID: uploadID, partNumber: partNumber, staged: staged)
        } catch {
            staged.discard()
            throw error
        }
    }

    public func completeMultipart(uploadID: String, parts: [BlobPart]) async throws -> BlobMetadata {
        guard BlobID.isValid(uploadID) else { throw BlobStoreError(.invalidID, "malformed upload id") }
        guard !parts.isEmpty else { throw BlobStoreError(.invalidPart, "no parts listed") }
        for (previous, next) in zip(parts, parts.dropFirst()) where next.partNumber <= previous.partNumber {
            throw BlobStoreError(.invalidPart, "parts must be listed in ascending order")
        }
        return try await offload { [self] in
            let upload = try readUpload(uploadID)
            let temporary = temporaryPath()
            var whole = SHA256()
            var size: Int64 = 0
            try DurableFile.create(temporary) { fd in
                for part in parts {
                    let path = partPath(uploadID, part.partNumber)
                    guard let source = FileHandle(forReadingAtPath: path) else {
                        throw BlobStoreError(.invalidPart, "part \(part.partNumber) was not uploaded")
                    }
                    defer { try? source.close() }
                    var partHash = SHA256()
                    while let chunk = try source.read(upToCount: Self.chunkSize), !chunk.isEmpty {
                        size += Int64(chunk.count)
                        guard size <= configuration.maxBlobSize else {
                            throw BlobStoreError(.tooLarge, "upload is over the limit of \(configuration.maxBlobSize) bytes")
                        }
                        partHash.update(data: chunk)
                        whole.update(data: chunk)
                        try DurableFile.write(chunk, to: fd, path: temporary)
                    }
                    guard Self.etag(partHash.finalize()) == part.etag.trimmingCharacters(in: ["\""]) else {
                        throw BlobStoreError(.invalidPart, "etag of part \(part.partNumber) does not match")
                    }
                }
            }
            // The blob takes the upload's id: the file URL promised at the start resolves as soon
            // as the metadata is committed, with no second record to lose in a crash.
            let metadata = try commitBlob(
                temporary: temporary, size: size, sha256: whole.finalize().hexString,
                contentType: upload.contentType, fileName: upload.fileName, expiresAt: upload.expiresAt,
                id: uploadID, owner: upload.owner)
            ledger.completeUpload(uploadID, size: size)
            try? FileManager.default.removeItem(atPath: uploadDirectory(uploadID))
            return metadata
        }
    }

    public func abortMultipart(uploadID: String) async throws {
        guard BlobID.isValid(uploadID) else { return }
        try await offload { [self] in
            try? FileManager.default.removeItem(atPath: uploadDirectory(uploadID))
            ledger.removeUpload(uploadID)
        }
    }

    func readUpload(_ uploadID: String) throws -> MultipartUpload {
        guard let data = FileManager.default.contents(atPath: uploadDirectory(uploadID) + "/upload.json") else {
            throw BlobStoreError(.notFound, "no upload \(uploadID)")
        }
        do {
            return try JSONDecoder().decode(MultipartUpload.self, from: data)
        } catch {
            throw BlobStoreError(.storage, "upload \(uploadID) is unreadable", underlying: error)
        }
    }
}
