import Foundation

/// How the SQL drivers store dates: integer milliseconds since 1970 (UTC).
///
/// Integers compare and index exactly; a `Date` read back is the stored instant truncated to the
/// millisecond, and a date that was already whole milliseconds reads back equal. Public so that
/// every driver (the PostgreSQL one lives in its own target) stores times the same way.
public enum StoredTime {
    /// Milliseconds since 1970, rounded toward negative infinity; saturated at the ends of
    /// `Int64` (a date past them, or NaN as 0), so no instant, however computed, traps here.
    public static func milliseconds(_ date: Date) -> Int64 {
        let ms = (date.timeIntervalSince1970 * 1000).rounded(.down)
        if let exact = Int64(exactly: ms) { return exact }
        if ms.isNaN { return 0 }
        return ms > 0 ? .max : .min
    }

    /// The date for a stored millisecond count.
    public static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
