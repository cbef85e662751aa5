// Image file formats and sniffing them from their first bytes.

/// A file format Media reads and writes.
public enum ImageFormat: String, Sendable, CaseIterable, Codable {
    /// Portable Network Graphics.
    case png
    /// JPEG (JFIF/EXIF).
    case jpeg
    /// WebP (lossy, lossless, animated).
    case webp

    /// The MIME type, e.g. `image/png`.
    public var mimeType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .webp: "image/webp"
        }
    }

    /// The usual file extension without the dot.
    public var fileExtension: String {
        switch self {
        case .png: "png"
        case .jpeg: "jpg"
        case .webp: "webp"
        }
    }

    /// The format for a MIME type (`image/jpg` and parameters such as `; charset=` tolerated).
    public init?(mimeType: String) {
        let bare = mimeType.split(separator: ";").first.map { $0.trimmingSpaces().lowercased() } ?? ""
        switch bare {
        case "image/png", "image/apng": self = .png
        case "image/jpeg", "image/jpg", "image/pjpeg": self = .jpeg
        case "image/webp": self = .webp
        default: return nil
        }
    }

    /// The format the bytes are in, judged from their magic numbers (never from a file name).
    /// - Returns: `nil` when the bytes are not PNG, JPEG or WebP.
    public static func sniff<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> ImageFormat? {
        let head = Array(bytes.prefix(16))
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if head.count >= 12, head.starts(with: Array("RIFF".utf8)), Array(head[8..<12]) == Array("WEBP".utf8) {
            return .webp
        }
        return nil
    }

    /// A name for formats Media recognises but does not read, for error messages.
    static func describeUnsupported<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        let head = Array(bytes.prefix(16))
        if head.isEmpty { return "empty data" }
        if head.starts(with: Array("GIF8".utf8)) { return "GIF" }
        if head.starts(with: Array("BM".utf8)) { return "BMP" }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if head.count >= 12, Array(head[4..<8]) == Array("ftyp".utf8) {
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            if ["avif", "avis"].contains(brand) { return "AVIF" }
            if ["heic", "heix", "mif1", "msf1", "hevc"].contains(brand) { return "HEIF" }
            return "an ISO media file (\(brand))"
        }
        if head.starts(with: [0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) || head.starts(with: [0xFF, 0x0A]) { return "JPEG XL" }
        if head.starts(with: Array("<svg".utf8)) || head.starts(with: Array("<?xml".utf8)) { return "SVG/XML" }
        return "unrecognised data (first bytes " + head.prefix(8).map { byteHex($0) }.joined(separator: " ") + ")"
    }
}

func byteHex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
