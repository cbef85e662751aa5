import Crypto
import Foundation

/// A multipart upload in progress, stored as `uploads/<id>/upload.json`.
struct MultipartUpload: Codable {
    var contentType: String
    var fileName: String?
    var expiresAt: Date?
    var createdAt: Date
}

extension FileBlobStore {
    func uploadDirectory(_ uploadID: String) -> String { root + "/uploads/" + uploadID }
    func partPath(_ uploadID: String, _ partNumber: Int) -> String { uploadDirectory(uploadID) + "/part-\(partNumber)" }

    /// A part's etag: the first 128 bits of its SHA-256, in hex.
    static func etag(_ digest: SHA256.Digest) -> String { String(digest.hexString.prefix(32)) }

    public func beginMultipart(contentType: String, fileName: String?, expiresAt: Date?) async throws -> String {
        try await offload { [self] in
            let uploadID = BlobID.make()
            let directory = uploadDirectory(uploadID)
            let upload = MultipartUpload(contentType: contentType, fileName: fileName, expiresAt: expiresAt, createdAt: Date())
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                try DurableFile.write(
                    try JSONEncoder().encode(upload), to: directory + "/upload.json", temporaryDirectory: temporaryDirectory)
            } catch {
                throw error as? BlobStoreError ?? BlobStoreError(.storage, "cannot begin upload", underlying: error)
            }
            return uploadID
        }
    }

    public func putPart(uploadID: String, partNumber: Int, data: Data) async throws -> String {
        guard BlobID.isValid(uploadID) else { throw BlobStoreError(.invalidID, "malformed upload id") }
        guard (1...configuration.maxParts).contains(partNumber) else {
            throw BlobStoreError(.invalidPart, "part number \(partNumber) is outside 1...\(configuration.maxParts)")
        }
        guard data.count <= configuration.maxPartSize else {
            throw BlobStoreError(.tooLarge, "part of \(data.count) bytes is over the limit of \(configuration.maxPartSize)")
        }
        return try await offload { [self] in
            _ = try readUpload(uploadID)
            try DurableFile.write(data, to: partPath(uploadID, partNumber), temporaryDirectory: temporaryDirectory)
            return Self.etag(SHA256.hash(data: data))
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
            let metadata = try commitBlob(
                temporary: temporary, size: size, sha256: whole.finalize().hexString,
                contentType: upload.contentType, fileName: upload.fileName, expiresAt: upload.expiresAt)
            try? FileManager.default.removeItem(atPath: uploadDirectory(uploadID))
            return metadata
        }
    }

    public func abortMultipart(uploadID: String) async throws {
        guard BlobID.isValid(uploadID) else { return }
        try await offload { [self] in
            try? FileManager.default.removeItem(atPath: uploadDirectory(uploadID))
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
