import Foundation

/// Decides which URLs the server may send requests to (webhook targets, input files given as
/// URLs), so a client cannot make the server reach its own network (SSRF).
///
/// Only `http` and `https` are allowed. The host is resolved once (with `resolver`, within
/// `resolutionTimeout`) and every address it resolves to must be public (see
/// `IPAddress.isPublic`), unless private addresses are allowed or the host is on the allowlist.
/// Numeric hosts in any form the system accepts (`127.1`, `2130706433`, `0x7f.0.0.1`, `[::1]`)
/// are addresses, checked without a lookup.
///
/// DNS rebinding: the caller must connect to `CheckedURL.address`, the address that was checked,
/// and never resolve the name again. `CheckedURL.dnsOverride` is the AsyncHTTPClient setting that
/// does this; it is keyed by the host exactly as the client derives it from `requestURL` (case
/// and trailing dot kept), so no spelling of the name can miss it, and TLS still verifies the
/// certificate for the name.
public struct OutboundURLPolicy: Sendable {
    /// Allow loopback, private, link-local and other non-public addresses (development, tests,
    /// single-machine setups with local receivers).
    public var allowPrivateAddresses: Bool
    /// Host names (lowercase) exempt from the address check, e.g. an internal hook receiver.
    public var allowedHosts: Set<String>
    /// Looks host names up (the system resolver unless a test scripts one).
    public var resolver: any HostResolver
    /// The longest one lookup may take; a slower one fails as `.resolutionFailed`, which the
    /// webhook sender retries like any delivery failure.
    public var resolutionTimeout: Duration

    /// - Parameters:
    ///   - allowPrivateAddresses: default false.
    ///   - allowedHosts: hosts always allowed (compared case-insensitively, trailing dot ignored).
    ///   - resolver: the name lookup (default: the system resolver).
    ///   - resolutionTimeout: limit of one lookup (default 10 s).
    public init(
        allowPrivateAddresses: Bool = false, allowedHosts: Set<String> = [], resolver: any HostResolver = SystemResolver(),
        resolutionTimeout: Duration = .seconds(10)
    ) {
        self.allowPrivateAddresses = allowPrivateAddresses
        self.allowedHosts = Set(allowedHosts.map { Self.canonical($0) })
        self.resolver = resolver
        self.resolutionTimeout = resolutionTimeout
    }

    /// Checks `text` without any network access: a URL with an allowed scheme, a host and a
    /// valid port, and, when the host is an address, an allowed address. Names are not
    /// resolved: that waits for `check`, when the URL is used (submits must not block on DNS).
    /// - Throws: `OutboundURLError` naming why the URL is refused.
    public func validate(_ text: String) throws {
        let parsed = try Self.parse(text)
        if let literal = parsed.literal { try checkAddresses([literal], host: parsed.host) }
    }

    /// Checks `text` and resolves its host (a name) once, off the event loops.
    /// - Returns: the parsed URL with the checked address to connect to.
    /// - Throws: `OutboundURLError` naming why the URL is refused; `CancellationError`.
    public func check(_ text: String) async throws -> CheckedURL {
        let parsed = try Self.parse(text)
        let addresses: [IPAddress]
        if let literal = parsed.literal {
            addresses = [literal]
        } else {
            let (resolver, host, port) = (resolver, parsed.host, parsed.port)
            do {
                addresses = try await withDeadline(resolutionTimeout) { try await resolver.resolve(host: host, port: port) }
            } catch let error as DeadlineExceeded {
                throw OutboundURLError(.resolutionFailed, "resolving \(host) \(error)")
            }
        }
        guard let first = addresses.first else {
            throw OutboundURLError(.resolutionFailed, "\(parsed.host) has no addresses")
        }
        try checkAddresses(addresses, host: parsed.host)
        return CheckedURL(
            url: parsed.url, requestURL: text, scheme: parsed.scheme, host: parsed.host, clientHost: parsed.clientHost,
            port: parsed.port, address: first, addresses: addresses)
    }

    private func checkAddresses(_ addresses: [IPAddress], host: String) throws {
        guard !allowPrivateAddresses, !allowedHosts.contains(host) else { return }
        guard let refused = addresses.first(where: { !$0.isPublic }) else { return }
        if IPAddress(host) == refused || IPAddress(legacyIPv4: host) == refused {
            throw OutboundURLError(.addressNotAllowed, "\(host) is a non-public address")
        }
        throw OutboundURLError(.addressNotAllowed, "\(host) resolves to non-public address \(refused)")
    }

    /// A URL taken apart the way the policy and the HTTP client see it.
    struct Parsed {
        var url: URL
        /// `http` or `https`.
        var scheme: String
        /// Lowercase, without brackets or a trailing dot: the name that is resolved and allowlisted.
        var host: String
        /// The host as AsyncHTTPClient derives it from the same text (`URL.host`, brackets
        /// trimmed), the key its `dnsOverride` is looked up by.
        var clientHost: String
        var port: Int
        /// The address when the host is numeric in any form the system resolver accepts.
        var literal: IPAddress?
    }

    /// Parses and checks the scheme, host and port.
    static func parse(_ text: String) throws -> Parsed {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw OutboundURLError(.invalidURL, "not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw OutboundURLError(.schemeNotAllowed, "scheme \(scheme) is not allowed")
        }
        guard let raw = url.host, !raw.isEmpty else {
            throw OutboundURLError(.invalidURL, "URL has no host")
        }
        var clientHost = raw
        if clientHost.hasPrefix("["), clientHost.hasSuffix("]") { clientHost = String(clientHost.dropFirst().dropLast()) }
        let host = canonical(raw)
        guard !host.isEmpty, !host.contains("%"), !host.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) else {
            throw OutboundURLError(.invalidURL, "URL has no valid host")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { throw OutboundURLError(.invalidURL, "port \(port) is out of range") }
        let literal = IPAddress(host) ?? IPAddress(legacyIPv4: host)
        if literal == nil, !isDNSName(host) {
            throw OutboundURLError(.invalidURL, "host is not a valid DNS name (at most 253 characters, labels of 1 to 63)")
        }
        return Parsed(url: url, scheme: scheme, host: host, clientHost: clientHost, port: port, literal: literal)
    }

    /// A name a resolver can be asked for (RFC 1035 lengths): refusing longer ones at submit
    /// keeps names that can never resolve out of the outbox.
    static func isDNSName(_ host: String) -> Bool {
        guard host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { (1...63).contains($0.utf8.count) }
    }

    /// Lowercase, without IPv6 brackets or a trailing dot.
    static func canonical(_ host: String) -> String {
        var host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }
}

/// A URL that passed `OutboundURLPolicy.check`.
public struct CheckedURL: Sendable, Equatable {
    /// The URL as given.
    public let url: URL
    /// The text to hand the HTTP client, exactly as checked (`dnsOverride` is keyed for it).
    public let requestURL: String
    /// `http` or `https`.
    public let scheme: String
    /// Lowercase host name or address literal (no brackets, no trailing dot).
    public let host: String
    /// The host as the HTTP client derives it from `requestURL`.
    let clientHost: String
    /// Explicit or default port.
    public let port: Int
    /// The checked address to connect to.
    public let address: IPAddress
    /// Every address the host resolved to (all checked).
    public let addresses: [IPAddress]

    /// AsyncHTTPClient's `Configuration.dnsOverride` that pins the connection to `address`,
    /// keyed by the host exactly as the client reads it from `requestURL`. Empty only for a
    /// canonical address literal, which the client connects to without a lookup.
    public var dnsOverride: [String: String] {
        IPAddress(clientHost) == nil ? [clientHost: address.description] : [:]
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
