import Foundation

extension FileBlobStore {
    /// Also removes multipart uploads older than `uploadTTL` and temporary files left by a crash
    /// (older than an hour, so files being written now are left alone).
    public func sweepExpired(now: Date) async throws -> [String] {
        try await offload { [self] in
            let files = FileManager.default
            var deleted: [String] = []
            for shard in (try? files.contentsOfDirectory(atPath: root + "/blobs")) ?? [] {
                for name in (try? files.contentsOfDirectory(atPath: root + "/blobs/" + shard)) ?? []
                where name.hasSuffix(".json") {
                    let id = String(name.dropLast(5))
                    guard BlobID.isValid(id),
                        let data = files.contents(atPath: metadataPath(id)),
                        let metadata = try? JSONDecoder().decode(BlobMetadata.self, from: data),
                        let expiresAt = metadata.expiresAt, expiresAt <= now
                    else { continue }
                    if unlink(metadataPath(id)) == 0 {
                        ledger.removeBlob(owner: metadata.owner, size: metadata.size)
                        unlink(dataPath(id))
                        deleted.append(id)
                    }
                }
            }
            for uploadID in (try? files.contentsOfDirectory(atPath: root + "/uploads")) ?? [] where BlobID.isValid(uploadID) {
                let createdAt = (try? readUpload(uploadID))?.createdAt ?? .distantPast
                if createdAt.addingTimeInterval(configuration.uploadTTL) <= now {
                    try? files.removeItem(atPath: uploadDirectory(uploadID))
                    ledger.removeUpload(uploadID)
                }
            }
            for name in (try? files.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
                let path = temporaryDirectory + "/" + name
                let modified = (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
                if modified.addingTimeInterval(3600) <= now { unlink(path) }
            }
            return deleted.sorted()
        }
    }
}
