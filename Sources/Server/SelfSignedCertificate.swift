import Crypto
import Foundation
import SwiftASN1
import X509

/// The development TLS certificate: generated on first start (P-256 key, self-signed, SAN
/// 127.0.0.1, ::1, localhost and the configured host names), reused afterwards, regenerated when
/// it expires within a month or no longer names every configured host.
public enum SelfSignedCertificate {
    /// Paths of a certificate and its key.
    public struct Files: Sendable, Equatable {
        /// PEM certificate.
        public var certificate: URL
        /// PEM private key (mode 0600).
        public var key: URL
    }

    /// Paths under `directory` (`cert.pem`, `key.pem`).
    public static func files(in directory: URL) -> Files {
        Files(certificate: directory.appendingPathComponent("cert.pem"), key: directory.appendingPathComponent("key.pem"))
    }

    /// Ensures a usable certificate exists in `directory` and returns its paths.
    /// - Parameters:
    ///   - directory: `$PEREGRINE_HOME/tls`.
    ///   - hostNames: extra DNS names or IP addresses the certificate must name.
    ///   - now: the current time.
    /// - Throws: file-system or encoding errors.
    @discardableResult
    public static func ensure(in directory: URL, hostNames: [String], now: Date = Date()) throws -> Files {
        let files = files(in: directory)
        if let pem = try? String(contentsOf: files.certificate, encoding: .utf8),
            FileManager.default.fileExists(atPath: files.key.path),
            let existing = try? Certificate(pemEncoded: pem),
            existing.notValidAfter > now.addingTimeInterval(30 * 24 * 3600),
            covers(existing, hostNames: hostNames)
        {
            return files
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        let certificate = try make(key: key, hostNames: hostNames, now: now)
        // The key is written with 0600 before any byte of it lands on disk.
        let keyPath = files.key.path
        _ = FileManager.default.createFile(atPath: keyPath, contents: nil, attributes: [.posixPermissions: 0o600])
        try Data(key.pemRepresentation.utf8).write(to: files.key)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        try Data(certificate.serializeAsPEM().pemString.utf8).write(to: files.certificate)
        return files
    }

    /// Builds a self-signed server certificate for `key`.
    ///
    /// No KeyUsage extension: OpenSSL treats a self-signed certificate as its own issuer only
    /// when KeyUsage is absent or allows certificate signing, and signing is wrong for a
    /// non-CA certificate; without it, clients can trust the file directly (`SSL_CERT_FILE`).
    static func make(key: P256.Signing.PrivateKey, hostNames: [String], now: Date) throws -> Certificate {
        let name = try DistinguishedName {
            CommonName("Peregrine local server")
            OrganizationName("Peregrine")
        }
        var names: [GeneralName] = [
            .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
            .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
        ]
        for host in hostNames where !host.isEmpty {
            if let ip = ipBytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip))))
            } else {
                names.append(.dnsName(host))
            }
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let keyID = SubjectKeyIdentifier(hash: publicKey)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
            keyID
            AuthorityKeyIdentifier(keyIdentifier: keyID.keyIdentifier)
        }
        var serial = [UInt8](repeating: 0, count: 16)
        for i in serial.indices { serial[i] = UInt8.random(in: 0...255) }
        serial[0] &= 0x7f
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(825 * 24 * 3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(key))
    }

    /// True when the certificate names every host in `hostNames`.
    static func covers(_ certificate: Certificate, hostNames: [String]) -> Bool {
        guard let san = try? certificate.extensions.subjectAlternativeNames else { return hostNames.isEmpty }
        return hostNames.allSatisfy { host in
            if let ip = ipBytes(host) {
                return san.contains { if case .ipAddress(let o) = $0 { return Array(o.bytes) == ip } else { return false } }
            }
            return san.contains { if case .dnsName(let d) = $0 { return d.lowercased() == host.lowercased() } else { return false } }
        }
    }

    /// The address bytes of an IPv4 or IPv6 literal, or `nil` for a host name.
    static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
