import Foundation
import ModelKit

// The models `tests/compat/fal_client_compat.py` drives through fal's Python client.

/// `peregrine-test/echo`: answers `{"value"}`, plus `file_size` when given a `file_url`.
struct CompatEchoModel: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/echo", category: "text-to-image", displayName: "Echo", description: "Echoes value.",
            inputSchema: [
                "type": "object",
                "properties": ["value": ["type": "string"], "file_url": ["type": "string"]],
                "required": ["value"],
            ],
            outputSchema: ["type": "object"], schemaName: "CompatEcho", maxConcurrency: 4)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            var out: [String: JSONValue] = ["value": input["value"] ?? .null]
            if let url = input["file_url"]?.stringValue {
                out["file_size"] = .int(Int64(try await context.fetch(url, field: "file_url").data.count))
            }
            return .object(out)
        }
    }
}

/// `peregrine-test/slow`: `steps` steps of `step_ms` each, with a log line and progress per step;
/// stops between steps when cancelled. With `hold_file` it first logs that it holds and waits
/// until that file exists, so a client test decides when a running job may go on.
struct CompatSlowModel: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/slow", category: "text-to-image", displayName: "Slow", description: "Takes its time.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "steps": ["type": "integer", "minimum": 1, "maximum": 10000, "default": 3],
                    "step_ms": ["type": "integer", "minimum": 0, "maximum": 10000, "default": 10],
                    "hold_file": ["type": "string"],
                ],
            ],
            outputSchema: ["type": "object"], schemaName: "CompatSlow", maxConcurrency: 1)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            let steps = Int(input["steps"]?.intValue ?? 3)
            let stepMS = input["step_ms"]?.intValue ?? 10
            if let hold = input["hold_file"]?.stringValue {
                context.log("holding until \(hold) exists")
                while !FileManager.default.fileExists(atPath: hold) {
                    try context.checkCancellation()
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            for step in 1...steps {
                try context.checkCancellation()
                // Simulated work of a fixed length: this model stands in for a real one.
                try await Task.sleep(for: .milliseconds(stepMS))
                context.log("step \(step) of \(steps)")
                context.progress(ModelKit.Progress(fraction: Double(step) / Double(steps), step: step, total: steps))
            }
            return ["steps_done": .int(Int64(steps))]
        }
    }
}

/// `peregrine-test/fail`: fails with the given message.
struct CompatFailModel: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine-test/fail", category: "text-to-image", displayName: "Fail", description: "Fails.",
            inputSchema: ["type": "object", "properties": ["message": ["type": "string"]]],
            outputSchema: ["type": "object"], schemaName: "CompatFail")
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            throw ModelError(.invalidInput, input["message"]?.stringValue ?? "failed on purpose")
        }
    }
}
