import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
import Tensor

/// A manifest model with its graph imported: builds the feeds from a request, runs the graph
/// (whole, or tile by tile) and turns the outputs into files and numbers.
struct LoadedONNXManifestModel: LoadedModel {
    let definition: ONNXManifest
    let model: ONNXModel
    /// Element type each graph input is fed as.
    let types: [String: ONNX.DataType]
    let footprintBytes: Int
    let plans: ManifestPlans
    /// Largest accepted input image and largest tiled output (pixels).
    let limits: ImageLimits
    /// The process's compute pool: each request's blocking work runs on one of its job threads.
    let pool: ComputePool

    init(definition: ONNXManifest, model: ONNXModel, types: [String: ONNX.DataType], footprintBytes: Int,
         pool: ComputePool, limits: ImageLimits = ImageLimits()) {
        self.definition = definition
        self.pool = pool
        self.limits = limits
        self.model = model
        self.types = types
        self.footprintBytes = footprintBytes
        // Tiled runs see up to nine window sizes (corners, edges, interior).
        plans = ManifestPlans(model: model, pool: pool, capacity: definition.tiling == nil ? 4 : 12)
    }

    /// Every input's shape when the manifest fixes them all (no image inputs).
    func fixedShapes() -> [String: [Int]]? {
        guard !definition.inputs.contains(where: { $0.kind == "image" }) else { return nil }
        return Dictionary(uniqueKeysWithValues: definition.inputs.map { ($0.tensor, $0.shape) })
    }

    /// An image input after decoding: planes in [0, 1] at the size the graph gets, and the size
    /// the outputs are cropped back to (pad mode).
    private struct PreparedImage {
        var planes: Tensor
        var cropHeight: Int
        var cropWidth: Int
    }

    func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
        var feeds: [String: ONNXTensor] = [:]
        var seed: UInt64?
        var images: [String: PreparedImage] = [:]
        for entry in definition.inputs {
            let field = entry.field ?? entry.tensor
            switch entry.kind {
            case "image":
                images[entry.tensor] = try await prepareImage(entry, input: input, context: context)
            case "seed_noise":
                let s = try Self.seed(input[field], field: field)
                seed = s
                var noise = TerrainNoise(seed: s)
                let (mean, std) = (Float(entry.values[0]), Float(entry.values[1]))
                feeds[entry.tensor] = ONNXTensor(shape: entry.shape, floats: noise.normals(count: entry.shape.reduce(1, *)).map { $0 * std + mean })
            case "constant":
                feeds[entry.tensor] = try tensor(entry, entry.values, field: entry.path)
            default:
                guard let value = input[field]?.doubleValue ?? entry.defaultValue else {
                    throw ModelError(.invalidInput, "\(field) is required", field: ["body", field])
                }
                guard value.isFinite, value >= entry.minimum ?? -.infinity, value <= entry.maximum ?? .infinity,
                      entry.kind == "number" || value == value.rounded() else {
                    throw ModelError(.invalidInput, "\(field) must be \(entry.kind == "integer" ? "an integer" : "a number") in \(entry.minimum ?? -.infinity)...\(entry.maximum ?? .infinity)", field: ["body", field])
                }
                feeds[entry.tensor] = try tensor(entry, [value], field: field)
            }
        }
        try context.checkCancellation()
        context.progress(Progress(fraction: 0, message: "running \(definition.endpointID)"))
        let run = try await pool.execute { [self, feeds, images] () throws -> (JSONValueParts, Double) in
            try execute(feeds: feeds, images: images, context: context)
        }
        var result = run.0.values
        for (field, file) in run.0.images.sorted(by: { $0.key < $1.key }) {
            let f = file.format
            let saved = try await context.store(Data(file.bytes), contentType: f.mimeType, fileName: "\(field).\(f.fileExtension)")
            result[field] = saved.json(extra: ["width": .int(Int64(file.width)), "height": .int(Int64(file.height))])
        }
        if let seed { result["seed"] = .int(Int64(seed)) }
        result["timings"] = ["inference": .double(run.1)]
        context.progress(Progress(fraction: 1, message: "done"))
        return .object(result)
    }

    /// What a run produces before files are stored.
    private struct JSONValueParts: Sendable {
        /// Tensor outputs, ready for the response.
        var values: [String: JSONValue] = [:]
        /// Image outputs, encoded, to be stored.
        var images: [String: EncodedImage] = [:]
    }

    private struct EncodedImage: Sendable {
        var bytes: [UInt8]
        var format: ImageFormat
        var width: Int
        var height: Int
    }

    // MARK: - Inputs

    /// A tensor of the entry's shape filled with `values` (one value fills it all), in the graph
    /// input's element type.
    /// - Throws: `ModelError` 422 naming `field` when a value is not an integer the element type
    ///   holds (a request's integer without a manifest `maximum` can be far beyond Int64).
    private func tensor(_ entry: ONNXManifest.Input, _ values: [Double], field: String) throws -> ONNXTensor {
        let count = entry.shape.reduce(1, *)
        let filled = values.count == count ? values : [Double](repeating: values[0], count: count)
        let type = types[entry.tensor] ?? .float
        switch type {
        case .int64, .int32:
            let ints = try filled.map { value in
                guard let element = ManifestBinding.integerElement(value, type: type) else {
                    throw ModelError(.invalidInput, "\(field) must be an integer in \(ManifestBinding.integerBounds(type))",
                                     field: ["body", field])
                }
                return element
            }
            return ONNXTensor(shape: entry.shape, ints: ints, type: type)
        default: return ONNXTensor(shape: entry.shape, floats: filled.map { Float($0) })
        }
    }

    private static func seed(_ value: JSONValue?, field: String) throws -> UInt64 {
        guard let value else { return UInt64.random(in: 0...UInt64(UInt32.max)) }
        guard let v = value.intValue, let s = UInt64(exactly: v), s <= UInt64(UInt32.max) else {
            throw ModelError(.invalidInput, "\(field) must be an integer in 0...4294967295", field: ["body", field])
        }
        return s
    }

    private func prepareImage(_ entry: ONNXManifest.Input, input: JSONValue, context: RunContext) async throws -> PreparedImage {
        let field = entry.field!
        guard let url = input[field]?.stringValue else {
            throw ModelError(.invalidInput, "\(field) is required", field: ["body", field])
        }
        let file = try await context.fetch(url, field: field)
        let image: Image
        do {
            image = try Image.decode(file.data, options: ImageDecodingOptions(maxPixels: limits.maxInputPixels))
        } catch let error as MediaError {
            throw ModelError(.unsupportedMedia, "\(field): \(error.message)", field: ["body", field])
        }
        var planes = try ManifestPixels.planes(image, channels: entry.pixels!.channelCount)
        let (h, w) = (image.height, image.width)
        let dims = model.inputs.first { $0.name == entry.tensor }?.shape
        let nhwc = entry.pixels!.layout == "NHWC"
        let fixedH = dims.flatMap { $0.count == 4 ? ManifestBinding.fixed(nhwc ? $0[1] : $0[2]) : nil }
        let fixedW = dims.flatMap { $0.count == 4 ? ManifestBinding.fixed(nhwc ? $0[2] : $0[3]) : nil }
        let resize = entry.resize ?? ONNXManifest.Resize(mode: "none", multiple: 1, filter: "bicubic")
        let multiple = definition.tiling?.alignment ?? (resize.mode == "pad" ? resize.multiple : 1)
        switch resize.mode {
        case "stretch":
            let (th, tw) = (resize.height ?? fixedH ?? h, resize.width ?? fixedW ?? w)
            if th != h || tw != w {
                planes = try PlaneResize.resize(planes, width: tw, height: th, filter: ResizeFilter(rawValue: resize.filter) ?? .bicubic)
            }
            return PreparedImage(planes: planes, cropHeight: th, cropWidth: tw)
        default:
            let ph = (h + multiple - 1) / multiple * multiple, pw = (w + multiple - 1) / multiple * multiple
            if ph != h || pw != w {
                planes = ImageTensor.replicatePadded(planes, top: 0, left: 0, bottom: ph - h, right: pw - w)
            }
            if definition.tiling == nil, let fixedH, let fixedW, fixedH != ph || fixedW != pw {
                throw ModelError(.invalidInput, "\(field): the model takes \(fixedW)x\(fixedH) images, got \(w)x\(h)", field: ["body", field])
            }
            // The tiler allocates the whole scaled output up front; a manifest scale of up to 16
            // turns an accepted input into hundreds of gigabytes without this check.
            if let scale = definition.tiling?.scale, limits.outputPixels(width: pw, height: ph, scale: scale) == nil {
                throw ModelError(.invalidInput, "\(field): a \(w)x\(h) image at scale \(scale) exceeds \(limits.maxOutputPixels) output pixels",
                                 field: ["body", field])
            }
            return PreparedImage(planes: planes, cropHeight: h, cropWidth: w)
        }
    }

    // MARK: - Running

    private func execute(feeds: [String: ONNXTensor], images: [String: PreparedImage], context: RunContext) throws -> (JSONValueParts, Double) {
        var seconds = 0.0
        func network(_ feeds: [String: ONNXTensor]) throws -> [String: ONNXTensor] {
            try context.checkCancellation()
            let runner: ONNXGraphRunner
            do {
                runner = try plans.plan(for: feeds.mapValues(\.shape))
            } catch let error as ModelFormatError {
                throw ModelError(.invalidInput, "the graph does not accept these input sizes: \(error.message)")
            }
            let start = DispatchTime.now().uptimeNanoseconds
            defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            // Cancellation stops a long run between layers.
            return try runner.run(feeds, checkpoint: { try context.checkCancellation() })
        }
        var imagePlanes: [String: Tensor] = [:]
        var values: [String: ONNXTensor] = [:]
        if let tiling = definition.tiling, let (name, image) = images.first {
            // Tiling: one image input, one image output (checked at parse and bind time).
            let entry = definition.inputs.first { $0.tensor == name }!
            let output = definition.outputs[0]
            let tiler = try Tiler(tileSize: tiling.tile, context: tiling.context, alignment: tiling.alignment,
                                  scale: tiling.scale, shrinksByContext: false)
            let total = tiler.tileCount(height: image.planes.shape.h, width: image.planes.shape.w)
            imagePlanes[output.tensor] = try tiler.run(image.planes, beforeTile: { index, count in
                try context.checkCancellation()
                context.progress(Progress(fraction: Double(index) / Double(count), step: index + 1, total: total,
                                          message: "tile \(index + 1) of \(count)"))
            }, network: { window in
                var tileFeeds = feeds
                let mapped = ManifestPixels.forward(window, entry.pixels!)
                tileFeeds[name] = ONNXTensor(shape: mapped.shape, floats: mapped.values)
                guard let out = try network(tileFeeds)[output.tensor] else {
                    throw ModelError(.internalError, "the graph produced no '\(output.tensor)'")
                }
                return try ManifestPixels.inverse(out.floats, shape: out.shape, output.pixels!, name: output.tensor)
            })
        } else {
            var allFeeds = feeds
            for (name, image) in images {
                let entry = definition.inputs.first { $0.tensor == name }!
                let mapped = ManifestPixels.forward(image.planes, entry.pixels!)
                allFeeds[name] = ONNXTensor(shape: mapped.shape, floats: mapped.values)
            }
            values = try network(allFeeds)
        }
        // Pad and stretch: outputs go back to the first image's size, scaled as the graph scaled it.
        let reference = definition.inputs.first { $0.kind == "image" }.flatMap { images[$0.tensor] }
        var parts = JSONValueParts()
        for output in definition.outputs {
            if output.kind == "tensor" {
                guard let t = values[output.tensor] else { throw ModelError(.internalError, "the graph produced no '\(output.tensor)'") }
                guard t.count <= limits.maxTensorOutputValues else {
                    throw ModelError(.invalidInput, "\(output.field) would hold \(t.count) values, more than the limit of \(limits.maxTensorOutputValues); use a smaller input")
                }
                parts.values[output.field] = [
                    "shape": .array(t.shape.map { .int(Int64($0)) }),
                    "data": .array(t.floats.map { $0.isFinite ? .double(Double($0)) : .null }),
                ]
                continue
            }
            var planes: Tensor
            if let tiled = imagePlanes[output.tensor] {
                planes = tiled
            } else {
                guard let t = values[output.tensor] else { throw ModelError(.internalError, "the graph produced no '\(output.tensor)'") }
                planes = try ManifestPixels.inverse(t.floats, shape: t.shape, output.pixels!, name: output.tensor)
            }
            if let reference, reference.planes.shape.h > 0 {
                let sh = planes.shape.h * reference.cropHeight / reference.planes.shape.h
                let sw = planes.shape.w * reference.cropWidth / reference.planes.shape.w
                planes = ManifestPixels.cropped(planes, height: max(1, sh), width: max(1, sw))
            }
            let image = try Image(color: planes, bitDepth: output.bitDepth == 16 ? .sixteen : .eight)
            let format = ImageFormat(rawValue: output.format) ?? .png
            let bytes: [UInt8]
            do {
                bytes = try image.encoded(as: ImageEncoding(format: format))
            } catch let error as MediaError {
                throw ModelError(.internalError, "encoding \(output.field) failed: \(error.message)")
            }
            parts.images[output.field] = EncodedImage(bytes: bytes, format: format, width: image.width, height: image.height)
        }
        return (parts, seconds)
    }
}
