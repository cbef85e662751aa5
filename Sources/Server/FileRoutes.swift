import APITypes
import BlobStore
import Foundation
import Hummingbird
import Platform

/// `/files`: stored files by their unguessable URL (no key needed), and the Python client's
/// uploads (`POST /files/upload`, `POST /files/upload/multipart`, parts and completion under
/// `{access_url}/multipart/{upload_id}/...`).
enum FileRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let s = Array(call.segments.dropFirst())
        switch s {
        case ["upload"]:
            try call.allow(.post)
            let caller = try call.authorizedCaller()
            return try await upload(call, caller: caller, services: services)
        case ["upload", "multipart"]:
            try call.allow(.post)
            let caller = try call.authorizedCaller()
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
        let contentType = try MediaType.checked(call.request.headers[.contentType], loc: [.key("header"), .key("content-type")])
        let expires = try StorageRoutes.expiry(call, services: services)
        let limits = StorageRoutes.uploadLimits(uploadID: nil, partNumber: nil, owner: caller.keyID, services: services)
        let blob = try await StorageRoutes.receiveStaged(call, limits: limits, services: services) {
            try await services.blobs.put(staged: $0, contentType: contentType, fileName: name, expiresAt: expires)
        }
        return JSON.response(FileUploadResponse(accessURL: FileNames.url(base: call.base, id: blob.id, name: name)))
    }

    private static func beginMultipart(_ call: APICall, caller: Caller, services: APIServices) async throws -> Response {
        let name = FileNames.sanitize(call.request.headers[.falFileName] ?? "upload.bin")
        let contentType = try MediaType.checked(call.request.headers[.contentType], loc: [.key("header"), .key("content-type")])
        let expires = try StorageRoutes.expiry(call, services: services)
        let uploadID = try await StorageRoutes.begin(
            contentType: contentType, fileName: name, expiresAt: expires, caller: caller, services: services)
        return JSON.response(MultipartUploadResponse(accessURL: FileNames.url(base: call.base, id: uploadID, name: name), uploadID: uploadID))
    }

    /// Streams a stored file with its content type.
    private static func serve(_ call: APICall, id: String, services: APIServices) async throws -> Response {
        guard let reader = try await FileLookup.open(id, blobs: services.blobs, uploads: services.uploads) else {
            throw APIError.detail(.notFound, "File not found")
        }
        let metadata = reader.metadata
        var headers = FileResponse.securityHeaders()
        // Files stored before content types were checked at upload are served as plain bytes.
        let contentType = MediaType.isValid(metadata.contentType) ? metadata.contentType : MediaType.fallback
        headers[.contentType] = contentType
        headers[.contentLength] = String(metadata.size)
        headers[.eTag] = "\"\(metadata.sha256)\""
        headers[.cacheControl] = "private, max-age=3600"
        headers[.contentDisposition] = FileResponse.disposition(contentType: contentType, fileName: metadata.fileName)
        headers[.acceptRanges] = "bytes"
        let size = Int(metadata.size)
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        if let raw = call.request.headers[.range] {
            switch ByteRange.parse(raw, size: size) {
            case .whole:
                break
            case .unsatisfiable:
                try? await reader.close()
                var h = FileResponse.securityHeaders()
                h[.contentRange] = "bytes */\(size)"
                throw APIError(status: .rangeNotSatisfiable, body: JSON.encode(ErrorDetail("Range not satisfiable")), headers: h)
            case .part(let r):
                range = r
                status = .partialContent
                headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"
                headers[.contentLength] = String(r.count)
            }
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

/// One `Range: bytes=...` request header, parsed without trusting its numbers: positions are
/// digit strings of any length, saturated at `Int.max`, so no arithmetic on them can overflow.
enum ByteRange: Equatable {
    /// No usable range: serve the whole file with 200 (a header that does not parse, another
    /// unit, or several ranges, which this server does not answer as `multipart/byteranges`;
    /// RFC 9110 §14.2 lets a server ignore such a header).
    case whole
    /// The bytes to send with 206.
    case part(Range<Int>)
    /// A well-formed range that lies wholly beyond the end: 416.
    case unsatisfiable

    /// The answer to `header` for a file of `size` bytes.
    static func parse(_ header: String, size: Int) -> ByteRange {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = h.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        let size = max(0, size)
        if first.isEmpty {
            // `bytes=-N`: the last N bytes (all of them when N is larger than the file).
            guard let n = digits(last) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .part((size - min(n, size))..<size)
        }
        guard let start = digits(first) else { return .whole }
        var end = Int.max
        if !last.isEmpty {
            guard let e = digits(last) else { return .whole }
            guard e >= start else { return .whole }
            end = e
        }
        guard start < size else { return .unsatisfiable }
        // `end` may be anything up to Int.max: clamp to the last byte before adding one.
        return .part(start..<(min(end, size - 1) + 1))
    }

    /// A non-empty run of ASCII digits as a number, saturated at `Int.max`; `nil` otherwise
    /// (signs, spaces and other characters that `Int(_:)` would accept or choke on).
    static func digits(_ text: String) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard (48...57).contains(byte) else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte - 48))
            value = o1 || o2 ? Int.max : sum
        }
        return value
    }
}
