import Foundation
import ModelKit

/// A Stable Diffusion endpoint registered as data (`"format": "safetensors"`,
/// `"architecture": "stable-diffusion"`), the file `peregrine models add` writes into the
/// manifests directory (`models.d`). One manifest serves three endpoints: `ENDPOINT`
/// (text-to-image), `ENDPOINT/image-to-image` and `ENDPOINT/inpainting`.
///
/// The checkpoint is referenced where it lies (a user's file or folder, or the copy a URL was
/// downloaded to in the model cache), never copied: weights are memory-mapped, and a second
/// multi-gigabyte copy would only cost disk.
public struct StableDiffusionManifest: Sendable, Equatable {
    /// The `architecture` value of these manifests.
    public static let architecture = "stable-diffusion"

    /// Endpoint id `owner/alias` of the text-to-image endpoint.
    public var endpointID: String
    /// Gallery display name.
    public var title: String
    public var description: String
    /// The checkpoint: a diffusers folder or a single `.safetensors` file, absolute.
    public var checkpoint: String
    /// SHA-256 of a single-file checkpoint, lowercase hex, verified when it was added.
    public var sha256: String?
    /// Where the checkpoint came from (the URL it was downloaded from), for listings.
    public var source: String?
    /// The family, detected from the weights when added (or given by the user).
    public var family: DiffusionCheckpoint.Family
    /// `epsilon` or `v_prediction`, when the user overrode the detected one.
    public var predictionType: String?
    /// A TAESD / TAESDXL component folder for previews, absolute.
    public var previewDecoder: String?
    /// A safety checker folder for checkpoints without one (single files), absolute
    /// (``DiffusionCheckpoint/withSafetyChecker(folder:)``).
    public var safetyChecker: String?
    /// Requests one loaded instance serves at once.
    public var maxConcurrency: Int
    /// The resident estimate before the first load measures it.
    public var memoryEstimateBytes: Int?

    /// A manifest with defaults.
    public init(endpointID: String, checkpoint: String, family: DiffusionCheckpoint.Family, title: String? = nil,
                description: String = "", sha256: String? = nil, source: String? = nil, predictionType: String? = nil,
                previewDecoder: String? = nil, safetyChecker: String? = nil, maxConcurrency: Int = 1, memoryEstimateBytes: Int? = nil) {
        self.endpointID = endpointID
        self.title = title ?? endpointID
        self.description = description
        self.checkpoint = checkpoint
        self.sha256 = sha256
        self.source = source
        self.family = family
        self.predictionType = predictionType
        self.previewDecoder = previewDecoder
        self.safetyChecker = safetyChecker
        self.maxConcurrency = maxConcurrency
        self.memoryEstimateBytes = memoryEstimateBytes
    }

    /// Whether `json` is a Stable Diffusion manifest (checked before the strict parse, so that
    /// other formats go to their own readers).
    public static func describes(_ json: JSONValue) -> Bool {
        json["format"]?.stringValue == ModelFormat.safetensors.rawValue && json["architecture"]?.stringValue == architecture
    }

    /// Parses a manifest strictly: unknown fields and bad values are errors naming the field.
    /// - Throws: ``ManifestError``.
    public init(json: JSONValue) throws {
        var r = try ManifestReader(json, path: "")
        guard try r.format() == .safetensors else { throw r.error("format", "must be \"safetensors\"") }
        guard try r.requiredString("architecture") == Self.architecture else {
            throw r.error("architecture", "must be \"\(Self.architecture)\"")
        }
        endpointID = try r.endpointID()
        title = try r.string("title") ?? endpointID
        description = try r.string("description") ?? ""
        guard let value = r.value("checkpoint") else { throw r.error("checkpoint", "is required") }
        var c = try ManifestReader(value, path: "checkpoint")
        checkpoint = try c.requiredString("path")
        guard checkpoint.hasPrefix("/") else { throw c.error("path", "must be an absolute path, got '\(checkpoint)'") }
        sha256 = try c.string("sha256")?.lowercased()
        if let sha256, !Self.isDigest(sha256) { throw c.error("sha256", "must be 64 hexadecimal digits") }
        source = try c.string("source")
        try c.finish()
        guard let family = try r.choice("family", as: DiffusionCheckpoint.Family.self) else { throw r.error("family", "is required") }
        self.family = family
        predictionType = try r.choice("prediction_type", ["epsilon", "v_prediction"])
        previewDecoder = try r.string("preview_decoder")
        if let previewDecoder, !previewDecoder.hasPrefix("/") {
            throw r.error("preview_decoder", "must be an absolute path, got '\(previewDecoder)'")
        }
        safetyChecker = try r.string("safety_checker")
        if let safetyChecker, !safetyChecker.hasPrefix("/") {
            throw r.error("safety_checker", "must be an absolute path, got '\(safetyChecker)'")
        }
        maxConcurrency = try r.int("max_concurrency", in: 1...16) ?? 1
        memoryEstimateBytes = try r.int("memory_estimate_mb", in: 1...1_048_576).map { $0 << 20 }
        try r.finish()
    }

    /// The manifest as written to `models.d`.
    public var json: JSONValue {
        var checkpoint: [String: JSONValue] = ["path": .string(self.checkpoint)]
        if let sha256 { checkpoint["sha256"] = .string(sha256) }
        if let source { checkpoint["source"] = .string(source) }
        var o: [String: JSONValue] = [
            "format": .string(ModelFormat.safetensors.rawValue), "architecture": .string(Self.architecture),
            "endpoint_id": .string(endpointID), "title": .string(title), "checkpoint": .object(checkpoint),
            "family": .string(family.rawValue), "max_concurrency": .int(Int64(maxConcurrency)),
        ]
        if !description.isEmpty { o["description"] = .string(description) }
        if let predictionType { o["prediction_type"] = .string(predictionType) }
        if let previewDecoder { o["preview_decoder"] = .string(previewDecoder) }
        if let safetyChecker { o["safety_checker"] = .string(safetyChecker) }
        if let memoryEstimateBytes { o["memory_estimate_mb"] = .int(Int64(memoryEstimateBytes >> 20)) }
        return .object(o)
    }

    /// The models the manifest registers: text-to-image, image-to-image and inpainting.
    public var models: [StableDiffusionModel] {
        StableDiffusionModel.Task.allCases.map { StableDiffusionModel(definition: self, task: $0) }
    }

    /// 64 hexadecimal digits.
    public static func isDigest(_ text: String) -> Bool {
        text.count == 64 && text.allSatisfy(\.isHexDigit)
    }
}

extension ManifestReader {
    /// The required `endpoint_id`: `owner/alias[/path]` of letters, digits, `-`, `_` and `.`.
    mutating func endpointID() throws -> String {
        let id = try requiredString("endpoint_id")
        guard let message = EndpointID.problem(id) else { return id }
        throw error("endpoint_id", message)
    }
}

/// The shape of an endpoint id, checked once for every manifest and for `models add`.
public enum EndpointID {
    /// What is wrong with `id`, or nil when it is `owner/alias[/path]` of letters, digits,
    /// `-`, `_` and `.`.
    public static func problem(_ id: String) -> String? {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(allowed.contains) }) else {
            return "must look like owner/alias (letters, digits, - _ .), got '\(id)'"
        }
        return nil
    }
}
