import Foundation
@testable import Platform
import Testing

@Suite("Upload index")
struct UploadIndexTests {
    @Test("maps completed uploads to blobs, refuses non-ids, prunes entries whose blob is gone")
    func index() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-index-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let index = try UploadIndex(directory: dir)
        let upload = String(repeating: "a", count: 32)
        let kept = String(repeating: "b", count: 32)
        let gone = String(repeating: "c", count: 32)
        try index.record(uploadID: upload, blobID: kept)
        try index.record(uploadID: String(repeating: "d", count: 32), blobID: gone)
        try index.record(uploadID: "../escape", blobID: kept)
        #expect(index.blobID(for: upload) == kept)
        #expect(index.blobID(for: "../escape") == nil)
        #expect(!FileManager.default.fileExists(atPath: dir.deletingLastPathComponent().appendingPathComponent("escape").path))
        let removed = await index.prune { $0 == kept }
        #expect(removed == 1)
        #expect(index.blobID(for: upload) == kept)
        #expect(index.blobID(for: String(repeating: "d", count: 32)) == nil)
    }
}
