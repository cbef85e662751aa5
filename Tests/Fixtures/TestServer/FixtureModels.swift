import Foundation
import ModelKit

// Models served only by the test server: each exercises one part of the contract that the
// system tests (fal's Python client, crash durability) drive from outside the process.

/// `peregrine-test/echo`: returns `value`, and the size of `file_url` when given.
struct EchoFixture: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/echo", category: "text-to-image", displayName: "Echo (test)",
            description: "Returns its input; reads an optional file input.",
            inputSchema: [
                "type": "object",
                "properties": ["value": ["type": "string"], "file_url": ["type": "string"]],
                "required": ["value"],
            ],
            outputSchema: [
                "type": "object",
                "properties": ["value": ["type": "string"], "file_size": ["type": "integer"]],
            ],
            schemaName: "EchoFixture", maxConcurrency: 4)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            context.log("echo: \(input["value"]?.stringValue ?? "")")
            var out: [String: JSONValue] = ["value": input["value"] ?? .null]
            if let url = input["file_url"]?.stringValue {
                let file = try await context.fetch(url, field: "file_url")
                out["file_size"] = .int(Int64(file.data.count))
            }
            return .object(out)
        }
    }
}

/// `peregrine-test/slow`: `steps` steps of `step_ms` each, with progress, a log line per step
/// and a cancellation check between steps. With `hold_file`, it first waits until that file
/// exists, so a test decides exactly when a running job may finish.
struct SlowFixture: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/slow", category: "text-to-image", displayName: "Slow (test)",
            description: "Counts steps slowly, reporting progress.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "steps": ["type": "integer", "minimum": 1, "maximum": 100_000, "default": 5],
                    "step_ms": ["type": "integer", "minimum": 0, "maximum": 60_000, "default": 50],
                    "hold_file": ["type": "string"],
                ],
            ],
            outputSchema: ["type": "object", "properties": ["steps_done": ["type": "integer"]]],
            schemaName: "SlowFixture", maxConcurrency: 1)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            let steps = Int(input["steps"]?.intValue ?? 5)
            let stepMS = Int(input["step_ms"]?.intValue ?? 50)
            if let hold = input["hold_file"]?.stringValue {
                context.log("holding until \(hold) exists")
                while !FileManager.default.fileExists(atPath: hold) {
                    try context.checkCancellation()
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            for step in 1...steps {
                try context.checkCancellation()
                try await Task.sleep(for: .milliseconds(stepMS))
                context.progress(Progress(fraction: Double(step) / Double(steps), step: step, total: steps, message: "step \(step)/\(steps)"))
                context.log("step \(step)/\(steps)")
            }
            return ["steps_done": .int(Int64(steps))]
        }
    }
}

/// `peregrine-test/fail`: fails with the given message, as a model error the caller sees.
struct FailFixture: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/fail", category: "text-to-image", displayName: "Fail (test)",
            description: "Always fails with the given message.",
            inputSchema: [
                "type": "object", "properties": ["message": ["type": "string"]], "required": ["message"],
            ],
            outputSchema: ["type": "object"], schemaName: "FailFixture")
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            throw ModelError(.internalError, input["message"]?.stringValue ?? "failed", status: 500)
        }
    }
}

/// `peregrine-test/cached`: a deterministic "upscale": `value` repeated to `size` bytes, stored
/// as the output file. Its results go to the result cache.
struct CachedFixture: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/cached", category: "image-to-image", displayName: "Cached (test)",
            description: "A deterministic file output.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "value": ["type": "string", "minLength": 1], "size": ["type": "integer", "minimum": 1, "maximum": 4_000_000, "default": 262_144],
                ],
                "required": ["value"],
            ],
            outputSchema: ["type": "object"], schemaName: "CachedFixture", maxConcurrency: 2, determinism: .deterministic)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            let data = CachedFixture.bytes(value: input["value"]?.stringValue ?? "", size: Int(input["size"]?.intValue ?? 1))
            let stored = try await context.store(data, contentType: "application/octet-stream", fileName: "out.bin")
            return ["file": stored.json()]
        }
    }

    /// The output bytes for a value and size.
    static func bytes(value: String, size: Int) -> Data {
        let unit = Array(value.utf8)
        return Data((0..<size).map { unit[$0 % unit.count] })
    }
}
