import ArgumentParser
import Crypto
import Foundation
import Platform
import Server
import Testing

@testable import peregrine

@Suite("Configuration")
struct ConfigurationTests {
    @Test("flags win over PEREGRINE_* variables, which win over defaults")
    func precedence() throws {
        let env = ["PEREGRINE_PORT": "9000", "PEREGRINE_HOST": "127.0.0.2", "PEREGRINE_NO_AUTH": "1", "PEREGRINE_MAX_JSON_BYTES": "123"]
        let fromEnv = try ServerOptions.parse([]).resolve(environment: env)
        #expect(fromEnv.port == 9000)
        #expect(fromEnv.host == "127.0.0.2")
        #expect(fromEnv.authEnabled == false)
        #expect(fromEnv.maxJSONBytes == 123)
        let withFlags = try ServerOptions.parse(["--port", "9100", "--max-json-bytes", "456", "--http-port", "8080"]).resolve(environment: env)
        #expect(withFlags.port == 9100)
        #expect(withFlags.maxJSONBytes == 456)
        #expect(withFlags.httpPort == 8080)
        #expect(withFlags.host == "127.0.0.2")
        let defaults = try ServerOptions.parse([]).resolve(environment: [:])
        #expect(defaults.port == 8443)
        #expect(defaults.host == "127.0.0.1")
        #expect(defaults.authEnabled)
        #expect(defaults.maxJSONBytes == 10_000_000)
        #expect(defaults.maxUploadBytes == 100 << 20)
    }

    @Test("malformed settings are refused with the setting's name")
    func invalid() throws {
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_PORT": "eighty"]) }
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_NO_AUTH": "perhaps"]) }
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse(["--port", "70000"]).resolve(environment: [:]) }
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse(["--tls-cert", "/x.pem"]).resolve(environment: [:]) }
    }

    @Test("storage tokens verify until they expire and not after tampering")
    func tokens() throws {
        let signer = TokenSigner(key: .init(size: .bits256))
        let now = Date()
        let token = signer.issue(subject: "key1", scope: "storage", expiresAt: now.addingTimeInterval(60))
        #expect(signer.verify(token, now: now)?.subject == "key1")
        #expect(signer.verify(token, now: now.addingTimeInterval(61)) == nil)
        var tampered = Array(token)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == "A" ? "B" : "A"
        #expect(signer.verify(String(tampered), now: now) == nil)
        #expect(TokenSigner(key: .init(size: .bits256)).verify(token, now: now) == nil)
    }
}
