import ExternalRunners
import Foundation
import ModelKit
import Platform
import Server

/// Models served by separate runner processes, from the manifests in the runners directory:
/// `$PEREGRINE_RUNNER_MANIFESTS`, else `<home>/runners.d` (docs/runner-protocol.md).
enum ExternalRunnerModels {
    /// The runners directory for `configuration`.
    static func directory(configuration: ServerConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["PEREGRINE_RUNNER_MANIFESTS"], !dir.isEmpty { return URL(fileURLWithPath: dir, isDirectory: true) }
        return configuration.home.appendingPathComponent("runners.d", isDirectory: true)
    }

    /// One model per usable manifest; a manifest that cannot be used is reported on stderr and
    /// skipped so that one broken file does not take the whole gallery down.
    static func all(configuration: ServerConfiguration) -> [any Model] {
        let dir = directory(configuration: configuration)
        let files: [URL]
        do { files = try ExternalRunnerManifests.files(in: dir) } catch {
            FileHandle.standardError.write(Data("peregrine: cannot read runner manifests in \(dir.path): \(error)\n".utf8))
            return []
        }
        return files.compactMap { file in
            do { return ExternalModel(runner: try RunnerManifest(contentsOf: file)) } catch {
                FileHandle.standardError.write(Data("peregrine: skipping \(error)\n".utf8))
                return nil
            }
        }
    }
}
