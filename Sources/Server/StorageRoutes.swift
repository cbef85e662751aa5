import APITypes
import BlobStore
import Foundation
import Hummingbird
import Platform

/// Uploads as fal's clients do them.
///
/// JS: `POST /storage/upload/initiate` → `{upload_url, file_url}`, then `PUT upload_url`;
/// multipart: `POST /storage/upload/initiate-multipart`, `PUT {upload_url}/{n}`,
/// `POST {upload_url}/complete`. Upload URLs carry an unguessable id and need no key.
/// Python: `POST /storage/auth/token` → a bearer token for `POST /files/upload` (see `FileRoutes`).
enum StorageRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        let s = Array(call.segments.dropFirst())
        switch s {
        case ["upload", "initiate"], ["upload", "initiate-multipart"]:
            try call.allow(.post)
            let caller = try call.authorizedCaller()
            return try await initiate(call, caller: caller, services: services)
        case ["auth", "token"]:
            try call.allow(.post)
            // The middleware took an API key only: a storage token must not mint its own successors.
            let caller = try call.authorizedCaller()
            let lifetime = min(max(1, services.configuration.storageTokenLifetime), ServerConfiguration.maxStorageTokenLifetime)
            let expires = Date().addingTimeInterval(lifetime)
            let token = services.tokens.issue(subject: caller.keyID ?? "anonymous", scope: "storage", expiresAt: expires)
            return JSON.response(StorageToken(token: token, baseURL: call.base, expiresAt: expires))
        case _ where s.count == 2 && s[0] == "upload":
            try call.allow(.put)
            return try await putWhole(call, uploadID: s[1], services: services)
        case _ where s.count == 3 && s[0] == "upload" && s[2] == "complete":
            try call.allow(.post)
            return try await complete(call, uploadID: s[1], services: services)
        case _ where s.count == 3 && s[0] == "upload":
            try call.allow(.put)
            return try await putPart(call, uploadID: s[1], part: s[2], services: services)
        default:
            throw APIError.detail(.notFound, "Not Found")
        }
    }

    private static func initiate(_ call: APICall, caller: Caller, services: APIServices) async throws -> Response {
        let buffer = try await call.body(limit: 64 * 1024)
        let request: UploadInitiateRequest
        do {
            request = try JSONDecoder().decode(UploadInitiateRequest.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.validation([.key("body")], "body must be {\"content_type\": str, \"file_name\": str}", type: "value_error.jsondecode")
        }
        let fileName = FileNames.sanitize(request.fileName ?? "upload.bin")
        let contentType = try MediaType.checked(request.contentType, loc: [.key("body"), .key("content_type")])
        let expires = try expiry(call, services: services)
        // The upload URL needs no key: the initiating key is recorded so its bytes count
        // against that key's quota.
        let uploadID = try await begin(contentType: contentType, fileName: fileName, expiresAt: expires, caller: caller, services: services)
        return JSON.response(UploadInitiateResponse(
            uploadURL: "\(call.base)/storage/upload/\(uploadID)",
            fileURL: FileNames.url(base: call.base, id: uploadID, name: fileName)))
    }

    /// `PUT upload_url`: the whole file in one request, streamed to disk.
    private static func putWhole(_ call: APICall, uploadID: String, services: APIServices) async throws -> Response {
        try await requireUpload(uploadID, services: services)
        let blob = try await receiveStaged(call, limits: uploadLimits(uploadID: uploadID, partNumber: nil, services: services), services: services) {
            try await services.blobs.completeUpload(uploadID: uploadID, staged: $0)
        }
        return JSON.response(FileUploadResponse(accessURL: FileNames.url(base: call.base, id: blob.id, name: blob.fileName ?? "file")))
    }

    /// `PUT {upload_url}/{n}` (JS) or `PUT {file_url}/multipart/{upload_id}/{n}` (Python),
    /// streamed to disk. The upload's parts together stay within `maxUploadBytes`, checked
    /// before the part is stored.
    static func putPart(_ call: APICall, uploadID: String, part: String, services: APIServices) async throws -> Response {
        guard let number = Int(part), number >= 1 else {
            throw APIError.validation([.key("path"), .key("part_number")], "value is not a valid integer", type: "type_error.integer")
        }
        guard number <= services.configuration.maxUploadParts else {
            throw APIError.validation(
                [.key("path"), .key("part_number")], "part number must be at most \(services.configuration.maxUploadParts)",
                type: "value_error.number.not_le")
        }
        try await requireUpload(uploadID, services: services)
        let etag = try await receiveStaged(call, limits: uploadLimits(uploadID: uploadID, partNumber: number, services: services), services: services) {
            try await services.blobs.putPart(uploadID: uploadID, partNumber: number, staged: $0)
        }
        var headers = HTTPFields()
        headers[.eTag] = etag
        return JSON.response(UploadedPart(partNumber: number, etag: etag), headers: headers)
    }

    /// `POST {upload_url}/complete` with `{"parts": [...]}`. Completing an upload that is
    /// already a file (a retry whose first answer was lost) answers that file.
    static func complete(_ call: APICall, uploadID: String, services: APIServices) async throws -> Response {
        if try await services.blobs.upload(id: uploadID) == nil {
            guard let blob = try await services.blobs.metadata(id: uploadID) else {
                throw APIError.detail(.notFound, "Upload not found")
            }
            return JSON.response(FileUploadResponse(accessURL: FileNames.url(base: call.base, id: blob.id, name: blob.fileName ?? "file")))
        }
        let buffer = try await call.body(limit: 4 << 20)
        let request: MultipartCompleteRequest
        do {
            request = try JSONDecoder().decode(MultipartCompleteRequest.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.validation([.key("body"), .key("parts")], "body must be {\"parts\": [{\"partNumber\": int, \"etag\": str}]}", type: "value_error.jsondecode")
        }
        let parts = request.parts.sorted { $0.partNumber < $1.partNumber }.map {
            // Clients may echo the ETag header with its quotes.
            BlobPart(partNumber: $0.partNumber, etag: $0.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        }
        // The blob takes the upload's id, so the promised file URL resolves from the moment the
        // store commits it: there is no second record to lose in a crash.
        let blob = try await blobCall { try await services.blobs.completeMultipart(uploadID: uploadID, parts: parts) }
        return JSON.response(FileUploadResponse(accessURL: FileNames.url(base: call.base, id: blob.id, name: blob.fileName ?? "file")))
    }

    /// Starts an upload owned by the caller's key.
    /// - Throws: `APIError` 429 when the key has too many uploads in progress.
    static func begin(
        contentType: String, fileName: String, expiresAt: Date, caller: Caller, services: APIServices
    ) async throws -> String {
        do {
            return try await services.blobs.beginMultipart(
                contentType: contentType, fileName: fileName, expiresAt: expiresAt, owner: caller.keyID)
        } catch let error as BlobStoreError where error.code == .quotaExceeded {
            throw APIError.typed(
                .tooManyRequests, "Too many uploads in progress for this key: \(error.message). Complete or abandon some first.",
                type: "rate_limited")
        }
    }

    /// Answers 404 unless `uploadID` is an upload in progress: checked before a byte of the body
    /// is read.
    static func requireUpload(_ uploadID: String, services: APIServices) async throws {
        guard try await blobCall({ try await services.blobs.upload(id: uploadID) }) != nil else {
            throw APIError.detail(.notFound, "Upload not found")
        }
    }

    /// Streams the request body to a staging file within `limits`, holding one of the upload
    /// gate's slots, hands the file to `store` (blob store errors mapped to fal answers) and
    /// removes whatever `store` did not take.
    static func receiveStaged<T>(
        _ call: APICall, limits: StagingLimits, services: APIServices, _ store: (StagingFile) async throws -> T
    ) async throws -> T {
        try await services.uploadGate.withSlot {
            let staged = try await call.receiveBody(
                into: services.blobs, limits: limits, gate: services.uploadGate,
                timeout: .seconds(services.configuration.uploadTimeout))
            defer { staged.discard() }
            return try await blobCall { try await store(staged) }
        }
    }

    /// What one upload request may store: at most `maxUploadBytes`, within the upload's total of
    /// `maxUploadBytes` and the initiating key's quota.
    static func uploadLimits(uploadID: String?, partNumber: Int?, owner: String? = nil, services: APIServices) -> StagingLimits {
        let c = services.configuration
        return StagingLimits(
            maxBytes: Int64(c.maxUploadBytes), owner: owner, ownerQuota: c.uploadQuotaBytes, uploadID: uploadID,
            partNumber: partNumber, maxUploadTotal: uploadID == nil ? nil : Int64(c.maxUploadBytes))
    }

    /// Expiry of an uploaded file: the lifecycle header if sent, else the result TTL.
    static func expiry(_ call: APICall, services: APIServices) throws -> Date {
        for name in [HTTPField.Name.falObjectLifecycle, .falObjectLifecycleCDN] {
            if let raw = call.request.headers[name] {
                return Date().addingTimeInterval(
                    try SubmitOptions.lifetime(raw, header: name.rawName, max: services.configuration.maxObjectLifetime))
            }
        }
        return Date().addingTimeInterval(services.configuration.resultTTL)
    }

    /// Runs a blob store call, mapping its errors to fal-shaped answers.
    static func blobCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as BlobStoreError {
            switch error.code {
            case .notFound, .invalidID: throw APIError.detail(.notFound, "Upload not found")
            case .tooLarge: throw APIError.typed(.contentTooLarge, error.message, type: "request_too_large")
            case .quotaExceeded: throw APIError.typed(.contentTooLarge, error.message, type: "upload_quota_exceeded")
            case .invalidPart: throw APIError.validation([.key("body"), .key("parts")], error.message, type: "value_error.parts")
            default: throw error
            }
        }
    }
}
