import AsyncHTTPClient
import Foundation
import Logging
import ModelKit

/// Finds runner manifests in a directory (`runners.d`).
public enum ExternalRunnerManifests {
    /// The manifest files in `directory`: every `*.json` file in it and every
    /// `*/peregrine-runner.json` one level down, sorted by name. A missing directory holds none.
    /// - Throws: when the directory exists but cannot be listed.
    public static func files(in directory: URL) throws -> [URL] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        var files: [URL] = []
        for name in try fm.contentsOfDirectory(atPath: directory.path).sorted() where !name.hasPrefix(".") {
            let url = directory.appendingPathComponent(name)
            var sub: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &sub) else { continue }
            if sub.boolValue {
                let nested = url.appendingPathComponent("peregrine-runner.json")
                if fm.fileExists(atPath: nested.path) { files.append(nested) }
            } else if name.hasSuffix(".json") {
                files.append(url)
            }
        }
        return files
    }

    /// The manifests in `directory` (see `files(in:)`).
    /// - Throws: `ExternalRunnerError.invalidManifest` for the first manifest that cannot be used.
    public static func manifests(
        in directory: URL, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [RunnerManifest] {
        try files(in: directory).map { try RunnerManifest(contentsOf: $0, environment: environment) }
    }

    /// The models of the manifests in `directory` (see `manifests(in:environment:)`).
    /// - Throws: `ExternalRunnerError.invalidManifest` for the first manifest that cannot be used.
    public static func load(
        directory: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "peregrine.external-runners")
    ) throws -> [ExternalModel] {
        try manifests(in: directory, environment: environment).map { ExternalModel(runner: $0, logger: logger) }
    }
}
