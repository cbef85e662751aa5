import Foundation
import Testing
import Weights

/// SHA-256 of files and bytes through swift-crypto, as weights and manifests are pinned.
@Suite("File digests")
struct FileDigestTests {
    @Test("known vectors (FIPS 180-4 examples)")
    func knownVectors() {
        #expect(FileDigest.sha256(of: Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(FileDigest.sha256(of: Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(FileDigest.sha256(of: Data(repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("a file read in blocks hashes like its bytes at once", arguments: [0, 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) - 7])
    func fileMatchesBytes(size: Int) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) })
        try bytes.write(to: url)
        #expect(try FileDigest.sha256(ofFile: url) == FileDigest.sha256(of: bytes))
    }

    @Test("a missing file is an error, not an empty digest")
    func missingFile() {
        #expect(throws: (any Error).self) {
            try FileDigest.sha256(ofFile: URL(fileURLWithPath: "/nonexistent/\(UUID().uuidString)"))
        }
    }
}
