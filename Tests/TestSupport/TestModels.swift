import Foundation
import ModelKit

// Models that exist only for the tests: each exercises one part of the runner contract. Shared
// by the test targets that serve them (platform, server) or read their schemas (ModelKit).

/// Echoes its validated input (with defaults filled in) as `{"echo": input}`.
public struct EchoModel: Model {
    public var endpointID = "test/echo"

    /// - Parameter endpointID: the endpoint it serves (default `test/echo`).
    public init(endpointID: String = "test/echo") { self.endpointID = endpointID }

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: endpointID, category: "text-to-image", displayName: "Echo", description: "Returns its input.",
            inputSchema: [
                "type": "object",
                "properties": [
                    "prompt": ["type": "string", "minLength": 1, "maxLength": 100],
                    "count": ["type": "integer", "minimum": 1, "maximum": 10, "default": 1],
                    "strength": ["type": "number", "minimum": 0, "maximum": 1],
                    "output_format": ["type": "string", "enum": ["jpeg", "png", "webp"], "default": "png"],
                    "tags": ["type": "array", "items": ["type": "string"], "maxItems": 3],
                    "image_size": [
                        "anyOf": [
                            ["type": "string", "enum": ["square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"]],
                            ["$ref": "#/$defs/ImageSize"],
                        ],
                        "default": "square_hd",
                    ],
                    "sync_mode": ["type": "boolean", "default": false],
                ],
                "required": ["prompt"],
                "additionalProperties": false,
                "$defs": [
                    "ImageSize": [
                        "type": "object",
                        "properties": ["width": ["type": "integer", "minimum": 1, "maximum": 4096], "height": ["type": "integer", "minimum": 1, "maximum": 4096]],
                        "required": ["width", "height"],
                    ]
                ],
            ],
            outputSchema: ["type": "object", "properties": ["echo": ["type": "object"]]], schemaName: "Echo", maxConcurrency: 4)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    public struct Loaded: LoadedModel {
        public var footprintBytes: Int { 0 }
        public func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            context.log("echoing")
            return ["echo": input]
        }
    }
}

/// Opened by a test to let a waiting model go on.
public final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    /// A closed gate.
    public init() {
        (stream, continuation) = AsyncStream<Void>.makeStream()
    }

    /// Lets every waiter (present and future) go on.
    public func open() { continuation.finish() }

    /// Returns when the gate opens or the task is cancelled.
    public func wait() async {
        for await _ in stream {}
    }
}

/// Signals each run start, reports progress and logs, then waits for its gate; stops with
/// `CancellationError` when cancelled while waiting. One request at a time.
public struct GatedModel: Model {
    let gate: Gate
    let started: AsyncStream<String>.Continuation

    /// - Parameters:
    ///   - gate: what each run waits for.
    ///   - started: receives each run's `name` as it starts.
    public init(gate: Gate, started: AsyncStream<String>.Continuation) {
        self.gate = gate
        self.started = started
    }

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "test/gated", category: "image-to-image", displayName: "Gated", description: "Waits for the test.",
            inputSchema: ["type": "object", "properties": ["name": ["type": "string"]]],
            outputSchema: ["type": "object"], schemaName: "Gated", maxConcurrency: 1)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel { Loaded(gate: gate, started: started) }

    public struct Loaded: LoadedModel {
        let gate: Gate
        let started: AsyncStream<String>.Continuation
        public var footprintBytes: Int { 0 }
        public func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            context.progress(ModelKit.Progress(fraction: 0.5, step: 1, total: 2, message: "half way"))
            context.log("waiting for the gate", level: .info)
            started.yield(input["name"]?.stringValue ?? "")
            await gate.wait()
            try context.checkCancellation()
            context.progress(ModelKit.Progress(fraction: 1, step: 2, total: 2))
            return ["done": .string(input["name"]?.stringValue ?? "")]
        }
    }
}

/// Fails the way a model reports bad input: a `ModelError` with its own status.
public struct FailingModel: Model {
    /// The model.
    public init() {}

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "test/fail", category: "image-to-image", displayName: "Fail", description: "Always fails.",
            inputSchema: ["type": "object"], outputSchema: ["type": "object"], schemaName: "Fail")
    }

    public func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    public struct Loaded: LoadedModel {
        public var footprintBytes: Int { 0 }
        public func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            context.log("about to fail", level: .error)
            throw ModelError(.unsupportedMedia, "image is not a PNG", status: 415)
        }
    }
}

/// Reads `image_url` (upload, own file URL, data URI or remote URL), stores the bytes reversed
/// as its output file.
public struct FileModel: Model {
    /// The model.
    public init() {}

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "test/files", category: "image-to-image", displayName: "Files", description: "Reverses a file.",
            inputSchema: [
                "type": "object",
                "properties": ["image_url": ["type": "string"], "sync_mode": ["type": "boolean", "default": false]],
                "required": ["image_url"],
            ],
            outputSchema: ["type": "object"], schemaName: "Files", maxConcurrency: 2)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    public struct Loaded: LoadedModel {
        public var footprintBytes: Int { 0 }
        public func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            let file = try await context.fetch(input["image_url"]?.stringValue ?? "", field: "image_url")
            let stored = try await context.store(Data(file.data.reversed()), contentType: file.contentType ?? "application/octet-stream", fileName: "reversed.bin")
            return ["image": stored.json(extra: ["width": 1, "height": .int(Int64(file.data.count))])]
        }
    }
}
