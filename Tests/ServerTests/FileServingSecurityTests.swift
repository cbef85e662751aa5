import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
@testable import Server
@testable import Platform
import Testing

/// Stored files come back from the API's own origin: nothing a browser would run may render.
@Suite("File serving headers")
struct FileServingSecurityTests {
    struct Case: Sendable, CustomStringConvertible {
        var contentType: String
        var inline: Bool
        var description: String { contentType }
    }

    static let cases: [Case] = [
        Case(contentType: "text/html", inline: false),
        Case(contentType: "text/html; charset=utf-8", inline: false),
        Case(contentType: "image/svg+xml", inline: false),
        Case(contentType: "IMAGE/SVG+XML; charset=utf-8", inline: false),
        Case(contentType: "application/javascript", inline: false),
        Case(contentType: "application/xhtml+xml", inline: false),
        Case(contentType: "application/octet-stream", inline: false),
        Case(contentType: "text/plain", inline: false),
        Case(contentType: "image/png", inline: true),
        Case(contentType: "image/jpeg", inline: true),
        Case(contentType: "video/mp4", inline: true),
        Case(contentType: "audio/wav", inline: true),
    ]

    @Test("only image, video and audio types are inline; every answer is sandboxed and nosniff", arguments: cases)
    func headers(_ c: Case) async throws {
        let h = try Harness.make()
        try await h.test { client in
            let path = try await uploadFile(client, "<script>alert(1)</script>", contentType: c.contentType, name: "x.html")
            for method in [HTTPRequest.Method.get, .head] {
                let r = try await client.execute(uri: path, method: method)
                #expect(r.status == .ok)
                let disposition = try #require(r.headers[.contentDisposition])
                #expect(disposition.hasPrefix(c.inline ? "inline;" : "attachment;"), "\(disposition)")
                #expect(disposition.hasSuffix("filename=\"x.html\""))
                #expect(r.headers[.contentSecurityPolicy] == "sandbox")
                #expect(r.headers[.contentTypeOptions] == "nosniff")
            }
            let unsatisfiable = try await client.execute(uri: path, method: .get, headers: [.range: "bytes=900-"])
            #expect(unsatisfiable.status == .rangeNotSatisfiable)
            #expect(unsatisfiable.headers[.contentSecurityPolicy] == "sandbox")
        }
    }

    @Test("the inline decision reads the media type only")
    func inlineDecision() {
        #expect(FileResponse.isInline("image/png; name=x"))
        #expect(!FileResponse.isInline("image/"))
        #expect(!FileResponse.isInline("image"))
        #expect(!FileResponse.isInline(""))
        #expect(!FileResponse.isInline("text/html; x=image/png"))
        #expect(FileResponse.disposition(contentType: "text/html", fileName: nil) == "attachment")
    }

    @Test("uploads must declare a well-formed media type")
    func contentTypeChecked() async throws {
        let h = try Harness.make()
        try await h.test { client in
            for bad in ["image/png\r\nSet-Cookie: a=b", "text/" + String(repeating: "h", count: 300), "html", "image/png/x", "ima ge/png", "\u{e9}/png"] {
                let initiated = try await client.send(.post, "/storage/upload/initiate", json: ["content_type": .string(bad)])
                #expect(initiated.status == .unprocessableContent, "\(bad)")
                #expect(try initiated.json["detail"]?.arrayValue?.first?["loc"] == ["body", "content_type"])
            }
            for bad in ["html", "text/" + String(repeating: "h", count: 300)] {
                let uploaded = try await client.send(.post, "/files/upload", raw: "x", headers: [.contentType: bad])
                #expect(uploaded.status == .unprocessableContent)
                #expect(try uploaded.json["detail"]?.arrayValue?.first?["loc"] == ["header", "content-type"])
                let multipart = try await client.send(.post, "/files/upload/multipart", raw: "", headers: [.contentType: bad])
                #expect(multipart.status == .unprocessableContent)
            }
            let fine = try await client.send(.post, "/storage/upload/initiate", json: ["content_type": "text/plain; charset=utf-8"])
            #expect(fine.status == .ok)
            let untyped = try await client.send(.post, "/files/upload", raw: "x")
            #expect(untyped.status == .ok)
            let served = try await client.execute(uri: pathOf(try #require(try untyped.json["access_url"]?.stringValue)), method: .get)
            #expect(served.headers[.contentType] == "application/octet-stream")
            #expect(served.headers[.contentDisposition]?.hasPrefix("attachment") == true)
        }
    }
}
