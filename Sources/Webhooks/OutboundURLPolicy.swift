import Foundation

/// Decides which URLs the server may send requests to (webhook targets, input files given as
/// URLs), so a client cannot make the server reach its own network (SSRF).
///
/// Only `http` and `https` are allowed. The host is resolved once and every address it resolves
/// to must be public (see `IPAddress.isPublic`), unless private addresses are allowed or the host
/// is on the allowlist. DNS rebinding: the caller must connect to `CheckedURL.address`, the
/// address that was checked, and not resolve the name again; `CheckedURL.dnsOverride` is the
/// AsyncHTTPClient setting that does this while TLS still verifies the certificate for the name.
public struct OutboundURLPolicy: Sendable {
    /// Allow loopback, private, link-local and other non-public addresses (development, tests,
    /// single-machine setups with local receivers).
    public var allowPrivateAddresses: Bool
    /// Host names (lowercase) exempt from the address check, e.g. an internal hook receiver.
    public var allowedHosts: Set<String>

    /// - Parameters:
    ///   - allowPrivateAddresses: default false.
    ///   - allowedHosts: hosts always allowed (compared case-insensitively).
    public init(allowPrivateAddresses: Bool = false, allowedHosts: Set<String> = []) {
        self.allowPrivateAddresses = allowPrivateAddresses
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
    }

    /// Checks `text` and resolves its host off the event loops.
    /// - Returns: the parsed URL with the checked address to connect to.
    /// - Throws: `OutboundURLError` naming why the URL is refused.
    public func check(_ text: String) async throws -> CheckedURL {
        let (url, scheme, host, port) = try Self.parse(text)
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            addresses = try await Resolver.resolve(host: host, port: port)
        }
        guard let first = addresses.first else {
            throw OutboundURLError(.resolutionFailed, "\(host) has no addresses")
        }
        if !allowPrivateAddresses && !allowedHosts.contains(host) {
            if let refused = addresses.first(where: { !$0.isPublic }) {
                throw OutboundURLError(.addressNotAllowed, "\(host) resolves to non-public address \(refused)")
            }
        }
        return CheckedURL(url: url, scheme: scheme, host: host, port: port, address: first, addresses: addresses)
    }

    /// Parses and checks the scheme; returns the URL, lowercase scheme and host (brackets removed), and port.
    static func parse(_ text: String) throws -> (URL, String, String, Int) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw OutboundURLError(.invalidURL, "not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw OutboundURLError(.schemeNotAllowed, "scheme \(scheme) is not allowed")
        }
        guard var host = url.host?.lowercased(), !host.isEmpty else {
            throw OutboundURLError(.invalidURL, "URL has no host")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host.removeLast() }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { throw OutboundURLError(.invalidURL, "port \(port) is out of range") }
        return (url, scheme, host, port)
    }
}

/// A URL that passed `OutboundURLPolicy.check`.
public struct CheckedURL: Sendable, Equatable {
    /// The URL as given.
    public let url: URL
    /// `http` or `https`.
    public let scheme: String
    /// Lowercase host name or address literal (no brackets).
    public let host: String
    /// Explicit or default port.
    public let port: Int
    /// The checked address to connect to.
    public let address: IPAddress
    /// Every address the host resolved to (all checked).
    public let addresses: [IPAddress]

    /// AsyncHTTPClient's `Configuration.dnsOverride` that pins the connection to `address`
    /// (empty for an address literal, which needs no lookup).
    public var dnsOverride: [String: String] {
        IPAddress(host) == nil ? [host: address.description] : [:]
    }
}

/// Why an outbound URL was refused.
public struct OutboundURLError: Error, Sendable, CustomStringConvertible {
    /// The kind of refusal.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidURL = "invalid_url"
            case schemeNotAllowed = "scheme_not_allowed"
            case resolutionFailed = "resolution_failed"
            case addressNotAllowed = "address_not_allowed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Not a parseable absolute URL with a host.
        public static let invalidURL = Code(.invalidURL)
        /// Not http or https.
        public static let schemeNotAllowed = Code(.schemeNotAllowed)
        /// The host did not resolve (may succeed later).
        public static let resolutionFailed = Code(.resolutionFailed)
        /// The host resolves to a non-public address.
        public static let addressNotAllowed = Code(.addressNotAllowed)
        public var description: String { base.rawValue }
    }

    /// What was refused.
    public var code: Code
    /// A message safe to show the client.
    public var message: String

    /// An error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "OutboundURLError.\(code): \(message)" }
}
