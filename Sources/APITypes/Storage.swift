import Foundation

/// Body of `POST /storage/upload/initiate` (JS client).
public struct UploadInitiateRequest: Sendable, Codable, Equatable {
    /// MIME type.
    public var contentType: String?
    /// File name.
    public var fileName: String?

    /// - Parameters:
    ///   - contentType: MIME type of the file to upload.
    ///   - fileName: its name, kept in the file URL.
    public init(contentType: String?, fileName: String?) {
        self.contentType = contentType
        self.fileName = fileName
    }

    enum CodingKeys: String, CodingKey {
        case contentType = "content_type"
        case fileName = "file_name"
    }
}

/// Answer of `initiate` and `initiate-multipart`: where to `PUT` the bytes and the URL the file
/// will have.
public struct UploadInitiateResponse: Sendable, Codable, Equatable {
    /// Where to `PUT` the bytes (no key needed).
    public var uploadURL: String
    /// URL of the file once uploaded.
    public var fileURL: String

    /// - Parameters:
    ///   - uploadURL: unguessable URL that accepts the bytes without auth.
    ///   - fileURL: URL of the file once uploaded.
    public init(uploadURL: String, fileURL: String) {
        self.uploadURL = uploadURL
        self.fileURL = fileURL
    }

    enum CodingKeys: String, CodingKey {
        case uploadURL = "upload_url"
        case fileURL = "file_url"
    }
}

/// One uploaded part: the answer to a part `PUT` and an element of the completion body.
public struct UploadedPart: Sendable, Codable, Equatable {
    /// 1-based part number.
    public var partNumber: Int
    /// Entity tag of the part.
    public var etag: String

    /// - Parameters:
    ///   - partNumber: 1-based part number.
    ///   - etag: the part's entity tag.
    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

/// Body of a multipart completion: `{"parts": [{"partNumber", "etag"}]}`.
public struct MultipartCompleteRequest: Sendable, Codable, Equatable {
    /// The uploaded parts.
    public var parts: [UploadedPart]

    /// - Parameter parts: every part, in any order.
    public init(parts: [UploadedPart]) { self.parts = parts }
}

/// Answer of `POST /storage/auth/token` (Python client).
public struct StorageToken: Sendable, Codable, Equatable {
    /// The signed bearer token.
    public var token: String
    /// Always `Bearer`.
    public var tokenType: String
    /// Where `/files/upload` lives.
    public var baseURL: String
    /// ISO-8601 with an explicit offset (`...+00:00`): Python parses it with `fromisoformat`.
    public var expiresAt: String

    /// - Parameters:
    ///   - token: the signed token.
    ///   - baseURL: upload base URL.
    ///   - expiresAt: expiry.
    public init(token: String, baseURL: String, expiresAt: Date) {
        self.token = token
        self.tokenType = "Bearer"
        self.baseURL = baseURL
        self.expiresAt = ISO8601.string(from: expiresAt)
    }

    enum CodingKeys: String, CodingKey {
        case token
        case tokenType = "token_type"
        case baseURL = "base_url"
        case expiresAt = "expires_at"
    }
}

/// Answer of `POST /files/upload`: `{"access_url"}`.
public struct FileUploadResponse: Sendable, Codable, Equatable {
    /// URL of the stored file.
    public var accessURL: String

    /// - Parameter accessURL: URL of the stored file.
    public init(accessURL: String) { self.accessURL = accessURL }

    enum CodingKeys: String, CodingKey { case accessURL = "access_url" }
}

/// Answer of `POST /files/upload/multipart`: `{"access_url", "uploadId"}`; parts go to
/// `{access_url}/multipart/{uploadId}/{n}`.
public struct MultipartUploadResponse: Sendable, Codable, Equatable {
    /// URL of the stored file.
    public var accessURL: String
    /// Id of the multipart upload.
    public var uploadID: String

    /// - Parameters:
    ///   - accessURL: URL the file will have.
    ///   - uploadID: id of the multipart upload.
    public init(accessURL: String, uploadID: String) {
        self.accessURL = accessURL
        self.uploadID = uploadID
    }

    enum CodingKeys: String, CodingKey {
        case accessURL = "access_url"
        case uploadID = "uploadId"
    }
}
