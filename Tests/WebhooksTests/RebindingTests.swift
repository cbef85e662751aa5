import Crypto
import Foundation
import JobQueue
import Testing
import Webhooks

/// A name server the test scripts: the first lookup gets `first`, every later one `later` (a
/// rebinding attacker's DNS); counts lookups.
final class ScriptedResolver: HostResolver, @unchecked Sendable {
    private let lock = NSLock()
    private let first: [IPAddress]
    private let later: [IPAddress]
    private var count = 0

    init(first: [String], later: [String] = ["127.0.0.1"]) {
        self.first = first.compactMap { IPAddress($0) }
        self.later = later.compactMap { IPAddress($0) }
    }

    /// Lookups made so far.
    var calls: Int { lock.withLock { count } }

    func resolve(host: String, port: Int) async throws -> [IPAddress] {
        lock.withLock {
            count += 1
            return count == 1 ? first : later
        }
    }
}

/// A name server that never answers (until the lookup is cancelled).
struct SilentResolver: HostResolver {
    func resolve(host: String, port: Int) async throws -> [IPAddress] {
        let (never, _) = AsyncStream<Void>.makeStream()
        for await _ in never {}
        throw CancellationError()
    }
}

@Suite("Outbound address pinning (DNS rebinding)")
struct RebindingTests {
    /// Spellings of one name that the policy treats alike but an HTTP client may look up as
    /// written: every one must be pinned.
    static let hostForms = ["rebind.test", "Rebind.TEST", "rebind.test.", "REBIND.Test."]

    @Test("a webhook connects to the checked address, whatever the host's case or trailing dot", arguments: hostForms)
    func webhookGoesToTheCheckedAddress(host: String) async throws {
        // The checked answer is 127.0.0.2; the second answer would be 127.0.0.1, where another
        // receiver listens on the same port.
        // The port is free on 127.0.0.2 but may be taken on 127.0.0.1 by another socket of the
        // machine: pick pairs until both bind (a bounded number of tries, no timing involved).
        var pair: (checked: TestReceiver, rebound: TestReceiver)?
        for _ in 0..<50 where pair == nil {
            let candidate = try await TestReceiver.start(host: "127.0.0.2")
            if let other = try? await TestReceiver.start(host: "127.0.0.1", port: candidate.port) {
                pair = (candidate, other)
            } else {
                try await candidate.stop()
            }
        }
        let (checked, rebound) = try #require(pair)
        defer { Task { try await checked.stop() } }
        defer { Task { try await rebound.stop() } }
        let resolver = ScriptedResolver(first: ["127.0.0.2"], later: ["127.0.0.1"])
        let directory = try temporaryDirectory("peregrine-rebind")
        let store = SQLiteJobStore(database: try SQLiteDatabase(path: directory + "/jobs.sqlite"))
        try await finishedJobWithWebhook(store: store, id: "rebind", url: "http://\(host):\(checked.port)/hook")
        let sender = WebhookSender(
            store: store, signer: WebhookSigner(privateKey: Curve25519.Signing.PrivateKey()),
            urlPolicy: OutboundURLPolicy(allowPrivateAddresses: true, resolver: resolver),
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600)), now: { t0 })

        #expect(await sender.deliverDue() == 1)
        #expect(checked.requests.count == 1)
        #expect(rebound.requests.isEmpty)
        #expect(resolver.calls == 1)
    }

    @Test("the pin is keyed by the host exactly as the client reads it", arguments: hostForms)
    func pinCoversEverySpelling(host: String) async throws {
        let resolver = ScriptedResolver(first: ["93.184.215.14"], later: ["127.0.0.1"])
        let policy = OutboundURLPolicy(resolver: resolver)
        let url = "https://\(host)/hook"
        let checked = try await policy.check(url)
        #expect(checked.address == IPAddress("93.184.215.14"))
        #expect(checked.host == "rebind.test")
        #expect(checked.requestURL == url)
        // The client looks the override up by `URL.host` of the request URL, unchanged.
        #expect(checked.dnsOverride == [try #require(URL(string: url)?.host): "93.184.215.14"])
        #expect(resolver.calls == 1)
    }

    @Test("numeric hosts in every form are addresses: checked without DNS and refused when private", arguments: [
        "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/", "http://0x7F000001/",
        "http://0.0.0.0/", "http://0/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:0:7f00:1]/",
        "http://[2002:7f00:1::1]/", "http://[64:ff9b:1::a00:1]/", "http://[::ffff:a9fe:a9fe]/", "http://127.0.0.1./",
    ])
    func numericHostForms(url: String) async throws {
        let resolver = ScriptedResolver(first: ["93.184.215.14"])
        let policy = OutboundURLPolicy(resolver: resolver)
        #expect(throws: OutboundURLError.self) { try policy.validate(url) }
        await #expect(throws: OutboundURLError.self) { _ = try await policy.check(url) }
        #expect(resolver.calls == 0)
    }

    @Test("a legacy numeric host is pinned to the address it denotes")
    func legacyNumericHostIsPinned() async throws {
        let policy = OutboundURLPolicy(allowPrivateAddresses: true, resolver: ScriptedResolver(first: []))
        let checked = try await policy.check("http://2130706433:8080/")
        #expect(checked.address == IPAddress("127.0.0.1"))
        #expect(checked.dnsOverride == ["2130706433": "127.0.0.1"])
    }

    @Test("validate never looks a name up", arguments: ["http://does-not-exist.invalid/hook", "https://Example.COM./x"])
    func validateIsOffline(url: String) throws {
        let resolver = ScriptedResolver(first: [])
        try OutboundURLPolicy(resolver: resolver).validate(url)
        #expect(resolver.calls == 0)
    }

    @Test("a lookup that never answers fails as a resolution failure", .timeLimit(.minutes(1)))
    func lookupDeadline() async throws {
        let policy = OutboundURLPolicy(resolver: SilentResolver(), resolutionTimeout: .milliseconds(50))
        do {
            _ = try await policy.check("http://slow.test/hook")
            Issue.record("a silent name server was answered")
        } catch let error as OutboundURLError {
            #expect(error.code == .resolutionFailed)
        }
    }

    @Test("a delivery whose lookup never answers fails and is retried", .timeLimit(.minutes(1)))
    func deliveryLookupDeadlineRetries() async throws {
        let directory = try temporaryDirectory("peregrine-rebind")
        let store = SQLiteJobStore(database: try SQLiteDatabase(path: directory + "/jobs.sqlite"))
        try await finishedJobWithWebhook(store: store, id: "silent", url: "http://silent.test/hook")
        let clock = ManualNow(t0)
        let sender = WebhookSender(
            store: store, signer: WebhookSigner(privateKey: Curve25519.Signing.PrivateKey()),
            urlPolicy: OutboundURLPolicy(resolver: SilentResolver(), resolutionTimeout: .milliseconds(50)),
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600)), now: { clock.now })
        #expect(await sender.deliverDue() == 1)
        clock.advance(by: 15)
        #expect(await sender.deliverDue() == 1)  // retried, not dropped
    }
}
