import Crypto
import Foundation

/// Signs webhook deliveries the way fal does, so receivers verify them with fal's recipe:
/// `X-Fal-Webhook-Signature = hex(Ed25519_sign(key, request_id + "\n" + user_id + "\n" +
/// timestamp + "\n" + hex(sha256(raw body))))`, with the public key published as JWKS.
public struct WebhookSigner: Sendable {
    /// The signing key.
    public let privateKey: Curve25519.Signing.PrivateKey
    /// Key id published in the JWKS (`kid`): hex of the first 8 bytes of SHA-256(public key).
    public let keyID: String

    /// The default key file name inside the key directory.
    public static let defaultKeyFileName = "webhook-ed25519.key"

    /// A signer with a given key.
    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        self.keyID = SHA256.hash(data: privateKey.publicKey.rawRepresentation).prefix(8)
            .map { String(format: "%02x", $0) }.joined()
    }

    /// Loads the signer's key from `directory`, generating and persisting a new one on first
    /// start. The key file holds the 32 raw key bytes and is created with mode 0600.
    /// - Throws: `WebhookKeyError` when the file cannot be read or written, or is malformed.
    public static func loadOrCreate(directory: String, fileName: String = defaultKeyFileName) throws -> WebhookSigner {
        let path = directory + "/" + fileName
        if let existing = FileManager.default.contents(atPath: path) {
            return try WebhookSigner(privateKey: parse(existing, path: path))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = Curve25519.Signing.PrivateKey()
        switch KeyFile.createExclusively(path: path, contents: key.rawRepresentation) {
        case .created:
            return WebhookSigner(privateKey: key)
        case .exists:
            // Another process created it first: use theirs, so both sign with one key.
            guard let existing = FileManager.default.contents(atPath: path) else {
                throw WebhookKeyError("cannot read \(path)")
            }
            return try WebhookSigner(privateKey: parse(existing, path: path))
        case .failed(let message):
            throw WebhookKeyError(message)
        }
    }

    private static func parse(_ data: Data, path: String) throws -> Curve25519.Signing.PrivateKey {
        do {
            return try Curve25519.Signing.PrivateKey(rawRepresentation: data)
        } catch {
            throw WebhookKeyError("\(path) does not hold a 32-byte Ed25519 key")
        }
    }

    /// The exact bytes that are signed.
    public static func message(requestID: String, userID: String, timestamp: Int64, body: Data) -> Data {
        let bodyDigest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        return Data("\(requestID)\n\(userID)\n\(timestamp)\n\(bodyDigest)".utf8)
    }

    /// The hex signature of one delivery.
    /// - Throws: when the signing primitive fails (it does not for a valid key).
    public func signature(requestID: String, userID: String, timestamp: Int64, body: Data) throws -> String {
        let message = Self.message(requestID: requestID, userID: userID, timestamp: timestamp, body: body)
        return try privateKey.signature(for: message).map { String(format: "%02x", $0) }.joined()
    }

    /// The four `X-Fal-Webhook-*` headers for one delivery.
    public func headers(requestID: String, userID: String, timestamp: Int64, body: Data) throws -> [(String, String)] {
        [
            ("X-Fal-Webhook-Request-Id", requestID),
            ("X-Fal-Webhook-User-Id", userID),
            ("X-Fal-Webhook-Timestamp", String(timestamp)),
            ("X-Fal-Webhook-Signature", try signature(requestID: requestID, userID: userID, timestamp: timestamp, body: body)),
        ]
    }

    /// The public key set to serve at `/.well-known/jwks.json`.
    public var jwks: JWKS {
        JWKS(keys: [JWK(publicKey: privateKey.publicKey, keyID: keyID)])
    }
}

/// The webhook key file could not be loaded or created.
public struct WebhookKeyError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// An error with a message.
    public init(_ message: String) { self.message = message }
    public var description: String { "WebhookKeyError: \(message)" }
}
