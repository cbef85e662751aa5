import Crypto
import Foundation

/// How every key store makes and checks API keys: a key is `pk_<random>` plus a 32-byte random
/// secret (base64url); only a per-key random salt and HMAC-SHA256(salt, secret) are stored, and
/// the check is constant-time.
public enum APIKeySecret {
    /// A new key's id, secret (shown once), salt and stored hash.
    public static func generate() -> (id: String, secret: String, salt: Data, hash: Data) {
        let id = "pk_" + base64URL(randomBytes(12))
        let secret = base64URL(randomBytes(32))
        let salt = randomBytes(16)
        return (id, secret, salt, hash(secret: secret, salt: salt))
    }

    /// HMAC-SHA256(salt, secret): what is stored instead of the secret.
    public static func hash(secret: String, salt: Data) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: SymmetricKey(data: salt)))
    }

    /// Whether `secret` matches; `isValidAuthenticationCode` compares in constant time.
    public static func matches(secret: String, salt: Data, hash: Data) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(hash, authenticating: Data(secret.utf8), using: SymmetricKey(data: salt))
    }

    /// The same work as a real check, for an unknown id, so it is not told apart by timing.
    public static func matchNothing(secret: String) {
        _ = matches(secret: secret, salt: Data(count: 16), hash: Data(count: 32))
    }

    static func randomBytes(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
