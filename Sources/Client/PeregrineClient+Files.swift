import APITypes
import Foundation
import NIOCore
import NIOHTTP1

extension PeregrineClient {
    /// Uploads bytes the way fal's JS client does (`/storage/upload/initiate` and a `PUT`, or
    /// the multipart flow for large files) and returns the file URL, which any input field
    /// taking a URL accepts.
    /// - Throws: ``ClientError`` (413 over the server's limits or the key's quota).
    public func upload(_ data: Data, contentType: String, fileName: String) async throws -> String {
        let request = JSON.encode(UploadInitiateRequest(contentType: contentType, fileName: fileName))
        if data.count <= multipartThreshold {
            let initiate = try await send(
                .POST, "\(baseURL)/storage/upload/initiate?storage_type=fal-cdn-v3", body: request, as: UploadInitiateResponse.self)
            _ = try await exchange(.PUT, initiate.uploadURL, body: nil, headers: [:], authenticated: false, bytes: data, contentType: contentType)
            return initiate.fileURL
        }
        let initiate = try await send(
            .POST, "\(baseURL)/storage/upload/initiate-multipart?storage_type=fal-cdn-v3", body: request, as: UploadInitiateResponse.self)
        var parts: [UploadedPart] = []
        var offset = data.startIndex
        var number = 1
        while offset < data.endIndex {
            let end = data.index(offset, offsetBy: max(1, partSize), limitedBy: data.endIndex) ?? data.endIndex
            let answer = try await exchange(
                .PUT, "\(initiate.uploadURL)/\(number)", body: nil, headers: [:], authenticated: false,
                bytes: data.subdata(in: offset..<end), contentType: contentType)
            let etag = (try? JSONDecoder().decode(UploadedPart.self, from: answer.body))?.etag
                ?? answer.headers.first { $0.0.lowercased() == "etag" }?.1
            guard let etag else { throw ClientError(.invalidResponse, underlying: nil, body: answer.body) }
            parts.append(UploadedPart(partNumber: number, etag: etag))
            offset = end
            number += 1
        }
        _ = try await exchange(
            .POST, "\(initiate.uploadURL)/complete", body: JSON.encode(MultipartCompleteRequest(parts: parts)), headers: [:],
            authenticated: false)
        return initiate.fileURL
    }

    /// Uploads a local file (see ``upload(_:contentType:fileName:)``), its type taken from the
    /// extension unless given.
    public func upload(fileAt url: URL, contentType: String? = nil) async throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw ClientError(.transport, underlying: error)
        }
        return try await upload(data, contentType: contentType ?? Self.mediaType(forPath: url.path), fileName: url.lastPathComponent)
    }

    /// Downloads a file URL (output files, uploads).
    public func download(_ url: String) async throws -> Data {
        try await exchange(.GET, url, body: nil, headers: [:], authenticated: false).body
    }

    /// A MIME type for a file name's extension (the media the gallery models read and write).
    public static func mediaType(forPath path: String) -> String {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "webp": return "image/webp"
        case "gif": return "image/gif"
        case "mp4", "m4v": return "video/mp4"
        case "webm": return "video/webm"
        case "mov": return "video/quicktime"
        case "json": return "application/json"
        case "txt": return "text/plain"
        default: return "application/octet-stream"
        }
    }

    /// A retried exchange with a raw (non-JSON) body.
    func exchange(
        _ method: HTTPMethod, _ url: String, body: Data?, headers: [String: String], authenticated: Bool, bytes: Data, contentType: String
    ) async throws -> Answer {
        try await retrying {
            var request = makeRequest(method, url, body: nil, headers: headers, authenticated: authenticated)
            request.headers.replaceOrAdd(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: bytes))
            let answer = try await execute(request)
            guard (200..<300).contains(answer.status) else {
                throw ClientError(status: answer.status, body: answer.body, headers: answer.headers)
            }
            return answer
        }
    }
}
