import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import Platform
import Server
import Testing

@testable import peregrine

@Suite("--no-auth: loopback only unless asked twice; key-less jobs stay private")
struct NoAuthAddressTests {
    @Test("--no-auth on a non-loopback address is refused without the second flag")
    func noAuthNeedsLoopbackOrSecondFlag() throws {
        for host in ["0.0.0.0", "::", "10.1.2.3", "peregrine.example"] {
            #expect(throws: ConfigurationError.self) {
                try ServerOptions.parse(["--no-auth", "--host", host]).resolve(environment: [:])
            }
            let allowed = try ServerOptions.parse(["--no-auth", "--no-auth-on-public-address", "--host", host]).resolve(environment: [:])
            #expect(allowed.authEnabled == false)
        }
        #expect(throws: ConfigurationError.self) {
            try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_NO_AUTH": "1", "PEREGRINE_HOST": "0.0.0.0"])
        }
        let fromEnv = try ServerOptions.parse([]).resolve(environment: [
            "PEREGRINE_NO_AUTH": "1", "PEREGRINE_HOST": "0.0.0.0", "PEREGRINE_NO_AUTH_ON_PUBLIC_ADDRESS": "1",
        ])
        #expect(fromEnv.authEnabled == false)
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            #expect(try ServerOptions.parse(["--no-auth", "--host", host]).resolve(environment: [:]).authEnabled == false)
        }
        // With auth on, any address is fine.
        #expect(try ServerOptions.parse(["--host", "0.0.0.0"]).resolve(environment: [:]).authEnabled)
        do {
            _ = try ServerOptions.parse(["--no-auth", "--host", "0.0.0.0"]).resolve(environment: [:])
        } catch let error as ConfigurationError {
            #expect(error.message.contains("--no-auth-on-public-address"))
        }
    }

    @Test("loopback detection", arguments: [
        ("127.0.0.1", true), ("127.255.0.9", true), ("localhost", true), ("LOCALHOST", true), ("::1", true),
        ("::ffff:127.0.0.1", true), ("0.0.0.0", false), ("::", false), ("128.0.0.1", false), ("127.0.0", false),
        ("127.0.0.1.example", false), ("10.0.0.1", false), ("", false),
    ])
    func loopback(host: String, expected: Bool) {
        #expect(ServerConfiguration.isLoopback(host) == expected)
    }

    @Test("new connection and stream limits come from flags and PEREGRINE_* variables")
    func limitSettings() throws {
        let defaults = try ServerOptions.parse([]).resolve(environment: [:])
        #expect(defaults.idleTimeout == 60 && defaults.maxConnections == 1024 && defaults.maxStreamsPerKey == 32)
        let env = ["PEREGRINE_IDLE_TIMEOUT": "30", "PEREGRINE_MAX_CONNECTIONS": "10", "PEREGRINE_MAX_STREAMS_PER_KEY": "4"]
        let fromEnv = try ServerOptions.parse([]).resolve(environment: env)
        #expect(fromEnv.idleTimeout == 30 && fromEnv.maxConnections == 10 && fromEnv.maxStreamsPerKey == 4)
        let flags = try ServerOptions.parse(["--idle-timeout", "5", "--max-connections", "0", "--max-streams-per-key", "1"])
            .resolve(environment: env)
        #expect(flags.idleTimeout == 5 && flags.maxConnections == 0 && flags.maxStreamsPerKey == 1)
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse(["--idle-timeout", "0"]).resolve(environment: [:]) }
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse(["--max-connections=-1"]).resolve(environment: [:]) }
    }

    @Test("a job submitted without a key is readable by admin keys only once auth is on")
    func keylessJobsAreAdminOnly() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        let (plain, plainSecret) = try await h.platform.keys.createKey(name: "plain", now: Date())
        let (admin, adminSecret) = try await h.platform.keys.createKey(name: "admin", isAdmin: true, now: Date())
        // Submitted while auth was off (an earlier run of the server): no key.
        let id = UUID().uuidString.lowercased()
        _ = try await h.store.enqueue(NewJob(id: id, endpointID: "test/echo", input: Data(#"{"prompt":"secret"}"#.utf8)))
        let plainHeaders: HTTPFields = [.authorization: "Key \(plain.id):\(plainSecret)"]
        let adminHeaders: HTTPFields = [.authorization: "Key \(admin.id):\(adminSecret)"]
        try await h.test { client in
            _ = try await h.waitForJob(id) { $0.state == .completed }
            let base = "/queue/test/echo/requests/\(id)"
            #expect(try await client.send(.get, "\(base)/status", headers: plainHeaders).status == .notFound)
            #expect(try await client.send(.get, base, headers: plainHeaders).status == .notFound)
            #expect(try await client.send(.get, "\(base)/status/stream", headers: plainHeaders).status == .notFound)
            #expect(try await client.send(.put, "\(base)/cancel", headers: plainHeaders).status == .notFound)
            #expect(try await client.send(.get, "\(base)/status", headers: adminHeaders).status == .ok)
            let result = try await client.send(.get, base, headers: adminHeaders)
            #expect(result.status == .ok)
            #expect(try result.json["echo"]?["prompt"]?.stringValue == "secret")
        }
    }
}
