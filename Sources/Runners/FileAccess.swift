import Foundation
import ModelKit

/// How running models read their file inputs and keep their outputs: the server implements it
/// over its blob store (its own file URLs read locally, remote URLs fetched under the outbound
/// address policy), so the runner pool does not know the URL layout.
public protocol FileAccess: Sendable {
    /// Reads a file input given as a URL (not a `data:` URI; those are decoded by the pool).
    /// - Parameters:
    ///   - url: the URL from the request body.
    ///   - field: the input field, for error locations.
    /// - Throws: `ModelError` (`file_download_error`, 422) when the file cannot be read.
    func fetch(_ url: String, field: String) async throws -> FetchedFile

    /// Stores an output file and answers its public URL.
    /// - Parameters:
    ///   - data: the bytes.
    ///   - contentType: MIME type.
    ///   - fileName: name shown in the URL and `file_name`.
    ///   - lifetime: seconds the file must stay available, when the caller chose.
    func store(_ data: Data, contentType: String, fileName: String, lifetime: TimeInterval?) async throws -> StoredFile
}

/// `data:` URIs, decoded and encoded (RFC 2397).
public enum DataURI {
    /// Decodes `data:[<mime>][;params][;base64],<payload>`.
    /// - Parameters:
    ///   - uri: the URI.
    ///   - field: the input field, for error locations.
    ///   - maxBytes: largest decoded size accepted.
    /// - Throws: `ModelError` (`file_download_error`, 422) naming the field when malformed or too large.
    public static func decode(_ uri: String, field: String, maxBytes: Int) throws -> FetchedFile {
        func failure(_ why: String, status: Int = 422) -> ModelError {
            ModelError(.fileDownloadError, "\(field): \(why)", status: status, field: ["body", field])
        }
        guard uri.count > 5, uri.prefix(5).lowercased() == "data:" else { throw failure("not a data URI") }
        guard let comma = uri.firstIndex(of: ",") else { throw failure("malformed data URI: no ',' before the payload") }
        let header = uri[uri.index(uri.startIndex, offsetBy: 5)..<comma]
        let payload = uri[uri.index(after: comma)...]
        var params = header.split(separator: ";", omittingEmptySubsequences: false).map { String($0) }
        let isBase64 = params.last?.lowercased() == "base64"
        if isBase64 { params.removeLast() }
        let mime = params.first.flatMap { $0.isEmpty ? nil : $0.lowercased() } ?? "text/plain"
        guard mime.contains("/"), !mime.contains(" ") else { throw failure("malformed data URI: bad media type '\(mime)'") }
        // Base64 grows 4/3; refuse oversize payloads before decoding them.
        guard payload.utf8.count / 4 * 3 <= maxBytes + 3 else { throw failure("file larger than \(maxBytes) bytes", status: 413) }
        let data: Data
        if isBase64 {
            let compact = payload.filter { !$0.isWhitespace }
            var padded = String(compact)
            if padded.utf8.count % 4 != 0 { padded += String(repeating: "=", count: 4 - padded.utf8.count % 4) }
            guard let d = Data(base64Encoded: padded) else { throw failure("malformed data URI: invalid base64") }
            data = d
        } else {
            guard let text = String(payload).removingPercentEncoding else {
                throw failure("malformed data URI: invalid percent-encoding")
            }
            data = Data(text.utf8)
        }
        guard data.count <= maxBytes else { throw failure("file larger than \(maxBytes) bytes", status: 413) }
        return FetchedFile(data: data, contentType: mime, fileName: nil)
    }

    /// Encodes bytes as a base64 `data:` URI.
    public static func encode(_ data: Data, contentType: String) -> String {
        "data:\(contentType);base64,\(data.base64EncodedString())"
    }
}
