import ArgumentParser
import Foundation
import Platform
import Server
import Testing

@testable import peregrine

@Suite("Outbound limits configuration")
struct OutboundConfigurationTests {
    @Test("the input download deadline comes from the flag, else PEREGRINE_INPUT_DOWNLOAD_TIMEOUT, else 60 s")
    func inputDownloadTimeout() throws {
        #expect(try ServerOptions.parse([]).resolve(environment: [:]).inputDownloadTimeout == 60)
        let env = ["PEREGRINE_INPUT_DOWNLOAD_TIMEOUT": "5"]
        #expect(try ServerOptions.parse([]).resolve(environment: env).inputDownloadTimeout == 5)
        #expect(try ServerOptions.parse(["--input-download-timeout", "7"]).resolve(environment: env).inputDownloadTimeout == 7)
    }

    @Test("an input download deadline outside 1 s to a day is refused", arguments: ["0", "86401", "99999999999999999999", "-3", "1e3"])
    func inputDownloadTimeoutBounds(value: String) {
        #expect(throws: ConfigurationError.self) {
            try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_INPUT_DOWNLOAD_TIMEOUT": value])
        }
    }
}
