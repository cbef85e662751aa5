import ArgumentParser
import Foundation
import Platform
import Server
import Testing

@testable import peregrine

@Suite("Upload limit settings")
struct UploadLimitsConfigurationTests {
    @Test("upload limits have defaults, PEREGRINE_* variables and flags")
    func settings() throws {
        let defaults = try ServerOptions.parse([]).resolve(environment: [:])
        #expect(defaults.maxConcurrentUploads == 8)
        #expect(defaults.uploadQuotaBytes == 10 << 30)
        #expect(defaults.maxUploadParts == 10_000)
        #expect(defaults.uploadTimeout == 900)
        #expect(defaults.maxPendingUploadsPerKey == 1000)
        let env = [
            "PEREGRINE_MAX_CONCURRENT_UPLOADS": "3", "PEREGRINE_UPLOAD_QUOTA_BYTES": "5000", "PEREGRINE_MAX_UPLOAD_PARTS": "7",
            "PEREGRINE_UPLOAD_TIMEOUT": "9", "PEREGRINE_MAX_PENDING_UPLOADS_PER_KEY": "4",
        ]
        let fromEnv = try ServerOptions.parse([]).resolve(environment: env)
        #expect(fromEnv.maxConcurrentUploads == 3 && fromEnv.uploadQuotaBytes == 5000 && fromEnv.maxUploadParts == 7)
        #expect(fromEnv.uploadTimeout == 9 && fromEnv.maxPendingUploadsPerKey == 4)
        let flags = try ServerOptions.parse([
            "--max-concurrent-uploads", "0", "--upload-quota-bytes", "0", "--max-upload-parts", "2", "--upload-timeout", "60",
            "--max-pending-uploads-per-key", "0",
        ]).resolve(environment: env)
        #expect(flags.maxConcurrentUploads == 0 && flags.uploadQuotaBytes == 0 && flags.maxUploadParts == 2)
        #expect(flags.uploadTimeout == 60 && flags.maxPendingUploadsPerKey == 0)
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_MAX_UPLOAD_PARTS": "0"]) }
        #expect(throws: ConfigurationError.self) { try ServerOptions.parse([]).resolve(environment: ["PEREGRINE_UPLOAD_QUOTA_BYTES": "-1"]) }
        var c = ServerConfiguration()
        c.uploadTimeout = .infinity
        #expect(throws: ConfigurationError.self) { try c.validate() }
    }
}
