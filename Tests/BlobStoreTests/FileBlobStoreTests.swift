import Foundation
import Testing

@testable import BlobStore

private func makeStore(_ configuration: FileBlobStoreConfiguration = .init()) throws -> FileBlobStore {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-blobs-\(UUID().uuidString)").path
    return try FileBlobStore(root: root, configuration: configuration)
}

private func randomData(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
}

private func code(of body: () async throws -> Void) async -> BlobStoreError.Code? {
    do {
        try await body()
        return nil
    } catch let error as BlobStoreError {
        return error.code
    } catch {
        return .storage
    }
}

@Suite("FileBlobStore")
struct FileBlobStoreTests {
    @Test func putGetDelete() async throws {
        let store = try makeStore()
        let data = randomData(10_000)
        let expiry = Date(timeIntervalSince1970: 4_000_000_000)
        let stored = try await store.put(data, contentType: "image/png", fileName: "cat.png", expiresAt: expiry)
        #expect(BlobID.isValid(stored.id))
        #expect(stored.size == 10_000 && stored.contentType == "image/png" && stored.fileName == "cat.png")
        #expect(stored.expiresAt == expiry)
        let blob = try #require(try await store.get(id: stored.id))
        #expect(blob.data == data && blob.metadata == stored)
        #expect(try await store.metadata(id: stored.id) == stored)
        #expect(try await store.delete(id: stored.id))
        #expect(try await store.get(id: stored.id) == nil)
        #expect(try await store.delete(id: stored.id) == false)
    }

    @Test func idsAreUniqueAndUnguessable() async throws {
        let store = try makeStore()
        var ids = Set<String>()
        for _ in 0..<50 { ids.insert(try await store.put(Data("x".utf8), contentType: "text/plain", fileName: nil, expiresAt: nil).id) }
        #expect(ids.count == 50)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
    }

    @Test(arguments: ["../../etc/passwd", "..", "", "ABCDEF0123456789ABCDEF0123456789", "0123456789abcdef0123456789abcde/", "0123456789abcdef0123456789abcdef0"])
    func malformedIDsNeverTouchTheFilesystem(id: String) async throws {
        let store = try makeStore()
        #expect(try await store.get(id: id) == nil)
        #expect(try await store.metadata(id: id) == nil)
        #expect(try await store.open(id: id) == nil)
        #expect(try await store.delete(id: id) == false)
        #expect(await code { _ = try await store.putPart(uploadID: id, partNumber: 1, data: Data()) } == .invalidID)
        #expect(await code { _ = try await store.completeMultipart(uploadID: id, parts: [BlobPart(partNumber: 1, etag: "x")]) } == .invalidID)
    }

    @Test func sizeLimitsAreEnforced() async throws {
        let store = try makeStore(FileBlobStoreConfiguration(maxBlobSize: 1000, maxPartSize: 600, maxParts: 3))
        #expect(await code { _ = try await store.put(randomData(1001), contentType: "a/b", fileName: nil, expiresAt: nil) } == .tooLarge)
        _ = try await store.put(randomData(1000), contentType: "a/b", fileName: nil, expiresAt: nil)
        let upload = try await store.beginMultipart(contentType: "a/b", fileName: nil, expiresAt: nil)
        #expect(await code { _ = try await store.putPart(uploadID: upload, partNumber: 1, data: randomData(601)) } == .tooLarge)
        #expect(await code { _ = try await store.putPart(uploadID: upload, partNumber: 4, data: randomData(1)) } == .invalidPart)
        #expect(await code { _ = try await store.putPart(uploadID: upload, partNumber: 0, data: randomData(1)) } == .invalidPart)
        let a = try await store.putPart(uploadID: upload, partNumber: 1, data: randomData(600))
        let b = try await store.putPart(uploadID: upload, partNumber: 2, data: randomData(600))
        #expect(await code { _ = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 1, etag: a), .init(partNumber: 2, etag: b)]) } == .tooLarge)
        let sizeFile = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString)")
        try randomData(1001).write(to: sizeFile)
        #expect(await code { _ = try await store.put(fileAt: sizeFile.path, contentType: "a/b", fileName: nil, expiresAt: nil) } == .tooLarge)
        // Nothing half-written is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp").isEmpty)
    }

    @Test func multipartUploadJoinsPartsInOrder() async throws {
        let store = try makeStore()
        let parts = (0..<3).map { _ in randomData(70_000) }
        let upload = try await store.beginMultipart(contentType: "video/mp4", fileName: "clip.mp4", expiresAt: nil)
        // Parts may arrive in any order and be re-sent.
        let etag3 = try await store.putPart(uploadID: upload, partNumber: 3, data: parts[2])
        _ = try await store.putPart(uploadID: upload, partNumber: 1, data: randomData(5))
        let etag1 = try await store.putPart(uploadID: upload, partNumber: 1, data: parts[0])
        let etag2 = try await store.putPart(uploadID: upload, partNumber: 2, data: parts[1])
        #expect(Set([etag1, etag2, etag3]).count == 3)
        // Wrong order, wrong etag and missing parts are refused.
        #expect(await code { _ = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 2, etag: etag2), .init(partNumber: 1, etag: etag1)]) } == .invalidPart)
        #expect(await code { _ = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 1, etag: etag2)]) } == .invalidPart)
        #expect(await code { _ = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 4, etag: etag1)]) } == .invalidPart)

        let blob = try await store.completeMultipart(
            uploadID: upload,
            parts: [.init(partNumber: 1, etag: etag1), .init(partNumber: 2, etag: "\"\(etag2)\""), .init(partNumber: 3, etag: etag3)])
        #expect(blob.size == 210_000 && blob.fileName == "clip.mp4" && blob.contentType == "video/mp4")
        #expect(try await store.get(id: blob.id)?.data == parts[0] + parts[1] + parts[2])
        // The upload is gone once completed.
        #expect(await code { _ = try await store.putPart(uploadID: upload, partNumber: 1, data: Data()) } == .notFound)
    }

    @Test func abortedUploadsAreGone() async throws {
        let store = try makeStore()
        let upload = try await store.beginMultipart(contentType: "a/b", fileName: nil, expiresAt: nil)
        let etag = try await store.putPart(uploadID: upload, partNumber: 1, data: randomData(10))
        try await store.abortMultipart(uploadID: upload)
        #expect(await code { _ = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 1, etag: etag)]) } == .notFound)
        #expect(await code { _ = try await store.putPart(uploadID: BlobID.make(), partNumber: 1, data: Data()) } == .notFound)
    }

    @Test func streamingReadsReturnTheWholeBlob() async throws {
        let store = try makeStore()
        let data = randomData(3 * FileBlobStore.chunkSize + 123)
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("src-\(UUID().uuidString)")
        try data.write(to: source)
        let stored = try await store.put(fileAt: source.path, contentType: "application/octet-stream", fileName: "x.bin", expiresAt: nil)
        #expect(stored.size == Int64(data.count))
        let reader = try #require(try await store.open(id: stored.id))
        #expect(reader.metadata == stored)
        let path = try #require(reader.localPath)
        #expect(FileManager.default.contents(atPath: path) == data)
        var read = Data()
        while true {
            let chunk = try await reader.read(upTo: 100_000)
            if chunk.isEmpty { break }
            #expect(chunk.count <= 100_000)
            read.append(chunk)
        }
        #expect(read == data)
        try await reader.close()
        await #expect(throws: BlobStoreError.self) { _ = try await reader.read(upTo: 10) }
    }

    @Test func sweepDeletesExpiredBlobsAndStaleUploads() async throws {
        let store = try makeStore(FileBlobStoreConfiguration(uploadTTL: 60))
        let now = Date()
        let expired = try await store.put(Data("a".utf8), contentType: "text/plain", fileName: nil, expiresAt: now.addingTimeInterval(10))
        let kept = try await store.put(Data("b".utf8), contentType: "text/plain", fileName: nil, expiresAt: now.addingTimeInterval(1000))
        let forever = try await store.put(Data("c".utf8), contentType: "text/plain", fileName: nil, expiresAt: nil)
        let upload = try await store.beginMultipart(contentType: "a/b", fileName: nil, expiresAt: nil)
        #expect(try await store.sweepExpired(now: now).isEmpty)
        // Measured from after the upload began, so the upload is past its TTL however long the
        // set-up took on a loaded machine.
        let later = Date().addingTimeInterval(100)
        #expect(try await store.sweepExpired(now: later) == [expired.id])
        #expect(FileManager.default.fileExists(atPath: store.dataPath(expired.id)) == false)
        #expect(try await store.metadata(id: kept.id) != nil)
        #expect(try await store.metadata(id: forever.id) != nil)
        #expect(await code { _ = try await store.putPart(uploadID: upload, partNumber: 1, data: Data()) } == .notFound)
    }

    @Test func blobsSurviveReopeningTheStore() async throws {
        let first = try makeStore()
        let stored = try await first.put(Data("durable".utf8), contentType: "text/plain", fileName: "d.txt", expiresAt: nil)
        let second = try FileBlobStore(root: first.root)
        #expect(try await second.get(id: stored.id)?.data == Data("durable".utf8))
        #expect(try await second.get(id: stored.id)?.metadata == stored)
    }
}
