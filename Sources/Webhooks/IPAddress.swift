import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, classified for outbound-request safety.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    public let bytes: [UInt8]

    /// Parses a numeric address (`203.0.113.7`, `2001:db8::1`, `[::1]`); `nil` for anything else.
    public init?(_ text: String) {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    /// Parses the legacy IPv4 forms the system resolver also accepts (`inet_aton`): fewer than
    /// four parts (`127.1`), one 32-bit number (`2130706433`), octal (`0177.0.0.1`) and hex
    /// (`0x7f.0.0.1`) parts. Such a host never reaches DNS, so it is an address to check.
    public init?(legacyIPv4 text: String) {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isASCIIHexDigit || $0 == "." || $0 == "x" || $0 == "X") })
        else { return nil }
        var v4 = in_addr()
        guard inet_aton(text, &v4) != 0 else { return nil }
        bytes = withUnsafeBytes(of: &v4) { Array($0) }
    }

    /// An address from raw bytes (4 or 16).
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// True for IPv4.
    public var isIPv4: Bool { bytes.count == 4 }

    /// The canonical text form (`inet_ntop`).
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard ok != nil else { return "?" }
        let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: text, as: UTF8.self)
    }

    /// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
    /// (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::/48`); `nil` otherwise.
    public var embeddedIPv4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        let head = Array(bytes[0..<12])
        let mapped = head == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        let translated = head == [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]
        let compatible = head == [UInt8](repeating: 0, count: 12) && bytes[12...].contains { $0 != 0 }
            && !(bytes[12...15].elementsEqual([0, 0, 0, 1]))
        let nat64 = head == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return IPAddress(bytes: Array(bytes[2...5])) }
        guard mapped || translated || compatible || nat64 else { return nil }
        return IPAddress(bytes: Array(bytes[12...15]))
    }

    /// True when the address is reachable on the public internet: not loopback, private
    /// (10/8, 172.16/12, 192.168/16), link-local, CGNAT (100.64/10), unique-local IPv6 (fc00::/7),
    /// site-local, multicast, unspecified, broadcast, reserved or documentation-only, and not an
    /// IPv6 wrapper around such an IPv4 address.
    public var isPublic: Bool {
        if let v4 = embeddedIPv4 { return v4.isPublic }
        return isIPv4 ? Self.isPublicIPv4(bytes) : Self.isPublicIPv6(bytes)
    }

    private static func isPublicIPv4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1], b[2]) {
        case (0, _, _): return false  // "this network", unspecified
        case (10, _, _): return false  // private
        case (100, 64...127, _): return false  // CGNAT
        case (127, _, _): return false  // loopback
        case (169, 254, _): return false  // link-local
        case (172, 16...31, _): return false  // private
        case (192, 0, 0), (192, 0, 2): return false  // IETF protocol assignments, TEST-NET-1
        case (192, 88, 99): return false  // 6to4 relay anycast
        case (192, 168, _): return false  // private
        case (198, 18...19, _): return false  // benchmarking
        case (198, 51, 100), (203, 0, 113): return false  // TEST-NET-2, TEST-NET-3
        case (224...255, _, _): return false  // multicast, reserved, broadcast
        default: return true
        }
    }

    private static func isPublicIPv6(_ b: [UInt8]) -> Bool {
        if b.allSatisfy({ $0 == 0 }) { return false }  // ::
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return false }  // ::1
        if b[0] & 0xfe == 0xfc { return false }  // fc00::/7 unique local
        if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return false }  // fe80::/10 link-local
        if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return false }  // fec0::/10 site-local (deprecated)
        if b[0] == 0xff { return false }  // multicast
        if b[0..<6].elementsEqual([0, 0x64, 0xff, 0x9b, 0, 1]) { return false }  // 64:ff9b:1::/48 local-use NAT64
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8 { return false }  // 2001:db8::/32 documentation
        if b[0] == 0x01 && b[1..<8].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard
        return true
    }
}
