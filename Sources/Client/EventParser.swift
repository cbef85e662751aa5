import Foundation

/// Splits a server-sent event stream into `data:` payloads (comments and other fields skipped).
/// An event larger than `maxEventBytes` is an error rather than unbounded memory.
struct EventParser {
    private var buffer = Data()
    /// Largest event accepted.
    var maxEventBytes = 64 << 20

    struct TooLarge: Error, CustomStringConvertible {
        var description: String { "a server-sent event exceeds the size limit" }
    }

    /// The payloads completed by `bytes`.
    mutating func feed(_ bytes: Data) throws -> [Data] {
        buffer.append(bytes)
        var events: [Data] = []
        // `\r\n` line ends are folded so both framings read alike.
        if buffer.contains(UInt8(ascii: "\r")) {
            buffer = Data(buffer.split(separator: UInt8(ascii: "\r"), omittingEmptySubsequences: false).joined())
        }
        while let range = buffer.range(of: Data("\n\n".utf8)) {
            let block = buffer.subdata(in: buffer.startIndex..<range.lowerBound)
            buffer.removeSubrange(buffer.startIndex..<range.upperBound)
            var payload = Data()
            for line in block.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                if line.starts(with: Data("data:".utf8)) {
                    var value = line.dropFirst(5)
                    if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
                    if !payload.isEmpty { payload.append(UInt8(ascii: "\n")) }
                    payload.append(contentsOf: value)
                }
            }
            if !payload.isEmpty { events.append(payload) }
        }
        guard buffer.count <= maxEventBytes else { throw TooLarge() }
        return events
    }
}
