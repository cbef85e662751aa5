import Crypto
import Foundation
import Testing

@testable import BlobStore

private func makeStore(_ configuration: FileBlobStoreConfiguration = .init()) throws -> FileBlobStore {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-staging-\(UUID().uuidString)").path
    return try FileBlobStore(root: root, configuration: configuration)
}

private func failure(of body: () async throws -> Void) async -> BlobStoreError.Code? {
    do {
        try await body()
        return nil
    } catch let error as BlobStoreError {
        return error.code
    } catch {
        return .storage
    }
}

private func hex(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

@Suite("FileBlobStore staging and quotas")
struct StagingTests {
    @Test func stagedWritesAreMovedIntoPlaceWithTheirDigest() async throws {
        let store = try makeStore()
        let staged = try await store.stage(StagingLimits(maxBytes: 1 << 20, owner: "k", ownerQuota: 1 << 20))
        var whole = Data()
        for i in 0..<10 {
            let chunk = Data(repeating: UInt8(i), count: 1000)
            whole.append(chunk)
            try await staged.append(chunk)
        }
        #expect(staged.largestChunk == 1000)
        let blob = try await store.put(staged: staged, contentType: "a/b", fileName: "f", expiresAt: nil)
        #expect(blob.size == 10_000 && blob.sha256 == hex(whole) && blob.owner == "k")
        #expect(try await store.get(id: blob.id)?.data == whole)
        #expect(try await store.storedBytes(owner: "k") == 10_000)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp").isEmpty)
    }

    @Test func aWritePastItsLimitFailsAndLeavesNothing() async throws {
        let store = try makeStore()
        let staged = try await store.stage(StagingLimits(maxBytes: 100, owner: "k", ownerQuota: 1000))
        try await staged.append(Data(count: 60))
        #expect(await failure { try await staged.append(Data(count: 60)) } == .tooLarge)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp").isEmpty)
        #expect(try await store.storedBytes(owner: "k") == 0)
        #expect(await failure { _ = try await store.put(staged: staged, contentType: "a/b", fileName: nil, expiresAt: nil) } == .storage)
    }

    @Test func reservationsHoldQuotaUntilCommittedOrDiscarded() async throws {
        let store = try makeStore()
        let limits = StagingLimits(maxBytes: 1000, owner: "k", ownerQuota: 1500)
        // Undeclared writes reserve their maximum, so two at once cannot both take the free room.
        let first = try await store.stage(limits)
        #expect(first.limit == 1000)
        let second = try await store.stage(limits)
        #expect(second.limit == 500)
        #expect(await failure { _ = try await store.stage(limits) } == .quotaExceeded)
        try await second.append(Data(count: 500))
        #expect(await failure { try await second.append(Data(count: 1)) } == .quotaExceeded)
        first.discard()
        var declared = limits
        declared.declaredBytes = 1000
        let third = try await store.stage(declared)
        try await third.append(Data(count: 1000))
        _ = try await store.put(staged: third, contentType: "a/b", fileName: nil, expiresAt: nil)
        #expect(try await store.storedBytes(owner: "k") == 1000)
        declared.declaredBytes = 501
        #expect(await failure { _ = try await store.stage(declared) } == .quotaExceeded)
        // Another owner, and no owner at all, are not affected.
        _ = try await store.stage(StagingLimits(maxBytes: 1000, declaredBytes: 1000, owner: "other", ownerQuota: 1500))
        _ = try await store.stage(StagingLimits(maxBytes: 1000, declaredBytes: 1000))
    }

    @Test func uploadPartsCountAgainstTheInitiatorAndTheUploadTotal() async throws {
        let store = try makeStore(FileBlobStoreConfiguration(maxParts: 5))
        let upload = try await store.beginMultipart(contentType: "a/b", fileName: "f", expiresAt: nil, owner: "k")
        func part(_ n: Int, _ size: Int) async throws -> String {
            let staged = try await store.stage(
                StagingLimits(maxBytes: 1000, declaredBytes: Int64(size), ownerQuota: 10_000, uploadID: upload, partNumber: n, maxUploadTotal: 1000))
            try await staged.append(Data(repeating: UInt8(n), count: size))
            return try await store.putPart(uploadID: upload, partNumber: n, staged: staged)
        }
        let a = try await part(1, 600)
        #expect(await failure { _ = try await part(2, 401) } == .tooLarge)
        #expect(await failure { _ = try await part(6, 1) } == .invalidPart)
        let b = try await part(2, 400)
        #expect(try await store.upload(id: upload) == BlobUpload(owner: "k", partCount: 2, storedBytes: 1000))
        #expect(try await store.storedBytes(owner: "k") == 1000)
        let blob = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 1, etag: a), .init(partNumber: 2, etag: b)])
        #expect(blob.id == upload && blob.owner == "k")
        #expect(try await store.storedBytes(owner: "k") == 1000)
        #expect(try await store.upload(id: upload) == nil)
    }

    @Test func aCompletedUploadSurvivesACrashBeforeItsLeftoversWereRemoved() async throws {
        let store = try makeStore()
        let upload = try await store.beginMultipart(contentType: "text/plain", fileName: "a.txt", expiresAt: nil, owner: "k")
        let saved = try Data(contentsOf: URL(fileURLWithPath: store.uploadDirectory(upload) + "/upload.json"))
        let etag = try await store.putPart(uploadID: upload, partNumber: 1, data: Data("done".utf8))
        let copy = store.uploadDirectory(upload) + "-part"
        try FileManager.default.copyItem(atPath: store.partPath(upload, 1), toPath: copy)
        _ = try await store.completeMultipart(uploadID: upload, parts: [.init(partNumber: 1, etag: etag)])
        // The crash point: the blob is committed, the upload's directory is still there.
        try FileManager.default.createDirectory(atPath: store.uploadDirectory(upload), withIntermediateDirectories: false)
        try saved.write(to: URL(fileURLWithPath: store.uploadDirectory(upload) + "/upload.json"))
        try FileManager.default.moveItem(atPath: copy, toPath: store.partPath(upload, 1))

        let reopened = try FileBlobStore(root: store.root)
        #expect(try await reopened.get(id: upload)?.data == Data("done".utf8))
        #expect(try await reopened.upload(id: upload) == nil)
        #expect(!FileManager.default.fileExists(atPath: store.uploadDirectory(upload)))
        #expect(try await reopened.storedBytes(owner: "k") == 4)
    }

    @Test func quotaUsageIsRebuiltWhenTheStoreIsReopened() async throws {
        let store = try makeStore()
        let staged = try await store.stage(StagingLimits(maxBytes: 100, owner: "k", ownerQuota: 1000))
        try await staged.append(Data(count: 100))
        let blob = try await store.put(staged: staged, contentType: "a/b", fileName: nil, expiresAt: Date().addingTimeInterval(10))
        let upload = try await store.beginMultipart(contentType: "a/b", fileName: nil, expiresAt: nil, owner: "k")
        _ = try await store.putPart(uploadID: upload, partNumber: 3, data: Data(count: 30))
        let reopened = try FileBlobStore(root: store.root)
        #expect(try await reopened.storedBytes(owner: "k") == 130)
        #expect(try await reopened.upload(id: upload) == BlobUpload(owner: "k", partCount: 1, storedBytes: 30))
        // Sweeping and aborting give the bytes back.
        #expect(try await reopened.sweepExpired(now: Date().addingTimeInterval(20)) == [blob.id])
        #expect(try await reopened.storedBytes(owner: "k") == 30)
        try await reopened.abortMultipart(uploadID: upload)
        #expect(try await reopened.storedBytes(owner: "k") == 0)
    }
}
