import Foundation
import ModelKit
import Weights

/// An image upscaler described as data (`"format": "ncnn"`): the endpoint, its request options
/// (scales, noise levels, network names) and one ncnn network per combination it offers, each
/// with the upstream tool's tiling and padding. The gallery's upscalers ship as these manifests
/// (`Sources/Models/Gallery/*.json`); ``ManifestUpscaler`` serves them.
public struct UpscalerManifest: Sendable, Equatable {
    /// The request's `noise_level` option.
    public struct NoiseLevels: Sendable, Equatable {
        public var minimum: Int
        public var maximum: Int
        public var defaultValue: Int
        /// Schema description of the field.
        public var description: String
    }

    /// The request's `model` option: which of the endpoint's network families runs.
    public struct NetworkChoice: Sendable, Equatable {
        /// Names a request may pick.
        public var names: [String]
        public var defaultValue: String
        /// Schema description of the field.
        public var description: String
    }

    /// One network and the request options it serves.
    public struct Network: Sendable, Equatable {
        /// The scale it produces.
        public var scale: Int
        /// The noise level it serves (`nil`: any; the endpoint has no noise option).
        public var noiseLevel: Int?
        /// The network family it belongs to (`nil`: the endpoint has no model option).
        public var model: String?
        /// The files, blobs, tiling and padding.
        var variant: UpscalerVariant
    }

    /// Always ``ModelFormat/ncnn``.
    public let format = ModelFormat.ncnn
    /// Endpoint id `owner/alias`.
    public var endpointID: String
    public var version: String
    public var category: String
    /// Gallery display name.
    public var title: String
    public var description: String
    /// Name used in OpenAPI component names.
    public var schemaName: String
    /// The pinned weights package (``WeightsCatalog``) the networks' files come from.
    public var weightsPackage: String
    public var memoryEstimateBytes: Int
    public var maxConcurrency: Int
    /// Scales a request may ask for, and the default.
    public var scales: [Int]
    public var defaultScale: Int
    public var noiseLevels: NoiseLevels?
    public var networkChoice: NetworkChoice?
    public var networks: [Network]

    /// Parses a manifest strictly.
    /// - Throws: ``ManifestError`` naming the field that is missing, unknown or out of range.
    public init(json: JSONValue) throws {
        var r = try ManifestReader(json, path: "")
        guard try r.format() == .ncnn else { throw r.error("format", "an upscaler manifest has format ncnn") }
        endpointID = try r.requiredString("endpoint_id")
        let parts = endpointID.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(allowed.contains) }) else {
            throw r.error("endpoint_id", "must look like owner/alias (letters, digits, - _ .), got '\(endpointID)'")
        }
        version = try r.string("version") ?? "1.0.0"
        category = try r.string("category") ?? "image-to-image"
        title = try r.requiredString("title")
        description = try r.string("description") ?? ""
        schemaName = try r.requiredString("schema_name")
        let weights = try r.requiredString("weights")
        guard WeightsCatalog.all.contains(where: { $0.name == weights }) else {
            throw r.error("weights", "'\(weights)' is not a package of the weights catalog")
        }
        weightsPackage = weights
        memoryEstimateBytes = (try r.int("memory_estimate_mb", in: 1...1_048_576) ?? 64) << 20
        maxConcurrency = try r.int("max_concurrency", in: 1...64) ?? 1

        guard let upscaleValue = r.value("upscale") else { throw r.error("upscale", "is required") }
        var u = try ManifestReader(upscaleValue, path: "upscale")
        guard let scales = try u.ints("scales", in: 1...16), !scales.isEmpty else { throw u.error("scales", "needs at least one scale") }
        self.scales = scales
        defaultScale = try u.int("default_scale", in: 1...16) ?? scales[0]
        guard scales.contains(defaultScale) else { throw u.error("default_scale", "must be one of the scales") }
        if let v = u.value("noise_level") {
            var n = try ManifestReader(v, path: u.field("noise_level"))
            guard let lo = try n.int("minimum", in: -1...16), let hi = try n.int("maximum", in: -1...16), lo <= hi else {
                throw n.error("minimum", "minimum and maximum are required, minimum ≤ maximum")
            }
            let d = try n.int("default", in: lo...hi) ?? lo
            noiseLevels = NoiseLevels(minimum: lo, maximum: hi, defaultValue: d, description: try n.string("description") ?? "")
            try n.finish()
        } else {
            noiseLevels = nil
        }
        if let v = u.value("model") {
            var m = try ManifestReader(v, path: u.field("model"))
            guard let names = try m.strings("names"), !names.isEmpty else { throw m.error("names", "needs at least one name") }
            let d = try m.string("default") ?? names[0]
            guard names.contains(d) else { throw m.error("default", "must be one of the names") }
            networkChoice = NetworkChoice(names: names, defaultValue: d, description: try m.string("description") ?? "")
            try m.finish()
        } else {
            networkChoice = nil
        }
        guard let items = try u.objects("networks"), !items.isEmpty else { throw u.error("networks", "needs at least one network") }
        var networks: [Network] = []
        for (item, path) in items {
            networks.append(try Self.network(item, path: path, noise: noiseLevels, choice: networkChoice, scales: scales))
        }
        self.networks = networks
        try u.finish()
        try r.finish()
        // The defaults must name a network: it is the one prepared at load.
        _ = try variant(scale: defaultScale, noiseLevel: noiseLevels?.defaultValue, model: networkChoice?.defaultValue)
    }

    private static func network(_ value: JSONValue, path: String, noise: NoiseLevels?, choice: NetworkChoice?,
                                scales: [Int]) throws -> Network {
        var n = try ManifestReader(value, path: path)
        guard let scale = try n.int("scale", in: 1...16), scales.contains(scale) else {
            throw n.error("scale", "is required and must be one of the endpoint's scales")
        }
        let level = try n.int("noise_level", in: -1...16)
        if let level, noise.map({ !($0.minimum...$0.maximum).contains(level) }) ?? true {
            throw n.error("noise_level", "needs the endpoint's noise_level option, and a level in its range")
        }
        let model = try n.string("model")
        if let model, !(choice?.names.contains(model) ?? false) {
            throw n.error("model", "'\(model)' is not one of the endpoint's model names")
        }
        let param = try n.requiredString("param")
        guard param.hasSuffix(".param"), !param.hasPrefix("/"), !param.split(separator: "/").contains("..") else {
            throw n.error("param", "must be a relative path to a .param file inside the model cache")
        }
        let input = try n.requiredString("input")
        let output = try n.requiredString("output")
        guard let tilingValue = n.value("tiling") else { throw n.error("tiling", "is required") }
        var t = try ManifestReader(tilingValue, path: n.field("tiling"))
        let variant = UpscalerVariant(
            param: param, inputBlob: input, outputBlob: output, scale: scale,
            context: try t.int("context", in: 0...1024) ?? 0, alignment: try t.int("alignment", in: 1...256) ?? 1,
            shrinksByContext: try t.bool("valid_convolutions") ?? false, borderPad: try t.int("border_pad", in: 0...1024) ?? 0)
        try t.finish()
        try n.finish()
        return Network(scale: scale, noiseLevel: level, model: model, variant: variant)
    }

    /// The network for a request's options.
    /// - Throws: `ModelError` (422, naming the field) for a model name or combination the
    ///   manifest does not ship.
    func variant(scale: Int, noiseLevel: Int?, model: String?) throws -> UpscalerVariant {
        if let choice = networkChoice, let model, !choice.names.contains(model) {
            throw ModelError(.invalidInput, "model must be one of \(choice.names.joined(separator: ", "))", field: ["body", "model"])
        }
        func matches(_ n: Network, checkingNoise: Bool) -> Bool {
            n.scale == scale && (n.model == nil || n.model == model) && (!checkingNoise || n.noiseLevel == nil || n.noiseLevel == noiseLevel)
        }
        if let network = networks.first(where: { matches($0, checkingNoise: true) }) { return network.variant }
        // Name the option that has no network: the noise level when the scale has others.
        let noiseIsTheProblem = noiseLevels != nil && networks.contains { matches($0, checkingNoise: false) }
        var asked = "scale \(scale)"
        if let noiseLevel, noiseLevels != nil { asked += ", noise_level \(noiseLevel)" }
        if let model, networkChoice != nil { asked += ", model \(model)" }
        throw ModelError(.invalidInput, "\(endpointID) has no network for \(asked)",
                         field: ["body", noiseIsTheProblem ? "noise_level" : "scale"])
    }
}
