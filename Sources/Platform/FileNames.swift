import Foundation

/// File names in URLs.
public enum FileNames {
    /// A name safe to put in a path segment and a header: no separators or control bytes.
    public static func sanitize(_ name: String) -> String {
        let cleaned = String(name.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) && $0 != "/" && $0 != "\\" && $0 != "\"" })
            .trimmingCharacters(in: .whitespaces)
        let limited = String(cleaned.prefix(200))
        return limited.isEmpty || limited == "." || limited == ".." ? "file" : limited
    }

    /// `base/files/{id}/{name}` with the name percent-encoded.
    public static func url(base: String, id: String, name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/;?#")
        return "\(base)/files/\(id)/\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? "file")"
    }
}
