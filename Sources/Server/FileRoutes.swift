import APITypes
import BlobStore
import Foundation
import Hummingbird

/// `/files`: stored files by their unguessable URL (no key needed), and the Python client's
/// uploads (`POST /files/upload`, `POST /files/upload/multipart`, parts and completion under
/// `{access_url}/multipart/{upload_id}/...`).
enum FileRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let s = Array(call.segments.dropFirst())
        switch s {
        case ["upload"]:
            try call.allow(.post)
            let caller = try await services.auth.authenticate(call.request)
            return try await upload(call, caller: caller, services: services)
        case ["upload", "multipart"]:
            try call.allow(.post)
            let caller = try await services.auth.authenticate(call.request)
            return try await beginMultipart(call, caller: caller, services: services)
        default:
            break
        }
        guard s.count >= 1, UploadIndex.isID(s[0]) else { throw APIError.detail(.notFound, "File not found") }
        // {id}/{name}/multipart/{upload_id}/{n|complete}
        if s.count == 5, s[2] == "multipart", s[3] == s[0] {
            if s[4] == "complete" {
                try call.allow(.post)
                return try await StorageRoutes.complete(call, uploadID: s[3], services: services)
            }
            try call.allow(.put)
            return try await StorageRoutes.putPart(call, uploadID: s[3], part: s[4], services: services)
        }
        guard s.count <= 2 else { throw APIError.detail(.notFound, "File not found") }
        try call.allow(.get, .head)
        return try await serve(call, id: s[0], services: services)
    }

    /// `POST /files/upload`: the body streamed to disk, counted against the caller's quota.
    private static func upload(_ call: APICall, caller: Caller, services: APIServices) async throws -> Response {
        let name = FileNames.sanitize(call.request.headers[.falFileName] ?? "upload.bin")
        let contentType = call.request.headers[.contentType] ?? "application/octet-stream"
        let expires = try StorageRoutes.expiry(call, services: services)
        let blob = try await services.uploadGate.withSlot {
            let staged = try await call.receiveBody(
                into: services.blobs,
                limits: StorageRoutes.uploadLimits(uploadID: nil, partNumber: nil, owner: caller.keyID, services: services),
                gate: services.uploadGate, timeout: .seconds(services.configuration.uploadTimeout))
            defer { staged.discard() }
            return try await StorageRoutes.blobCall {
                try await services.blobs.put(staged: staged, contentType: contentType, fileName: name, expiresAt: expires)
            }
        }
        return JSON.response(FileUploadResponse(accessURL: FileNames.url(base: call.base, id: blob.id, name: name)))
    }

    private static func beginMultipart(_ call: APICall, caller: Caller, services: APIServices) async throws -> Response {
        let name = FileNames.sanitize(call.request.headers[.falFileName] ?? "upload.bin")
        let contentType = call.request.headers[.contentType] ?? "application/octet-stream"
        let expires = try StorageRoutes.expiry(call, services: services)
        let uploadID = try await StorageRoutes.begin(
            contentType: contentType, fileName: name, expiresAt: expires, caller: caller, services: services)
        return JSON.response(MultipartUploadResponse(accessURL: FileNames.url(base: call.base, id: uploadID, name: name), uploadID: uploadID))
    }

    /// Streams a stored file with its content type.
    private static func serve(_ call: APICall, id: String, services: APIServices) async throws -> Response {
        guard let reader = try await FileLookup.open(id, services: services) else {
            throw APIError.detail(.notFound, "File not found")
        }
        let metadata = reader.metadata
        var headers = HTTPFields()
        headers[.contentType] = metadata.contentType
        headers[.contentLength] = String(metadata.size)
        headers[.eTag] = "\"\(metadata.sha256)\""
        headers[.cacheControl] = "private, max-age=3600"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if let name = metadata.fileName {
            headers[.contentDisposition] = "inline; filename=\"\(FileNames.sanitize(name))\""
        }
        headers[.acceptRanges] = "bytes"
        let size = Int(metadata.size)
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        if let raw = call.request.headers[.range] {
            guard let r = ByteRange.parse(raw, size: size) else {
                try? await reader.close()
                var h = HTTPFields()
                h[.contentRange] = "bytes */\(size)"
                throw APIError(status: .rangeNotSatisfiable, body: JSON.encode(ErrorDetail("Range not satisfiable")), headers: h)
            }
            range = r
            status = .partialContent
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"
            headers[.contentLength] = String(r.count)
        }
        if call.method == .head {
            try? await reader.close()
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let wanted = range
        let body = ResponseBody(contentLength: wanted.count) { writer in
            do {
                var offset = 0
                while offset < wanted.upperBound {
                    let chunk = try await reader.read(upTo: 1 << 20)
                    if chunk.isEmpty { break }
                    let chunkRange = offset..<(offset + chunk.count)
                    offset += chunk.count
                    let lower = max(chunkRange.lowerBound, wanted.lowerBound)
                    let upper = min(chunkRange.upperBound, wanted.upperBound)
                    guard lower < upper else { continue }
                    let start = chunk.startIndex + (lower - chunkRange.lowerBound)
                    try await writer.write(ByteBuffer(bytes: chunk[start..<(start + upper - lower)]))
                }
                try await reader.close()
            } catch {
                try? await reader.close()
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}

/// One `Range: bytes=...` request header (single ranges only; a multi-range request is
/// answered as unsatisfiable).
enum ByteRange {
    /// The byte range asked for within a file of `size` bytes, or `nil` when unsatisfiable.
    static func parse(_ header: String, size: Int) -> Range<Int>? {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.lowercased().hasPrefix("bytes="), size > 0 else { return nil }
        let spec = h.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let n = Int(last), n > 0 else { return nil }
            return max(0, size - n)..<size
        }
        guard let start = Int(first), start >= 0, start < size else { return nil }
        if last.isEmpty { return start..<size }
        guard let end = Int(last), end >= start else { return nil }
        return start..<min(size, end + 1)
    }
}

/// Finds a stored file by the id in its URL: a blob id, or an upload id that became a blob.
enum FileLookup {
    static func open(_ id: String, services: APIServices) async throws -> (any BlobReader)? {
        try await open(id, blobs: services.blobs, uploads: services.uploads)
    }

    /// Opens a stored file for streaming reads; uploads completed by earlier versions are found
    /// through the upload index (completed uploads now keep their id).
    static func open(_ id: String, blobs: any BlobStore, uploads: UploadIndex) async throws -> (any BlobReader)? {
        if let reader = try await blobs.open(id: id) { return reader }
        if let blobID = uploads.blobID(for: id) { return try await blobs.open(id: blobID) }
        return nil
    }

    static func get(_ id: String, blobs: any BlobStore, uploads: UploadIndex) async throws -> Blob? {
        if let blob = try await blobs.get(id: id) { return blob }
        if let blobID = uploads.blobID(for: id) { return try await blobs.get(id: blobID) }
        return nil
    }
}
