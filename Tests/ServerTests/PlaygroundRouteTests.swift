import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import Testing

@Suite("The playground's pages")
struct PlaygroundRouteTests {
    @Test("pages and assets are public, with a same-origin CSP and nosniff, while the API behind them still takes a key")
    func servedPublicly() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let cases: [(String, String)] = [
                ("/", "text/html"), ("/playground", "text/html"), ("/playground/", "text/html"),
                ("/playground/models/peregrine/realesr-animevideov3", "text/html"), ("/playground/history", "text/html"),
                ("/playground/main.js", "text/javascript"), ("/playground/results.js", "text/javascript"),
                ("/playground/playground.css", "text/css"),
            ]
            for (path, type) in cases {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok, "\(path)")
                #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
                #expect(response.headers[.contentTypeOptions] == "nosniff", "\(path)")
                #expect(response.headers[.xFrameOptions] == "DENY", "\(path)")
                let csp = try #require(response.headers[.contentSecurityPolicy], "\(path)")
                #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"))
                // No external origin anywhere in the policy, and no inline script.
                #expect(!csp.contains("http") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains("*"))
                #expect(response.body.readableBytes > 0, "\(path)")
            }
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.text.contains("/playground/main.js"))
            // The page loads nothing from another origin.
            for asset in ["/", "/playground/playground.css"] + PlaygroundRoutes.assets.keys.map({ "/playground/\($0)" }) {
                let text = try await client.execute(uri: asset, method: .get).text
                #expect(!text.contains("http://") && !text.contains("//cdn") && !text.contains("<script>"), "\(asset)")
            }
            // The API the pages call is authorized exactly as before.
            #expect(try await client.execute(uri: "/models", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/models/test/echo/openapi.json", method: .get).status == .unauthorized)
        }
    }

    @Test("unknown assets are 404, other methods 405, HEAD answers headers only")
    func refusals() async throws {
        let h = try Harness.make()
        try await h.test { client in
            #expect(try await client.execute(uri: "/playground/nope.js", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/playground/../Package.swift", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/playground/main.js/x", method: .get).status == .notFound)
            let post = try await client.execute(uri: "/", method: .post, body: ByteBuffer(string: "x"))
            #expect(post.status == .methodNotAllowed)
            let head = try await client.execute(uri: "/playground/main.js", method: .head)
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
            #expect(Int(head.headers[.contentLength] ?? "") == PlaygroundRoutes.assets["main.js"]?.bytes.count)
            // Revalidation: the ETag it was given answers 304 without a body, another one the file.
            let etag = try #require(head.headers[.eTag])
            let again = try await client.execute(uri: "/playground/main.js", method: .get, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified && again.body.readableBytes == 0)
            #expect(again.headers[.contentSecurityPolicy] != nil)
            let changed = try await client.execute(uri: "/playground/main.js", method: .get, headers: [.ifNoneMatch: "\"other\""])
            #expect(changed.status == .ok && changed.body.readableBytes > 0)
        }
    }

    @Test("every page path the scripts link to is one the server answers with the page; every module they import is served")
    func pagePaths() throws {
        let scripts = PlaygroundRoutes.assets.filter { $0.key.hasSuffix(".js") }.mapValues { String(decoding: $0.bytes, as: UTF8.self) }
        let all = scripts.values.joined(separator: "\n")
        for prefix in ["/playground/models/", "/playground/history"] {
            #expect(all.contains("\"\(prefix)"), "\(prefix)")
        }
        let html = String(decoding: PlaygroundRoutes.page.bytes, as: UTF8.self)
        #expect(html.contains("/playground/main.js") && html.contains("/playground/playground.css"))
        // Each module is imported by another (or is the entry point), and each import names a served module.
        let imports = try Regex(#"from "\./([a-z]+\.js)""#)
        var imported: Set<String> = ["main.js"]
        for (name, text) in scripts {
            for match in text.matches(of: imports) {
                let target = String(text[match.output[1].range!])
                #expect(scripts[target] != nil, "\(name) imports \(target), which is not served")
                imported.insert(target)
            }
        }
        #expect(imported == Set(scripts.keys))
    }
}
