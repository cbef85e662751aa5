import ExternalRunners
import Foundation
import ModelKit
import Testing

@Suite("External runners: manifests")
struct RunnerManifestTests {
    @Test("paths are relative to the manifest; ${NAME} and ${NAME:-default} expand")
    func expansion() throws {
        let dir = try RunnerFixtures.temporaryDirectory("manifests")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json: JSONValue = [
            "endpoint_id": "acme/thing-2x",
            "command": "${RUNNER_BIN:-python3}",
            "args": ["${MANIFEST_DIR}/run.py", "--mode=${MODE}"],
            "env": ["A": "x${UNSET}y"],
            "working_directory": "sub",
            "max_concurrency": 3,
            "memory_estimate_bytes": 1000,
        ]
        let m = try RunnerManifest(json: json, directory: dir, environment: ["MODE": "fast"])
        #expect(m.command == "python3")
        #expect(m.arguments == ["\(dir.path)/run.py", "--mode=fast"])
        #expect(m.environment == ["A": "xy"])
        #expect(m.workingDirectory.path == dir.appendingPathComponent("sub").path)
        #expect(m.model.endpointID == "acme/thing-2x")
        #expect(m.model.schemaName == "Thing2x")
        #expect(m.model.maxConcurrency == 3)
        #expect(m.model.memoryEstimateBytes == 1000)
        #expect(m.model.inputSchema == ["type": "object"])

        let relative = try RunnerManifest(json: ["endpoint_id": "a/b", "command": "bin/run"], directory: dir, environment: [:])
        #expect(relative.command == dir.appendingPathComponent("bin/run").path)
    }

    @Test("a manifest without a command or with a wrong field is refused, naming it")
    func invalid() throws {
        let dir = try RunnerFixtures.temporaryDirectory("manifests")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: ExternalRunnerError.invalidManifest("m: 'command' is required")) {
            try RunnerManifest(json: ["endpoint_id": "a/b"], directory: dir, source: "m")
        }
        #expect(throws: ExternalRunnerError.invalidManifest("m: 'startup_timeout' must be a positive number up to 10^12")) {
            try RunnerManifest(json: ["endpoint_id": "a/b", "command": "x", "startup_timeout": "soon"], directory: dir, source: "m")
        }
    }

    @Test("numbers too large to convert are refused, not trapped on", arguments: [
        ("memory_estimate_bytes", 1e300), ("max_concurrency", 1e19), ("health_failures", 2.5), ("startup_timeout", 1e300),
    ])
    func hugeNumbers(key: String, value: Double) throws {
        let dir = try RunnerFixtures.temporaryDirectory("manifests")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: ExternalRunnerError.self) {
            try RunnerManifest(json: ["endpoint_id": "a/b", "command": "x", key: .double(value)], directory: dir, source: "m")
        }
        #expect(throws: ExternalRunnerError.self) {
            try RunnerManifest(json: ["endpoint_id": "a/b", "command": "x", "restart": ["max_delay": -1]], directory: dir, source: "m")
        }
    }

    @Test("a runners directory yields its *.json files and */peregrine-runner.json; a missing one none")
    func directory() throws {
        let dir = try RunnerFixtures.temporaryDirectory("runners.d")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"endpoint_id": "a/one", "command": "x"}"#.utf8).write(to: dir.appendingPathComponent("one.json"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("two"), withIntermediateDirectories: true)
        try Data(#"{"endpoint_id": "a/two", "command": "x"}"#.utf8).write(to: dir.appendingPathComponent("two/peregrine-runner.json"))
        try Data("notes".utf8).write(to: dir.appendingPathComponent("README.txt"))
        let models = try ExternalRunnerManifests.load(directory: dir)
        #expect(models.map(\.manifest.endpointID) == ["a/one", "a/two"])
        #expect(models[1].runner.workingDirectory.path == dir.appendingPathComponent("two").path)
        #expect(try ExternalRunnerManifests.load(directory: dir.appendingPathComponent("absent")).isEmpty)
    }
}
