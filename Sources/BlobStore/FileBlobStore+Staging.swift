import Foundation

/// Received writes: streamed to `tmp/`, then renamed into place as a blob or a part.
extension FileBlobStore {
    public func stage(_ limits: StagingLimits) async throws -> StagingFile {
        if let uploadID = limits.uploadID {
            guard BlobID.isValid(uploadID) else { throw BlobStoreError(.invalidID, "malformed upload id") }
        }
        var limits = limits
        if let partNumber = limits.partNumber {
            guard (1...configuration.maxParts).contains(partNumber) else {
                throw BlobStoreError(.invalidPart, "part number \(partNumber) is outside 1...\(configuration.maxParts)")
            }
            limits.maxBytes = min(limits.maxBytes, Int64(configuration.maxPartSize))
        } else {
            limits.maxBytes = min(limits.maxBytes, configuration.maxBlobSize)
        }
        let fixed = limits
        return try await offload { [self] in
            try StagingFile(directory: temporaryDirectory, limits: fixed, ledger: ledger)
        }
    }

    public func put(staged: StagingFile, contentType: String, fileName: String?, expiresAt: Date?) async throws
        -> BlobMetadata
    {
        try await offload { [self] in
            var stored: BlobMetadata?
            try staged.commit { path, size, sha256 in
                stored = try commitBlob(
                    temporary: path, size: size, sha256: sha256, contentType: contentType, fileName: fileName,
                    expiresAt: expiresAt, owner: staged.owner)
                ledger.commitBlob(owner: staged.owner, reserved: staged.limit, size: size)
            }
            guard let stored else { throw BlobStoreError(.storage, "blob was not stored") }
            return stored
        }
    }

    public func putPart(uploadID: String, partNumber: Int, staged: StagingFile) async throws -> String {
        guard staged.uploadID == uploadID, staged.partNumber == partNumber else {
            throw BlobStoreError(.invalidPart, "staging file was made for another part")
        }
        return try await offload { [self] in
            _ = try readUpload(uploadID)
            var etag = ""
            try staged.commit { path, size, sha256 in
                try DurableFile.commit(path, to: partPath(uploadID, partNumber))
                ledger.commitPart(uploadID: uploadID, number: partNumber, owner: staged.owner, reserved: staged.limit, size: size)
                etag = String(sha256.prefix(32))
            }
            return etag
        }
    }

    public func completeUpload(uploadID: String, staged: StagingFile) async throws -> BlobMetadata {
        guard staged.uploadID == uploadID, staged.partNumber == nil else {
            throw BlobStoreError(.invalidPart, "staging file was made for another upload")
        }
        return try await offload { [self] in
            let upload = try readUpload(uploadID)
            var stored: BlobMetadata?
            try staged.commit { path, size, sha256 in
                stored = try commitBlob(
                    temporary: path, size: size, sha256: sha256, contentType: upload.contentType,
                    fileName: upload.fileName, expiresAt: upload.expiresAt, id: uploadID, owner: upload.owner)
                ledger.completeUpload(uploadID, owner: staged.owner, reserved: staged.limit, size: size)
            }
            try? FileManager.default.removeItem(atPath: uploadDirectory(uploadID))
            guard let stored else { throw BlobStoreError(.storage, "blob was not stored") }
            return stored
        }
    }

    public func upload(id: String) async throws -> BlobUpload? {
        guard BlobID.isValid(id), let upload = ledger.upload(id) else { return nil }
        return BlobUpload(owner: upload.owner, partCount: upload.parts.count, storedBytes: upload.stored)
    }

    public func storedBytes(owner: String) async throws -> Int64 { ledger.bytes(owner: owner) }

    /// Counts what is on disk: blobs with an owner, and uploads in progress with their parts.
    /// An upload whose blob already exists was completed just before a crash: its leftovers go.
    func rebuildLedger() {
        let files = FileManager.default
        for shard in (try? files.contentsOfDirectory(atPath: root + "/blobs")) ?? [] {
            for name in (try? files.contentsOfDirectory(atPath: root + "/blobs/" + shard)) ?? [] where name.hasSuffix(".json") {
                let id = String(name.dropLast(5))
                guard BlobID.isValid(id), let metadata = try? readMetadata(id, now: .distantPast), metadata.owner != nil
                else { continue }
                ledger.addBlob(owner: metadata.owner, size: metadata.size)
            }
        }
        for uploadID in (try? files.contentsOfDirectory(atPath: root + "/uploads")) ?? [] where BlobID.isValid(uploadID) {
            if files.fileExists(atPath: metadataPath(uploadID)) {
                try? files.removeItem(atPath: uploadDirectory(uploadID))
                continue
            }
            guard let upload = try? readUpload(uploadID) else { continue }
            var parts: [Int: Int64] = [:]
            for name in (try? files.contentsOfDirectory(atPath: uploadDirectory(uploadID))) ?? [] where name.hasPrefix("part-") {
                guard let number = Int(name.dropFirst(5)),
                    let size = (try? files.attributesOfItem(atPath: uploadDirectory(uploadID) + "/" + name))?[.size] as? NSNumber
                else { continue }
                parts[number] = size.int64Value
            }
            try? ledger.addUpload(uploadID, owner: upload.owner, parts: parts)
        }
    }
}
