// Base64 (RFC 4648) for data URIs, lenient on input, standard on output.

enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The 6-bit value of a character of either alphabet (standard or URL-safe).
    static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: "-"): 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): 63
        default: nil
        }
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let n = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)]]
            out += rest == 2 ? [alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")] : [UInt8(ascii: "="), UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes, skipping ASCII whitespace, accepting missing padding; rejects other characters,
    /// data after padding, and a dangling single character.
    static func decode(_ text: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3 + 3)
        var accumulator: UInt32 = 0
        var pending = 0
        var padding = 0
        for (position, byte) in text.enumerated() {
            if byte == 32 || byte == 9 || byte == 10 || byte == 13 || byte == 12 { continue }
            if byte == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0, let value = value(byte) else {
                throw MediaError(.invalidDataURI,
                    padding > 0 ? "data URI: base64 continues after \"=\" padding"
                        : "data URI: invalid base64 character \"\(byteDescription(byte))\" at offset \(position)")
            }
            accumulator = accumulator << 6 | UInt32(value)
            pending += 1
            if pending == 4 {
                out += [UInt8(accumulator >> 16 & 0xFF), UInt8(accumulator >> 8 & 0xFF), UInt8(accumulator & 0xFF)]
                accumulator = 0
                pending = 0
            }
        }
        switch pending {
        case 0: break
        case 2: out.append(UInt8(accumulator >> 4 & 0xFF))
        case 3: out += [UInt8(accumulator >> 10 & 0xFF), UInt8(accumulator >> 2 & 0xFF)]
        default: throw MediaError(.invalidDataURI, "data URI: base64 ends with a lone character")
        }
        guard padding <= 2 else { throw MediaError(.invalidDataURI, "data URI: too much base64 padding") }
        return out
    }

    static func byteDescription(_ byte: UInt8) -> String {
        byte >= 32 && byte < 127 ? String(UnicodeScalar(byte)) : "0x" + byteHex(byte)
    }
}
