import Foundation

/// One log line of a request, in fal's shape.
public struct LogLine: Sendable, Codable, Equatable {
    /// What went wrong, naming the setting or value.
    public var message: String
    /// `INFO|WARN|ERROR|DEBUG|STDOUT|STDERR`.
    public var level: String
    /// Always `USER` for lines a model wrote.
    public var source: String
    /// ISO-8601 with fractional seconds and offset.
    public var timestamp: String

    /// - Parameters:
    ///   - message: the text.
    ///   - level: fal's level name.
    ///   - timestamp: when it was written.
    public init(message: String, level: String, timestamp: Date, source: String = "USER") {
        self.message = message
        self.level = level
        self.source = source
        self.timestamp = ISO8601.string(from: timestamp)
    }
}

/// ISO-8601 timestamps as fal writes them (`2026-01-02T03:04:05.678+00:00`).
public enum ISO8601 {
    /// Formats `date` in UTC with milliseconds and an explicit `+00:00` offset (Python's
    /// `datetime.fromisoformat` before 3.11 rejects a bare `Z`).
    public static func string(from date: Date) -> String {
        // Clamped to years 1...9999 (NaN to 1970), so the integer arithmetic below cannot trap.
        let seconds1970 = date.timeIntervalSince1970.isNaN ? 0 : min(max(date.timeIntervalSince1970, -62_135_596_800), 253_402_300_799)
        let ms = Int64((seconds1970 * 1000).rounded(.down))
        let seconds = Int(ms.quotientAndRemainder(dividingBy: 1000).quotient)
        var millis = Int(ms % 1000)
        var secs = seconds
        if millis < 0 { millis += 1000; secs -= 1 }
        var t = time_t(secs)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }
}
