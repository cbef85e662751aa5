// `data:` URIs (RFC 2397): how fal clients send small files inline and receive `sync_mode`
// outputs.

/// A parsed `data:` URI: its media type and its decoded payload.
public struct DataURI: Sendable, Equatable {
    /// The default largest decoded payload accepted: 64 MiB.
    public static let defaultMaxBytes = 64 * 1024 * 1024

    /// The MIME type, lowercased, without parameters (`text/plain` when the URI names none).
    public var mimeType: String
    /// Parameters other than `base64` (e.g. `charset`), names lowercased, in order.
    public var parameters: [(name: String, value: String)]
    /// The decoded bytes.
    public var payload: [UInt8]

    /// Creates a value for building a URI.
    public init(mimeType: String, parameters: [(name: String, value: String)] = [], payload: [UInt8]) {
        self.mimeType = mimeType
        self.parameters = parameters
        self.payload = payload
    }

    /// Parses `data:[<mediatype>][;base64],<data>`.
    ///
    /// Tolerant of what clients really send: case-insensitive `data:` and `;base64`, spaces and
    /// line breaks inside base64, missing `=` padding, the URL-safe alphabet (`-`, `_`), and
    /// percent-escapes in either kind of payload.
    /// - Parameters:
    ///   - string: the URI.
    ///   - maxBytes: the largest decoded payload accepted; checked from the encoded length
    ///     before decoding, so an oversized URI costs no allocation.
    /// - Throws: `MediaError` with code `invalidDataURI` (naming what is wrong) or `tooLarge`.
    public init(parsing string: String, maxBytes: Int = DataURI.defaultMaxBytes) throws {
        var utf8 = Substring(string).utf8[...]
        while let first = utf8.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") || first == 10 || first == 13 { utf8 = utf8.dropFirst() }
        guard utf8.count >= 5, String(decoding: utf8.prefix(5), as: UTF8.self).lowercased() == "data:" else {
            throw MediaError(.invalidDataURI, "data URI: does not start with \"data:\"")
        }
        utf8 = utf8.dropFirst(5)
        guard let comma = utf8.firstIndex(of: UInt8(ascii: ",")) else {
            throw MediaError(.invalidDataURI, "data URI: no comma separates the media type from the data")
        }
        let header = String(decoding: utf8[..<comma], as: UTF8.self)
        let body = utf8[utf8.index(after: comma)...]
        var parts = header.split(separator: ";", omittingEmptySubsequences: false).map { String($0.trimmingSpaces()) }
        var isBase64 = false
        if let last = parts.last, last.lowercased() == "base64" {
            isBase64 = true
            parts.removeLast()
        }
        let type = (parts.first ?? "").lowercased()
        if !type.isEmpty {
            let pieces = type.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty,
                  type.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ",") })
            else {
                throw MediaError(.invalidDataURI, "data URI: \"\(type.prefix(64))\" is not a media type")
            }
        }
        var parameters: [(name: String, value: String)] = []
        for part in parts.dropFirst() where !part.isEmpty {
            guard let equals = part.firstIndex(of: "=") else {
                throw MediaError(.invalidDataURI, "data URI: parameter \"\(part.prefix(64))\" has no value")
            }
            parameters.append((String(part[..<equals]).lowercased(), String(part[part.index(after: equals)...])))
        }
        // Base64 holds 3 bytes per 4 characters; escapes and whitespace only make the real
        // payload smaller, so these bounds are safe upper estimates.
        let bound = isBase64 ? body.count * 3 / 4 : body.count
        guard bound <= maxBytes || (isBase64 ? DataURI.base64Bound(body) : DataURI.percentBound(body)) <= maxBytes else {
            throw MediaError(.tooLarge, "data URI: payload is larger than the limit of \(maxBytes) bytes")
        }
        let unescaped = try DataURI.percentDecode(body)
        self.mimeType = type.isEmpty ? "text/plain" : type
        self.parameters = parameters
        self.payload = isBase64 ? try Base64.decode(unescaped) : unescaped
        guard payload.count <= maxBytes else {
            throw MediaError(.tooLarge, "data URI: payload is larger than the limit of \(maxBytes) bytes")
        }
    }

    /// The URI text: `data:<mime>;base64,<payload>`.
    public var uriString: String {
        var header = mimeType
        for parameter in parameters { header += ";\(parameter.name)=\(parameter.value)" }
        return "data:" + header + ";base64," + Base64.encode(payload)
    }

    /// Builds `data:<format mime>;base64,...` for an encoded image, the shape of fal's
    /// `sync_mode` outputs.
    public static func string(for bytes: [UInt8], format: ImageFormat) -> String {
        DataURI(mimeType: format.mimeType, payload: bytes).uriString
    }

    /// Compares type, parameters and payload.
    public static func == (lhs: DataURI, rhs: DataURI) -> Bool {
        lhs.mimeType == rhs.mimeType && lhs.payload == rhs.payload
            && lhs.parameters.map(\.name) == rhs.parameters.map(\.name)
            && lhs.parameters.map(\.value) == rhs.parameters.map(\.value)
    }

    static func base64Bound(_ body: Substring.UTF8View.SubSequence) -> Int {
        body.reduce(0) { $0 + (Base64.value($1) == nil ? 0 : 1) } * 3 / 4
    }

    static func percentBound(_ body: Substring.UTF8View.SubSequence) -> Int {
        body.count - 2 * body.reduce(0) { $0 + ($1 == UInt8(ascii: "%") ? 1 : 0) }
    }

    static func percentDecode(_ body: Substring.UTF8View.SubSequence) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var index = body.startIndex
        while index != body.endIndex {
            let byte = body[index]
            if byte == UInt8(ascii: "%") {
                let first = body.index(after: index)
                guard first != body.endIndex, body.index(after: first) != body.endIndex,
                      let high = hexValue(body[first]), let low = hexValue(body[body.index(after: first)])
                else {
                    throw MediaError(.invalidDataURI, "data URI: a \"%\" is not followed by two hex digits")
                }
                out.append(high << 4 | low)
                index = body.index(first, offsetBy: 2)
            } else {
                out.append(byte)
                index = body.index(after: index)
            }
        }
        return out
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
