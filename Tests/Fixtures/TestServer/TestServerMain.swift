import Foundation
import Platform
import Runners
import Server

/// A Peregrine server with the test fixtures as its gallery, for tests that must drive a real
/// process from outside (fal's Python client) or kill it (crash durability). Configured through
/// the same `PEREGRINE_*` environment as `peregrine serve`, plus
/// `PEREGRINE_TEST_LEASE_SECONDS`. Prints `LISTENING <port> <certificate>` once it accepts.
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
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [EchoFixture(), SlowFixture(), FailFixture()],
            runnerConfiguration: runner)
        let server = PeregrineServer(platform: platform)
        let (_, certificate) = try PeregrineServer.tlsConfiguration(for: configuration)
        try await server.run { scheme, port in
            guard scheme == "https" else { return }
            // Unbuffered write: the parent process waits for this line on a pipe.
            FileHandle.standardOutput.write(Data("LISTENING \(port) \(certificate)\n".utf8))
        }
    }
}
