import Crypto
import Foundation
import Hummingbird

/// The playground: plain HTML, CSS and JavaScript compiled into the binary (`PackageResources`),
/// served at `/` and under `/playground/`. The pages are public and hold no secrets; every API
/// call they make carries the key the user signed in with (kept in the tab's `sessionStorage`),
/// so they authorize exactly as any other client does.
enum PlaygroundRoutes {
    /// One static asset.
    struct Asset: Sendable {
        let contentType: String
        let bytes: [UInt8]
        /// A strong validator of the bytes, so a browser revalidates with one small request.
        let etag: String

        init(contentType: String, bytes: [UInt8]) {
            self.contentType = contentType
            self.bytes = bytes
            etag = "\"" + SHA256.hash(data: bytes).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        }
    }

    /// The page itself: every page path (`/`, `/playground`, `/playground/models/{endpoint}`,
    /// `/playground/history`) answers it, and the script renders the view the path names.
    static let page = Asset(contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html)

    /// Assets by file name under `/playground/`.
    static let assets: [String: Asset] = {
        let scripts: [(String, [UInt8])] = [
            ("main.js", PackageResources.main_js), ("api.js", PackageResources.api_js), ("form.js", PackageResources.form_js),
            ("model.js", PackageResources.model_js), ("run.js", PackageResources.run_js), ("results.js", PackageResources.results_js),
            ("history.js", PackageResources.history_js), ("snippets.js", PackageResources.snippets_js),
        ]
        var assets = ["playground.css": Asset(contentType: "text/css; charset=utf-8", bytes: PackageResources.playground_css)]
        // ES modules: served as JavaScript (nosniff makes browsers insist on it).
        for (name, bytes) in scripts { assets[name] = Asset(contentType: "text/javascript; charset=utf-8", bytes: bytes) }
        return assets
    }()

    /// Same-origin only: no inline script or style, no external origin, no framing. Images and
    /// media may also be `data:` (sync-mode results) and `blob:` (previews of picked files).
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
        + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// `GET|HEAD /` and `/playground/...`.
    static func handle(_ call: APICall) throws -> Response {
        let s = call.segments
        let asset: Asset
        if s.isEmpty || (s.first == "playground" && (s.count == 1 || ["models", "history"].contains(s[1]))) {
            asset = page
        } else if s.count == 2, s[0] == "playground", let file = assets[s[1]] {
            asset = file
        } else {
            throw APIError.detail(.notFound, "Not Found")
        }
        try call.allow(.get, .head)
        let cached = call.request.headers[.ifNoneMatch]?.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == asset.etag } ?? false
        return response(asset, head: call.method == .head, notModified: cached)
    }

    /// The asset with its security headers; `notModified` answers 304 without the body.
    static func response(_ asset: Asset, head: Bool, notModified: Bool = false) -> Response {
        var headers = HTTPFields()
        headers[.eTag] = asset.etag
        headers[.contentType] = asset.contentType
        headers[.contentLength] = String(asset.bytes.count)
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.contentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        headers[.xFrameOptions] = "DENY"
        headers[.crossOriginOpenerPolicy] = "same-origin"
        // The pages change with the binary: always revalidate (a 304 when the ETag matches).
        headers[.cacheControl] = "no-cache"
        if notModified {
            headers[.contentLength] = nil
            return Response(status: .notModified, headers: headers, body: ResponseBody())
        }
        let body = head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes))
        return Response(status: .ok, headers: headers, body: body)
    }
}

extension HTTPField.Name {
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let crossOriginOpenerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!
}
