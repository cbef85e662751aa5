import Foundation
import JobQueue
import Platform
import Runners
import Server

/// A Peregrine server with the test fixtures as its gallery, for tests that must drive a real
/// process from outside (fal's Python client) or kill it (crash durability). Configured through
/// the same `PEREGRINE_*` environment as `peregrine serve`, plus
/// `PEREGRINE_TEST_LEASE_SECONDS` and `PEREGRINE_TEST_KILL_BEFORE_CACHE_INDEX`. Prints `LISTENING <port> <certificate>` once it accepts.
@main
struct TestServerMain {
    static func main() async throws {
        let env = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        try configuration.apply(environment: env)
        var runner = RunnerConfiguration()
        if let lease = env["PEREGRINE_TEST_LEASE_SECONDS"].flatMap(Double.init) {
            runner.leaseDuration = lease
        }
        let killBeforeCacheIndex = env["PEREGRINE_TEST_KILL_BEFORE_CACHE_INDEX"] == "1"
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [EchoFixture(), SlowFixture(), FailFixture(), CachedFixture()],
            runnerConfiguration: runner,
            resultCacheIndex: { killBeforeCacheIndex ? KillingResultCacheIndex(wrapped: $0) : $0 as any ResultCacheIndex })
        let server = PeregrineServer(platform: platform)
        let (_, certificate) = try PeregrineServer.tlsConfiguration(for: configuration)
        try await server.run { scheme, port in
            guard scheme == "https" else { return }
            // Unbuffered write: the parent process waits for this line on a pipe.
            FileHandle.standardOutput.write(Data("LISTENING \(port) \(certificate)\n".utf8))
        }
    }
}
