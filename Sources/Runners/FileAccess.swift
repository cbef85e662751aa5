import Foundation
import Media
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

extension FetchedFile {
    /// Decodes a `data:` URI input with Media's parser (RFC 2397, lenient about what clients
    /// really send, bounded before it decodes).
    /// - Parameters:
    ///   - uri: the URI.
    ///   - field: the input field, for error locations.
    ///   - maxBytes: largest decoded size accepted.
    /// - Throws: `ModelError` `file_download_error` naming the field: 413 when the payload is
    ///   larger than `maxBytes`, 422 when the URI is malformed.
    public static func decoding(dataURI uri: String, field: String, maxBytes: Int) throws -> FetchedFile {
        do {
            let parsed = try DataURI(parsing: uri, maxBytes: maxBytes)
            return FetchedFile(data: Data(parsed.payload), contentType: parsed.mimeType, fileName: nil)
        } catch let error as MediaError {
            throw ModelError(.fileDownloadError, "\(field): \(error.message)", status: error.code == .tooLarge ? 413 : 422,
                             field: ["body", field])
        }
    }
}
