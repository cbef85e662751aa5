import Testing
@testable import Media

@Suite("Data URIs")
struct DataURITests {
    @Test("base64 payloads of every length round-trip", arguments: 0..<8)
    func roundTrip(length: Int) throws {
        let payload = (0..<length).map { UInt8(($0 * 97 + 13) & 0xFF) }
        let uri = DataURI(mimeType: "image/png", payload: payload).uriString
        #expect(uri.hasPrefix("data:image/png;base64,"))
        #expect(try DataURI(parsing: uri).payload == payload)
    }

    @Test("known base64 text")
    func knownText() throws {
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        let parsed = try DataURI(parsing: "DATA:Image/PNG;charset=utf-8;BASE64,Zm9v\r\n YmE")
        #expect(parsed.mimeType == "image/png")
        #expect(parsed.parameters.map(\.name) == ["charset"])
        #expect(parsed.payload == Array("fooba".utf8))
    }

    @Test("URL-safe alphabet and percent-escaped base64 are accepted")
    func lenientBase64() throws {
        #expect(try DataURI(parsing: "data:;base64,-_8=").payload == [0xFB, 0xFF])
        #expect(try DataURI(parsing: "data:image/webp;base64,%2B%2F8%3D").payload == [0xFB, 0xFF])
    }

    @Test("plain payloads are percent-decoded, default type is text/plain")
    func percentPayload() throws {
        let parsed = try DataURI(parsing: "data:,Hello%2C%20World%21%00%ff")
        #expect(parsed.mimeType == "text/plain")
        #expect(parsed.payload == Array("Hello, World!".utf8) + [0, 0xFF])
    }

    @Test("malformed URIs fail with clear messages", arguments: [
        ("http://x/y.png", "data:"),
        ("data:image/png;base64", "comma"),
        ("data:image/png;base64,ab$d", "invalid base64 character"),
        ("data:image/png;base64,abcde", "lone character"),
        ("data:image/png;base64,ab==cd", "after"),
        ("data:text/plain,100%", "hex digits"),
        ("data:text/plain,%zz", "hex digits"),
        ("data:image,abc", "media type"),
        ("data:image/png;charset,abc", "no value"),
    ])
    func malformed(uri: String, fragment: String) {
        do {
            _ = try DataURI(parsing: uri)
            Issue.record("parsed \(uri)")
        } catch let error as MediaError {
            #expect(error.code == .invalidDataURI)
            #expect(error.message.contains(fragment), "\(error.message)")
        } catch {
            Issue.record("not a MediaError: \(error)")
        }
    }

    @Test("the size limit applies to the decoded payload")
    func sizeLimit() throws {
        let payload = [UInt8](repeating: 7, count: 1000)
        let uri = DataURI(mimeType: "application/octet-stream", payload: payload).uriString
        #expect(try DataURI(parsing: uri, maxBytes: 1000).payload.count == 1000)
        #expect { try DataURI(parsing: uri, maxBytes: 999) } throws: { ($0 as? MediaError)?.code == .tooLarge }
        #expect { try DataURI(parsing: "data:," + String(repeating: "a", count: 50), maxBytes: 49) } throws: {
            ($0 as? MediaError)?.code == .tooLarge
        }
        // Escapes shrink the payload: 30 escapes decode to 30 bytes.
        #expect(try DataURI(parsing: "data:," + String(repeating: "%41", count: 30), maxBytes: 30).payload.count == 30)
    }

    @Test("an image survives a data URI trip")
    func imageTrip() throws {
        let image = TestImages.noise(width: 5, height: 4, channels: 3, bitDepth: .eight, seed: 5)
        let uri = DataURI.string(for: try image.encoded(as: .png()), format: .png)
        let parsed = try DataURI(parsing: uri)
        #expect(ImageFormat(mimeType: parsed.mimeType) == .png)
        #expect(try Image.decode(parsed.payload) == image)
    }
}
