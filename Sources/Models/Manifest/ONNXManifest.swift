import Foundation
import ModelKit

/// A model described by a JSON manifest beside its ONNX file: what the endpoint is called, and
/// how request fields become graph inputs and graph outputs become response fields, in a small
/// fixed vocabulary (docs/onnx-manifests.md describes every field).
public struct ONNXManifest: Sendable, Equatable {
    /// The `format` value of manifests written before formats were named; still read, as `onnx`.
    public static let formatVersion = ModelFormat.legacyONNX

    /// How pixel values map to tensor values: `tensor = (pixel·range − mean) / std` per channel,
    /// with `pixel` in [0, 1].
    public struct PixelMapping: Sendable, Equatable {
        /// The value range pixels map onto.
        public var range: PixelRange
        /// Per-channel (or one shared) mean subtracted after the range, default 0.
        public var mean: [Double]
        /// Per-channel (or one shared) divisor, default 1.
        public var std: [Double]
        /// `NCHW` or `NHWC`.
        public var layout: String
        /// Which channels, in which order.
        public var channels: ChannelOrder

        /// Number of channels the tensor holds.
        var channelCount: Int { channels == .gray ? 1 : 3 }
    }

    /// How an input image is brought to the graph's size.
    public struct Resize: Sendable, Equatable {
        /// `none` (as is), `stretch` (to `width`×`height`) or `pad` (edge-replicated up to a
        /// multiple of `multiple`; the output image is cropped back).
        public var mode: String
        /// Target width for `stretch` (default: the graph's fixed width).
        public var width: Int?
        /// Target height for `stretch` (default: the graph's fixed height).
        public var height: Int?
        /// The extent multiple for `pad`.
        public var multiple: Int
        /// `nearest`, `bilinear` or `bicubic` (for `stretch`).
        public var filter: String
    }

    /// One graph input and where its values come from.
    public struct Input: Sendable, Equatable {
        /// `image`, `number`, `integer`, `seed_noise` or `constant`.
        public var kind: String
        /// The graph input's name.
        public var tensor: String
        /// The request field (none for `constant`).
        public var field: String?
        /// Schema title of the request field.
        public var title: String?
        /// Schema description of the request field.
        public var description: String?
        /// Tensor shape for `number`, `integer`, `seed_noise` and `constant`.
        public var shape: [Int]
        /// Smallest accepted value (`number`, `integer`).
        public var minimum: Double?
        /// Largest accepted value (`number`, `integer`).
        public var maximum: Double?
        /// Value when the request omits the field; without one the field is required.
        public var defaultValue: Double?
        /// `constant` values (one value fills the shape); `seed_noise` uses [mean, std].
        public var values: [Double]
        /// Pixel mapping for `image`.
        public var pixels: PixelMapping?
        /// How the image is brought to the graph's size (`image`).
        public var resize: Resize?
        /// The manifest path of this entry, for errors found later.
        public var path: String
    }

    /// One graph output and what the response makes of it.
    public struct Output: Sendable, Equatable {
        /// `image` or `tensor`.
        public var kind: String
        /// The graph output's name.
        public var tensor: String
        /// The response field.
        public var field: String
        /// Schema title of the response field.
        public var title: String?
        /// Schema description of the response field.
        public var description: String?
        /// Inverse pixel mapping for `image`.
        public var pixels: PixelMapping?
        /// `png`, `jpeg` or `webp`.
        public var format: String
        /// 8 or 16.
        public var bitDepth: Int
        /// The manifest path of this entry, for errors found later.
        public var path: String
    }

    /// Tile-by-tile inference for image-to-image models (one image input, image outputs).
    public struct Tiling: Sendable, Equatable {
        /// Core tile side in input pixels.
        public var tile: Int
        /// Extra pixels each tile reads on every side (at least the receptive field's radius).
        public var context: Int
        /// Output pixels per input pixel.
        public var scale: Int
        /// Tile extents must be multiples of this.
        public var alignment: Int
    }

    /// Endpoint id `owner/alias[/path]`.
    public var endpointID: String
    /// Gallery version, default `1.0.0`.
    public var version: String
    /// Gallery display name.
    public var title: String
    /// Gallery description.
    public var description: String
    /// Gallery category (default from the inputs: `image-to-image` or `text-to-image`).
    public var category: String
    /// SPDX id and holder of the weights.
    public var license: String
    /// The ONNX file, relative to the manifest's directory (or absolute).
    public var modelFile: String
    /// Expected sha256 of the ONNX file (lowercase hex), checked at load.
    public var sha256: String?
    /// Where the ONNX file comes from.
    public var source: String?
    /// Resident memory estimate in bytes, when the manifest gives one.
    public var memoryEstimateBytes: Int?
    /// Requests one loaded instance serves at once.
    public var maxConcurrency: Int
    /// Graph inputs and their sources.
    public var inputs: [Input]
    /// Graph outputs and what the response makes of them.
    public var outputs: [Output]
    /// Tile-by-tile inference, when set.
    public var tiling: Tiling?

    /// Parses a manifest, rejecting unknown fields and values.
    /// - Throws: ``ManifestError`` naming the field.
    public init(json: JSONValue) throws {
        var r = try ManifestReader(json, path: "")
        let format = try r.format()
        guard format == .onnx else {
            throw r.error("format", "'\(format.rawValue)' manifests are not ONNX manifests (see ModelManifestFile)")
        }
        endpointID = try r.endpointID()
        version = try r.string("version") ?? "1.0.0"
        title = try r.requiredString("title")
        description = try r.string("description") ?? ""
        license = try r.requiredString("license")
        maxConcurrency = try r.int("max_concurrency", in: 1...64) ?? 1
        memoryEstimateBytes = try r.int("memory_estimate_mb", in: 1...1_048_576).map { $0 << 20 }

        guard let modelValue = r.value("model") else { throw r.error("model", "is required") }
        var m = try ManifestReader(modelValue, path: "model")
        modelFile = try m.requiredString("file")
        sha256 = try m.string("sha256")?.lowercased()
        if let sha256, sha256.count != 64 || !sha256.allSatisfy(\.isHexDigit) {
            throw m.error("sha256", "must be 64 hexadecimal digits")
        }
        source = try m.string("source")
        try m.finish()

        guard let inputItems = try r.objects("inputs") else { throw r.error("inputs", "is required") }
        inputs = try inputItems.map { try Self.input($0, path: $1) }
        guard let outputItems = try r.objects("outputs"), !outputItems.isEmpty else {
            throw r.error("outputs", "needs at least one entry")
        }
        outputs = try outputItems.map { try Self.output($0, path: $1) }
        if let t = r.value("tiling") {
            var tr = try ManifestReader(t, path: "tiling")
            guard let tile = try tr.int("tile", in: 4...8192) else { throw tr.error("tile", "is required") }
            tiling = Tiling(tile: tile, context: try tr.int("context", in: 0...1024) ?? 0,
                            scale: try tr.int("scale", in: 1...16) ?? 1, alignment: try tr.int("alignment", in: 1...256) ?? 1)
            try tr.finish()
        } else {
            tiling = nil
        }
        let imageIn = inputs.contains { $0.kind == "image" }
        category = try r.string("category") ?? (imageIn ? "image-to-image" : "text-to-image")
        try r.finish()
        try checkNames()
    }

    /// Request and response field names must be unique, and not clash with the ones the
    /// platform or this runner adds.
    private func checkNames() throws {
        var seen: [String: String] = ["sync_mode": "the platform's sync_mode"]
        for input in inputs {
            guard let field = input.field else { continue }
            if let other = seen[field] { throw ManifestError(field: "\(input.path).field", "'\(field)' is already used by \(other)") }
            seen[field] = input.path
        }
        seen = ["timings": "the timings the runner adds", "seed": "the seed the runner reports"]
        for output in outputs {
            if let other = seen[output.field] { throw ManifestError(field: "\(output.path).field", "'\(output.field)' is already used by \(other)") }
            seen[output.field] = output.path
        }
        var tensors = Set<String>()
        for input in inputs {
            guard tensors.insert(input.tensor).inserted else {
                throw ManifestError(field: "\(input.path).tensor", "graph input '\(input.tensor)' is mapped twice")
            }
        }
        if let tiling {
            guard inputs.filter({ $0.kind == "image" }).count == 1, !inputs.contains(where: { $0.kind == "seed_noise" }),
                  outputs.count == 1, outputs[0].kind == "image" else {
                throw ManifestError(field: "tiling", "tiling needs exactly one image input, no seed_noise input and one image output")
            }
            if let image = inputs.first(where: { $0.kind == "image" }), image.resize?.mode == "stretch" {
                throw ManifestError(field: "\(image.path).resize.mode", "stretch cannot be combined with tiling")
            }
            if tiling.tile % tiling.alignment != 0 || tiling.context % tiling.alignment != 0 {
                throw ManifestError(field: "tiling.alignment", "tiling.tile and tiling.context must be multiples of it (\(tiling.alignment))")
            }
        }
    }

    private static let inputKinds = ["image", "number", "integer", "seed_noise", "constant"]

    private static func input(_ value: JSONValue, path: String) throws -> Input {
        var r = try ManifestReader(value, path: path)
        let kind = try r.choice("kind", inputKinds)
        guard let kind else { throw r.error("kind", "is required; one of \(inputKinds.joined(separator: ", "))") }
        var input = Input(kind: kind, tensor: try r.requiredString("tensor"), field: nil,
                          title: try r.string("title"), description: try r.string("description"),
                          shape: [], values: [], path: path)
        switch kind {
        case "image":
            input.field = try r.string("field") ?? "image_url"
            input.pixels = try pixels(&r)
            if let rv = r.value("resize") {
                var rr = try ManifestReader(rv, path: r.field("resize"))
                let mode = try rr.choice("mode", ["none", "stretch", "pad"], default: "none")!
                let resize = Resize(mode: mode, width: try rr.int("width", in: 1...8192), height: try rr.int("height", in: 1...8192),
                                    multiple: try rr.int("multiple", in: 1...1024) ?? 1,
                                    filter: try rr.choice("filter", ["nearest", "bilinear", "bicubic"], default: "bicubic")!)
                try rr.finish()
                if mode == "pad", resize.multiple == 1 { throw rr.error("multiple", "pad needs a multiple greater than 1") }
                input.resize = resize
            }
        case "number", "integer":
            input.field = try r.requiredString("field")
            input.shape = try r.shape("shape") ?? [1]
            input.minimum = try r.double("minimum")
            input.maximum = try r.double("maximum")
            input.defaultValue = try r.double("default")
            if kind == "integer" {
                for (key, v) in [("minimum", input.minimum), ("maximum", input.maximum), ("default", input.defaultValue)] {
                    // Exact in Int64: the schema states them as JSON integers.
                    if let v, Int64(exactly: v) == nil { throw r.error(key, "must be an integer in \(Int64.min)...\(Int64.max) for an integer input") }
                }
            }
            if let lo = input.minimum, let hi = input.maximum, lo > hi { throw r.error("minimum", "is greater than maximum") }
            if let d = input.defaultValue, d < (input.minimum ?? -.infinity) || d > (input.maximum ?? .infinity) {
                throw r.error("default", "is outside minimum...maximum")
            }
        case "seed_noise":
            input.field = try r.string("field") ?? "seed"
            guard let shape = try r.shape("shape") else { throw r.error("shape", "is required for seed_noise") }
            input.shape = shape
            let std = try r.double("std") ?? 1
            guard std > 0 else { throw r.error("std", "must be positive") }
            input.values = [try r.double("mean") ?? 0, std]
        default: // constant
            guard let shape = try r.shape("shape") else { throw r.error("shape", "is required for constant") }
            input.shape = shape
            guard let values = try r.doubles("values") else { throw r.error("values", "is required for constant") }
            let count = shape.reduce(1, *)
            guard values.count == 1 || values.count == count else {
                throw r.error("values", "has \(values.count) values; shape \(shape) needs 1 or \(count)")
            }
            input.values = values
        }
        try r.finish()
        return input
    }

    private static func output(_ value: JSONValue, path: String) throws -> Output {
        var r = try ManifestReader(value, path: path)
        guard let kind = try r.choice("kind", ["image", "tensor"]) else { throw r.error("kind", "is required; one of image, tensor") }
        var output = Output(kind: kind, tensor: try r.requiredString("tensor"), field: try r.requiredString("field"),
                            title: try r.string("title"), description: try r.string("description"),
                            format: "png", bitDepth: 8, path: path)
        if kind == "image" {
            output.pixels = try pixels(&r)
            output.format = try r.choice("format", ["png", "jpeg", "webp"], default: "png")!
            output.bitDepth = try r.int("bit_depth") ?? 8
            guard output.bitDepth == 8 || output.bitDepth == 16 else { throw r.error("bit_depth", "must be 8 or 16") }
            if output.bitDepth == 16, output.format != "png" { throw r.error("bit_depth", "16-bit images need format png") }
        }
        try r.finish()
        return output
    }

    private static func pixels(_ r: inout ManifestReader) throws -> PixelMapping {
        let channels = try r.choice("channels", as: ChannelOrder.self) ?? .rgb
        let count = channels == .gray ? 1 : 3
        func perChannel(_ key: String, _ fallback: Double) throws -> [Double] {
            guard let v = try r.doubles(key) else { return [fallback] }
            guard v.count == 1 || v.count == count else { throw r.error(key, "needs 1 or \(count) values for \(channels)") }
            return v
        }
        let std = try perChannel("std", 1)
        if std.contains(0) { throw r.error("std", "must not be zero") }
        return PixelMapping(range: try r.choice("range", as: PixelRange.self) ?? .unit,
                            mean: try perChannel("mean", 0), std: std,
                            layout: try r.choice("layout", ["NCHW", "NHWC"], default: "NCHW")!, channels: channels)
    }
}

/// The value range a manifest maps pixels ([0, 1]) onto.
public enum PixelRange: String, Sendable, CaseIterable {
    /// [0, 1].
    case unit
    /// [−1, 1].
    case symmetric
    /// [0, 255].
    case byte
}

/// The channels of an image tensor, in order.
public enum ChannelOrder: String, Sendable, CaseIterable {
    case rgb, bgr, gray
}
