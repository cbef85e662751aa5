import APITypes
import Foundation
import Hummingbird
import ModelKit
import Platform

/// How stored files are answered. Anyone may upload any bytes with any content type, and files
/// are served from the API's own origin, so a file a browser would run (HTML, SVG, script) must
/// never render there: only media types that cannot script are shown inline, everything else is
/// a download, and every answer carries a sandboxing CSP and `nosniff`.
enum FileResponse {
    /// Headers every file answer carries, errors included.
    static func securityHeaders() -> HTTPFields {
        var h = HTTPFields()
        h[.contentSecurityPolicy] = "sandbox"
        h[.contentTypeOptions] = "nosniff"
        return h
    }

    /// Whether a file of `contentType` may be displayed by the browser: `image/*`, `video/*`
    /// and `audio/*`, except XML-based types (`image/svg+xml` runs scripts).
    static func isInline(_ contentType: String) -> Bool {
        guard let (type, subtype) = MediaType.essence(contentType), ["image", "video", "audio"].contains(type) else { return false }
        return !subtype.contains("xml") && !subtype.contains("svg")
    }

    /// `inline` or `attachment`, with the file name when there is one.
    static func disposition(contentType: String, fileName: String?) -> String {
        let kind = isInline(contentType) ? "inline" : "attachment"
        guard let fileName else { return kind }
        return "\(kind); filename=\"\(FileNames.sanitize(fileName))\""
    }
}

/// Content types as uploads declare them. They are stored and sent back in `Content-Type`, and
/// decide whether a file is shown inline, so only well-formed ones are accepted.
enum MediaType {
    /// What a file without a (valid) declared type is served as.
    static let fallback = "application/octet-stream"
    /// RFC 6838 caps type and subtype names at 127 characters each; with parameters, 255 in all.
    static let maxBytes = 255

    /// Whether `value` is `type/subtype` (RFC 9110 tokens) with optional `; name=value`
    /// parameters, in printable ASCII, at most `maxBytes` long.
    static func isValid(_ value: String) -> Bool {
        value.utf8.count <= maxBytes && value.utf8.allSatisfy { (0x20...0x7e).contains($0) || $0 == 0x09 } && essence(value) != nil
    }

    /// The lower-cased type and subtype of `value`, or `nil` when they are not both tokens.
    static func essence(_ value: String) -> (type: String, subtype: String)? {
        let mediaType = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let parts = mediaType.trimmingCharacters(in: .whitespaces).lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, isToken(parts[0]), isToken(parts[1]) else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The declared type of an upload, `fallback` when none was declared.
    /// - Throws: `APIError` 422 at `loc` when it is not a valid media type.
    static func checked(_ value: String?, loc: [LocationComponent]) throws -> String {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return fallback }
        guard isValid(value) else {
            throw APIError.validation(loc, "value is not a valid media type (type/subtype, at most \(maxBytes) bytes)", type: "value_error.content_type")
        }
        return value
    }

    /// RFC 9110 `token`: one or more `tchar`.
    private static func isToken(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x61...0x7a).contains(b) || (0x41...0x5a).contains(b) || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
