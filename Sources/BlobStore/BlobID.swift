import Foundation

/// Blob and upload ids: 128 random bits as 32 lowercase hex digits.
///
/// Every id from outside is checked with `isValid` before it is used in a path, so an id can
/// never name a file outside the store (no `/`, no `..`, nothing but hex digits).
public enum BlobID {
    /// A fresh id.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    /// Whether `id` has the shape of an id (and so is safe in a path).
    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
