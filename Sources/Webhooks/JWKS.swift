import Crypto
import Foundation

/// A JSON Web Key Set of Ed25519 public keys (RFC 8037), as served at `/.well-known/jwks.json`.
public struct JWKS: Sendable, Codable, Equatable {
    /// The keys; receivers pick one by `kid`.
    public var keys: [JWK]

    /// A key set.
    public init(keys: [JWK]) { self.keys = keys }

    /// The JSON document (sorted keys, stable bytes).
    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings cannot fail.
        return (try? encoder.encode(self)) ?? Data(#"{"keys":[]}"#.utf8)
    }
}

/// One Ed25519 public key as a JWK: `{"kty":"OKP","crv":"Ed25519","x":<base64url>,"kid","alg":"EdDSA","use":"sig"}`.
public struct JWK: Sendable, Codable, Equatable {
    /// Key type: `OKP` (octet key pair).
    public var kty: String
    /// Curve: `Ed25519`.
    public var crv: String
    /// The 32 public key bytes, base64url without padding.
    public var x: String
    /// Key id, matched by receivers that hold several keys.
    public var kid: String
    /// Algorithm: `EdDSA`.
    public var alg: String?
    /// Intended use: `sig`.
    public var use: String?

    /// The JWK of an Ed25519 public key.
    public init(publicKey: Curve25519.Signing.PublicKey, keyID: String) {
        kty = "OKP"
        crv = "Ed25519"
        x = Base64URL.encode(publicKey.rawRepresentation)
        kid = keyID
        alg = "EdDSA"
        use = "sig"
    }

    /// The public key this JWK describes.
    /// - Throws: `WebhookKeyError` when it is not an Ed25519 OKP key or `x` is malformed.
    public func publicKey() throws -> Curve25519.Signing.PublicKey {
        guard kty == "OKP", crv == "Ed25519", let raw = Base64URL.decode(x) else {
            throw WebhookKeyError("JWK \(kid) is not an Ed25519 public key")
        }
        do {
            return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        } catch {
            throw WebhookKeyError("JWK \(kid) has a malformed key")
        }
    }
}

/// base64url without padding (RFC 4648 §5), as JOSE uses it.
public enum Base64URL {
    /// Encodes bytes.
    public static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes text, or `nil` when it is not base64url.
    public static func decode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
