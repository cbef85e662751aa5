import Crypto
import Foundation

/// Lowercase hex SHA-256 digests (swift-crypto's `SHA256`), the form in which manifests and the
/// weights catalog pin their files.
public enum FileDigest {
    /// Bytes read per step: files are hashed in blocks, so a multi-gigabyte checkpoint costs
    /// one block of memory, not its size.
    static let blockSize = 1 << 20

    /// The SHA-256 of a file's contents, in lowercase hex.
    /// - Parameter url: a local file.
    /// - Throws: the file system's error when the file cannot be opened or read.
    public static func sha256(ofFile url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let block = try handle.read(upToCount: blockSize), !block.isEmpty {
            hasher.update(data: block)
        }
        return hex(hasher.finalize())
    }

    /// The SHA-256 of `data`, in lowercase hex.
    public static func sha256<D: DataProtocol>(of data: D) -> String {
        hex(SHA256.hash(data: data))
    }

    /// Two lowercase hex digits per byte.
    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(SHA256.byteCount * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
