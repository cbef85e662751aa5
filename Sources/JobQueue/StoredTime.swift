import Foundation

/// How the SQL drivers store dates: integer milliseconds since 1970 (UTC).
///
/// Integers compare and index exactly; a `Date` read back is the stored instant truncated to the
/// millisecond, and a date that was already whole milliseconds reads back equal.
enum StoredTime {
    /// Milliseconds since 1970, rounded toward negative infinity.
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The date for a stored millisecond count.
    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
