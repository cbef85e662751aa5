import Foundation
import ModelKit

/// One model in `GET /models`.
public struct ModelInfo: Sendable, Codable, Equatable {
    /// Endpoint id `owner/alias[/path]`.
    public var id: String
    /// Model version.
    public var version: String
    /// Gallery category (`image-to-image`, ...).
    public var category: String
    /// Human-readable name.
    public var displayName: String
    public var description: String
    /// JSON Schema of the request body.
    public var inputSchema: JSONValue
    /// JSON Schema of the output.
    public var outputSchema: JSONValue

    /// Describes a manifest.
    public init(manifest: ModelManifest) {
        id = manifest.endpointID
        version = manifest.version
        category = manifest.category
        displayName = manifest.displayName
        description = manifest.description
        inputSchema = manifest.inputSchema
        outputSchema = manifest.outputSchema
    }

    enum CodingKeys: String, CodingKey {
        case id, version, category, description
        case displayName = "display_name"
        case inputSchema = "input_schema"
        case outputSchema = "output_schema"
    }
}

/// `GET /models`: `{"models": [...]}`.
public struct ModelList: Sendable, Codable, Equatable {
    /// The models.
    public var models: [ModelInfo]

    /// - Parameter models: the served models.
    public init(models: [ModelInfo]) { self.models = models }
}

/// An API key as listed (never with its secret).
public struct APIKeyInfo: Sendable, Codable, Equatable {
    /// Public id.
    public var id: String
    /// Label.
    public var name: String
    /// ISO-8601.
    public var createdAt: String
    /// ISO-8601, when revoked.
    public var revokedAt: String?
    /// Whether the key may use the admin API.
    public var admin: Bool

    /// - Parameters:
    ///   - id: public key id.
    ///   - name: label.
    ///   - createdAt: creation time.
    ///   - revokedAt: revocation time, if revoked.
    ///   - admin: whether the key may use the admin API.
    public init(id: String, name: String, createdAt: Date, revokedAt: Date?, admin: Bool = false) {
        self.id = id
        self.name = name
        self.createdAt = ISO8601.string(from: createdAt)
        self.revokedAt = revokedAt.map(ISO8601.string(from:))
        self.admin = admin
    }

    enum CodingKeys: String, CodingKey {
        case id, name, admin
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }
}

/// A newly created key: the only time its secret is shown.
public struct CreatedAPIKey: Sendable, Codable, Equatable {
    /// Public id.
    public var id: String
    /// Label.
    public var name: String
    /// `id:secret`, the value of `Authorization: Key ...` and of `FAL_KEY`.
    public var key: String

    /// - Parameters:
    ///   - id: public key id.
    ///   - name: label.
    ///   - secret: the secret.
    public init(id: String, name: String, secret: String) {
        self.id = id
        self.name = name
        self.key = "\(id):\(secret)"
    }
}

/// One event of `POST /run/{app}/stream` before the final output: the request's progress.
public struct RunProgressEvent: Sendable, Codable, Equatable {
    /// `IN_QUEUE` or `IN_PROGRESS`.
    public var status: QueueStatusKind
    /// The request id.
    public var requestID: String
    /// Jobs ahead of this one (0 = next).
    public var queuePosition: Int?
    /// The model's last progress report.
    public var progress: ModelKit.Progress?

    /// - Parameters:
    ///   - status: queued or running.
    ///   - requestID: the request.
    ///   - queuePosition: jobs ahead, while queued.
    ///   - progress: the model's last progress report.
    public init(status: QueueStatusKind, requestID: String, queuePosition: Int?, progress: ModelKit.Progress?) {
        self.status = status
        self.requestID = requestID
        self.queuePosition = queuePosition
        self.progress = progress
    }

    enum CodingKeys: String, CodingKey {
        case status, progress
        case requestID = "request_id"
        case queuePosition = "queue_position"
    }
}
