import Testing
@testable import Media

/// What clients and attackers really send: unpadded base64, oversized payloads, media types that
/// are not media types, and percent-escapes in odd places. Each either parses to the right bytes
/// or fails with a precise `MediaError`, never a trap.
@Suite("Data URIs from hostile clients")
struct DataURIHostileTests {
    @Test("base64 without padding decodes like the padded text", arguments: 0..<12)
    func missingPadding(length: Int) throws {
        let payload = (0..<length).map { UInt8(($0 * 131 + 7) & 0xFF) }
        let padded = Base64.encode(payload)
        var unpadded = padded
        while unpadded.hasSuffix("=") { unpadded.removeLast() }
        #expect(try DataURI(parsing: "data:image/png;base64," + unpadded).payload == payload)
        #expect(try DataURI(parsing: "data:image/png;base64," + padded).payload == payload)
    }

    @Test("a huge payload is refused by its encoded size", arguments: [false, true])
    func huge(base64: Bool) {
        // 4 MiB of text against a 64 KiB limit: refused before any decoding.
        let body = String(repeating: "QUFB", count: 1 << 20)
        let uri = "data:application/octet-stream" + (base64 ? ";base64," : ",") + body
        #expect { try DataURI(parsing: uri, maxBytes: 64 << 10) } throws: { ($0 as? MediaError)?.code == .tooLarge }
    }

    @Test("the limit is exact at the boundary, padding or not")
    func boundary() throws {
        let payload = [UInt8](repeating: 0xAB, count: 1001)
        var text = Base64.encode(payload)
        #expect(try DataURI(parsing: "data:;base64," + text, maxBytes: 1001).payload == payload)
        #expect { try DataURI(parsing: "data:;base64," + text, maxBytes: 1000) } throws: { ($0 as? MediaError)?.code == .tooLarge }
        while text.hasSuffix("=") { text.removeLast() }
        #expect { try DataURI(parsing: "data:;base64," + text, maxBytes: 1000) } throws: { ($0 as? MediaError)?.code == .tooLarge }
    }

    @Test("media types that are not media types are refused", arguments: [
        "data:not a type;base64,AAAA", "data:image;base64,AAAA", "data:/png;base64,AAAA", "data:image/;base64,AAAA",
        "data:image/png/x;base64,AAAA", "data:ima\u{7F}ge/png;base64,AAAA", "data:bild/\u{E9};base64,AAAA",
    ])
    func wrongMediaType(uri: String) {
        #expect { try DataURI(parsing: uri) } throws: { ($0 as? MediaError)?.code == .invalidDataURI }
    }

    @Test("percent-escapes: decoded in both payload kinds, refused when truncated", arguments: [
        ("data:,%41%42%43", Array("ABC".utf8)),
        ("data:,%e2%82%ac", [0xE2, 0x82, 0xAC]),
        ("data:;base64,QU%4a%44", Array("ABC".utf8)),
    ] as [(String, [UInt8])])
    func percentEncoding(uri: String, expected: [UInt8]) throws {
        #expect(try DataURI(parsing: uri).payload == expected)
    }

    @Test("truncated or non-hex escapes fail", arguments: ["data:,%", "data:,%4", "data:,abc%4", "data:,%g1", "data:;base64,QUJD%"])
    func badEscapes(uri: String) {
        #expect { try DataURI(parsing: uri) } throws: { ($0 as? MediaError)?.code == .invalidDataURI }
    }

    @Test("non-ASCII and control bytes inside base64 fail cleanly", arguments: ["data:;base64,QUJ\u{E9}", "data:;base64,QU\u{0}JD", "data:;base64,\u{1F600}"])
    func foreignBytes(uri: String) {
        #expect { try DataURI(parsing: uri) } throws: { ($0 as? MediaError)?.code == .invalidDataURI }
    }

    @Test("an empty payload is an empty file")
    func empty() throws {
        #expect(try DataURI(parsing: "data:image/png;base64,").payload.isEmpty)
        #expect(try DataURI(parsing: "data:,").payload.isEmpty)
    }
}
