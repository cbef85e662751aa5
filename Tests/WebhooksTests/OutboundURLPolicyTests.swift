import Foundation
import Testing
import Webhooks

@Suite("OutboundURLPolicy")
struct OutboundURLPolicyTests {
    @Test(arguments: [
        "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
        "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "::ffff:192.168.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2001:db8::1",
    ])
    func nonPublicAddresses(address: String) throws {
        let ip = try #require(IPAddress(address))
        #expect(ip.isPublic == false)
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "192.169.0.1",
        "11.0.0.1", "2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8", "64:ff9b::808:808",
    ])
    func publicAddresses(address: String) throws {
        let ip = try #require(IPAddress(address))
        #expect(ip.isPublic)
    }

    @Test func parsesAndPrintsAddresses() {
        #expect(IPAddress("[::1]")?.description == "::1")
        #expect(IPAddress("010.1.1.1") == nil)
        #expect(IPAddress("example.com") == nil)
        #expect(IPAddress("::ffff:127.0.0.1")?.embeddedIPv4 == IPAddress("127.0.0.1"))
    }

    @Test(arguments: [
        "ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1/", "not a url", "http:///nohost",
        "http://127.0.0.1/hook", "http://[::1]:8080/", "http://[::ffff:127.0.0.1]/", "https://10.0.0.8/",
        "http://169.254.169.254/latest/meta-data", "http://localhost:9/x", "http://2130706433/", "http://0x7f.1/",
    ])
    func refusedByDefault(url: String) async {
        await #expect(throws: OutboundURLError.self) { _ = try await OutboundURLPolicy().check(url) }
    }

    @Test("host names a resolver could never answer are refused without a lookup", arguments: [
        "http://" + String(repeating: "a", count: 64) + ".example.com/",
        "http://" + Array(repeating: "abcdefghij", count: 26).joined(separator: ".") + "/",
        "http://a..example.com/",
    ])
    func invalidDNSNames(url: String) throws {
        #expect(throws: OutboundURLError.self) { try OutboundURLPolicy().validate(url) }
    }

    @Test func longestValidDNSNameIsAccepted() throws {
        let label = String(repeating: "a", count: 63)
        try OutboundURLPolicy().validate("https://\(label).\(label).\(label).\(String(repeating: "b", count: 57)).com/")
    }

    @Test func schemeAndAddressErrorsAreTold() async throws {
        do {
            _ = try await OutboundURLPolicy().check("ftp://example.com/")
            Issue.record("ftp accepted")
        } catch let error as OutboundURLError {
            #expect(error.code == .schemeNotAllowed)
        }
        do {
            _ = try await OutboundURLPolicy().check("http://127.0.0.1:8080/")
            Issue.record("loopback accepted")
        } catch let error as OutboundURLError {
            #expect(error.code == .addressNotAllowed)
        }
    }

    @Test func publicLiteralNeedsNoLookup() async throws {
        let checked = try await OutboundURLPolicy().check("https://8.8.8.8/hook?x=1")
        #expect(checked.scheme == "https" && checked.host == "8.8.8.8" && checked.port == 443)
        #expect(checked.address == IPAddress("8.8.8.8"))
        #expect(checked.dnsOverride.isEmpty)
    }

    @Test func privateAddressesWhenAllowed() async throws {
        let policy = OutboundURLPolicy(allowPrivateAddresses: true)
        let checked = try await policy.check("http://127.0.0.1:8080/hook")
        #expect(checked.port == 8080 && checked.address == IPAddress("127.0.0.1"))
        let named = try await policy.check("http://LOCALHOST:81/")
        #expect(named.host == "localhost")
        #expect(named.addresses.allSatisfy { !$0.isPublic })
        // The connection is pinned to the checked address, not re-resolved, under the host as
        // the HTTP client spells it.
        #expect(named.dnsOverride == ["LOCALHOST": named.address.description])
        await #expect(throws: OutboundURLError.self) { _ = try await policy.check("ftp://127.0.0.1/") }
    }

    @Test func allowlistedHostsSkipTheAddressCheck() async throws {
        let policy = OutboundURLPolicy(allowedHosts: ["LocalHost"])
        _ = try await policy.check("http://localhost:1234/")
        await #expect(throws: OutboundURLError.self) { _ = try await policy.check("http://127.0.0.1:1234/") }
    }
}
