import Crypto
import Foundation

/// Issues and checks the server's own bearer tokens (storage tokens for the Python client's
/// uploads): compact JWTs signed with HMAC-SHA256 under a key kept in `$PEREGRINE_HOME`.
public struct TokenSigner: Sendable {
    /// What a valid token says.
    public struct Claims: Sendable, Equatable {
        /// The API key id the token was issued to (`anonymous` without auth).
        public var subject: String
        /// What the token may be used for (`storage`).
        public var scope: String
        /// When the token stops being accepted.
        public var expiresAt: Date
    }

    private let key: SymmetricKey

    /// - Parameter key: the HMAC key (at least 32 bytes).
    public init(key: SymmetricKey) { self.key = key }

    /// Loads the signing key from `file`, creating it (0600) when missing.
    /// - Throws: file-system errors.
    public static func loadOrCreate(at file: URL) throws -> TokenSigner {
        if let data = try? Data(contentsOf: file), data.count >= 32 {
            return TokenSigner(key: SymmetricKey(data: data))
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let key = SymmetricKey(size: .bits256)
        _ = FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600])
        try key.withUnsafeBytes { Data($0) }.write(to: file)
        return TokenSigner(key: key)
    }

    /// A signed token.
    public func issue(subject: String, scope: String, expiresAt: Date) -> String {
        let header = Self.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload: [String: Any] = ["sub": subject, "scope": scope, "exp": Int(expiresAt.timeIntervalSince1970)]
        let payloadData = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data()
        let signingInput = header + "." + Self.base64URL(payloadData)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return signingInput + "." + Self.base64URL(Data(mac))
    }

    /// The claims of a token this signer issued that has not expired; `nil` otherwise.
    public func verify(_ token: String, now: Date = Date()) -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let signature = Self.decodeBase64URL(String(parts[2])),
            let payloadData = Self.decodeBase64URL(String(parts[1])),
            let headerData = Self.decodeBase64URL(String(parts[0])),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
            header["alg"] as? String == "HS256"
        else { return nil }
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key),
            let payload = try? JSONSerialization.jsonObject(with: payloadData) as? [String: Any],
            let subject = payload["sub"] as? String, let scope = payload["scope"] as? String,
            let exp = (payload["exp"] as? NSNumber)?.doubleValue
        else { return nil }
        let expiresAt = Date(timeIntervalSince1970: exp)
        guard expiresAt > now else { return nil }
        return Claims(subject: subject, scope: scope, expiresAt: expiresAt)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if s.count % 4 != 0 { s += String(repeating: "=", count: 4 - s.count % 4) }
        return Data(base64Encoded: s)
    }
}
