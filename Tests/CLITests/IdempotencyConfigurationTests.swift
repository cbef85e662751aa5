import ArgumentParser
import Foundation
import Platform
import Testing

@testable import peregrine

@Suite("Idempotency window configuration")
struct IdempotencyConfigurationTests {
    @Test("the window comes from the flag, else PEREGRINE_IDEMPOTENCY_WINDOW, else 24 hours")
    func window() throws {
        #expect(try ServerOptions.parse([]).resolve(environment: [:]).idempotencyWindow == 86_400)
        let env = ["PEREGRINE_IDEMPOTENCY_WINDOW": "600"]
        #expect(try ServerOptions.parse([]).resolve(environment: env).idempotencyWindow == 600)
        #expect(try ServerOptions.parse(["--idempotency-window", "60"]).resolve(environment: env).idempotencyWindow == 60)
    }

    @Test("a window outside 1 s to 30 days is refused", arguments: ["0", "2592001", "99999999999999999999", "-3", "1e3"])
    func windowBounds(value: String) {
        #expect(throws: ConfigurationError.self) {
            try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_IDEMPOTENCY_WINDOW": value])
        }
    }
}
