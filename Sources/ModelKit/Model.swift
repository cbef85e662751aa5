import Foundation

/// A servable model: a manifest plus the code that loads its weights.
///
/// Loading is separate from running so that the runner pool can decide residency: a loaded
/// model reports its footprint, stays resident between requests and is evicted by dropping it.
public protocol Model: Sendable {
    /// What the model is and how it is called.
    var manifest: ModelManifest { get }

    /// Loads weights and prepares the model for requests.
    /// - Parameter context: where the weights live and how to report progress while loading.
    /// - Throws: `ModelError` when weights are missing, corrupt or do not match the architecture.
    func load(context: LoadContext) async throws -> any LoadedModel

    /// The kernels and precision that decide this model's output bits on this machine (e.g.
    /// `avx512bf16/bf16`), known without loading; part of every result cache key, so an output
    /// computed on another path (bf16 against fp32) is never served for this one.
    var computePath: String { get }
}

extension Model {
    /// One path for models that compute nothing on the engine's kernels.
    public var computePath: String { "" }
}

/// A model ready to serve requests. Must be safe to call concurrently up to the manifest's
/// `maxConcurrency`.
public protocol LoadedModel: Sendable {
    /// Resident memory held by this instance (weights, packed kernels, caches), in bytes.
    var footprintBytes: Int { get }

    /// The CPU kernels the model computes with and the CPU, for the load log (e.g.
    /// `avx512bf16/bf16 on AMD EPYC 9R45`); nil for models that run no engine kernels.
    var kernelPath: String? { get }

    /// Runs one request.
    /// - Parameters:
    ///   - input: the request body, already validated against `manifest.inputSchema` with
    ///     defaults filled in.
    ///   - context: progress, logs, cancellation and file access for this request.
    /// - Returns: the output JSON (fal gallery conventions).
    /// - Throws: `ModelError` for failures the caller should see (bad image, unsupported size),
    ///   `CancellationError` when the request was cancelled; anything else is an internal error.
    func run(input: JSONValue, context: RunContext) async throws -> JSONValue
}

extension LoadedModel {
    /// No engine kernels by default.
    public var kernelPath: String? { nil }
}

/// What a model needs while loading.
public struct LoadContext: Sendable {
    /// The model cache directory (`$PEREGRINE_HOME/models`).
    public var modelDirectory: URL
    /// The process's compute pool: every kernel and every request's blocking work of the
    /// model runs there (models never start threads of their own).
    public var compute: ComputeResources
    /// Threads of the compute pool.
    public var threads: Int { compute.threads }

    /// - Parameters:
    ///   - modelDirectory: the model cache directory.
    ///   - compute: the process's compute pool.
    public init(modelDirectory: URL, compute: ComputeResources) {
        self.modelDirectory = modelDirectory
        self.compute = compute
    }
}

/// Severity of a log line, with fal's names.
public enum LogLevel: String, Sendable, Codable, CaseIterable {
    case debug = "DEBUG", info = "INFO", warn = "WARN", error = "ERROR", stdout = "STDOUT", stderr = "STDERR"
}

/// Progress of a running request.
public struct Progress: Sendable, Equatable, Codable {
    /// Fraction done in [0, 1], when known.
    public var fraction: Double?
    /// Current step (tile, frame, sampler step), 1-based, when counted.
    public var step: Int?
    /// Total steps, when counted.
    public var total: Int?
    /// Short human-readable message.
    public var message: String?
    /// An intermediate result as a small `data:` URI (a diffusion model's decoded latents):
    /// sent on the streaming route (`POST /run/{endpoint}/stream`) only, which is why it rides
    /// on progress rather than on the stored status.
    public var preview: String?

    public init(fraction: Double? = nil, step: Int? = nil, total: Int? = nil, message: String? = nil, preview: String? = nil) {
        self.fraction = fraction
        self.step = step
        self.total = total
        self.message = message
        self.preview = preview
    }
}

/// A file a model produced, stored by the platform.
public struct StoredFile: Sendable, Equatable {
    /// URL (or data URI in sync mode) the caller can fetch the file from.
    public var url: String
    public var contentType: String
    public var fileName: String
    public var fileSize: Int

    public init(url: String, contentType: String, fileName: String, fileSize: Int) {
        self.url = url
        self.contentType = contentType
        self.fileName = fileName
        self.fileSize = fileSize
    }

    /// fal's file object: `{"url","content_type","file_name","file_size"}` plus `extra` members
    /// (`width`, `height`, ...).
    public func json(extra: [String: JSONValue] = [:]) -> JSONValue {
        var o: [String: JSONValue] = [
            "url": .string(url), "content_type": .string(contentType),
            "file_name": .string(fileName), "file_size": .int(Int64(fileSize)),
        ]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }
}

/// A file input fetched for a model.
public struct FetchedFile: Sendable {
    public var data: Data
    /// Content type as declared by the source (data URI, HTTP header, upload), if any.
    public var contentType: String?
    public var fileName: String?

    public init(data: Data, contentType: String?, fileName: String?) {
        self.data = data
        self.contentType = contentType
        self.fileName = fileName
    }
}

/// Per-request services the platform gives a running model.
public protocol RunContext: Sendable {
    /// Reports progress; cheap enough to call per tile or per frame.
    func progress(_ progress: Progress)
    /// Adds a log line visible in `status?logs=1` and the SSE stream.
    func log(_ message: String, level: LogLevel)
    /// True once the request has been cancelled; long loops check it between tiles/steps/frames.
    var isCancelled: Bool { get }
    /// Resolves a file input: a URL of the server's own files (read locally), a remote http(s)
    /// URL (fetched with size/time limits and address policy) or a `data:` URI.
    /// - Throws: `ModelError` with a 4xx status naming `field` when the input cannot be read.
    func fetch(_ url: String, field: String) async throws -> FetchedFile
    /// Stores an output file and returns how the caller reaches it (a data URI in sync mode).
    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile
}

extension RunContext {
    /// Throws `CancellationError` when the request was cancelled.
    public func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }

    /// Adds an INFO log line.
    public func log(_ message: String) { log(message, level: .info) }
}
