import Foundation
import Graph
import Kernels
import Media
import ModelFormats
import ModelKit
import Tensor

/// A loaded ncnn upscaler: graphs prepared on first use of each variant and kept, requests run
/// tile by tile on the compute pool's job threads with progress and cancellation between tiles.
final class LoadedUpscaler: LoadedModel, @unchecked Sendable {
    let modelDirectory: URL
    /// The process's compute pool: every graph of this model runs on it, and each request's
    /// blocking work runs on one of its job threads.
    let pool: ComputePool
    let precision: ComputePrecision
    let scales: [Int]
    let defaultScale: Int
    let defaultModel: String
    /// Picks the network for a request.
    let variantFor: @Sendable (UpscaleRequest) throws -> UpscalerVariant
    /// Largest accepted input and produced output (pixels).
    let limits: ImageLimits

    private let lock = NSLock()
    private var executors: [UpscalerVariant: GraphExecutor] = [:]

    init(modelDirectory: URL, pool: ComputePool, precision: ComputePrecision, scales: [Int], defaultScale: Int,
         defaultModel: String = "", limits: ImageLimits = .fromEnvironment(),
         variantFor: @escaping @Sendable (UpscaleRequest) throws -> UpscalerVariant) {
        self.modelDirectory = modelDirectory
        self.limits = limits
        self.pool = pool
        self.precision = precision
        self.scales = scales
        self.defaultScale = defaultScale
        self.defaultModel = defaultModel
        self.variantFor = variantFor
    }

    var kernelPath: String? { KernelPath.current.summary(bf16Requested: precision == .bf16) }

    var footprintBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return executors.values.reduce(0) { $0 + $1.weightBytes + $1.activationBytes }
    }

    /// The prepared graph of a variant, importing it on first use.
    /// - Throws: `ModelError` `.weightsMissing` when the files are absent, `.weightsInvalid`
    ///   when they do not parse.
    func executor(for variant: UpscalerVariant) throws -> GraphExecutor {
        lock.lock(); defer { lock.unlock() }
        if let e = executors[variant] { return e }
        let param = modelDirectory.appendingPathComponent(variant.param)
        let bin = modelDirectory.appendingPathComponent(variant.bin)
        guard FileManager.default.fileExists(atPath: param.path), FileManager.default.fileExists(atPath: bin.path) else {
            throw ModelError(.weightsMissing, "weights \(variant.param) are not in \(modelDirectory.path); run `peregrine models pull`")
        }
        do {
            let graph = try NCNNImporter.importGraph(paramURL: param, binURL: bin, outputs: [variant.outputBlob])
            let e = try GraphExecutor(graph: graph, pool: pool, precision: precision)
            executors[variant] = e
            return e
        } catch let error as ModelFormatError {
            throw ModelError(.weightsInvalid, "\(variant.param): \(error.message)")
        } catch {
            // Shape or packing errors mean the files do not describe the network we expect.
            throw ModelError(.weightsInvalid, "\(variant.param): \(error)")
        }
    }

    /// Prepares a variant's graph on the compute pool (importing and packing weights is compute
    /// too: it does not belong on the awaiting task's thread).
    func prepare(_ variant: UpscalerVariant) async throws {
        _ = try await pool.execute { [self] in try executor(for: variant) }
    }

    func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
        let request = try UpscaleRequest(input, scales: scales, defaultScale: defaultScale, defaultModel: defaultModel)
        let variant = try variantFor(request)
        let file = try await context.fetch(request.imageURL, field: "image_url")
        let image: Image
        do {
            image = try Image.decode(file.data, options: ImageDecodingOptions(maxPixels: limits.maxInputPixels))
        } catch let error as MediaError {
            throw ModelError(.unsupportedMedia, "image_url: \(error.message)", field: ["body", "image_url"])
        }
        guard limits.outputPixels(width: image.width, height: image.height, scale: request.scale) != nil else {
            throw ModelError(.invalidInput,
                "a \(image.width)x\(image.height) image at scale \(request.scale) exceeds \(limits.maxOutputPixels) output pixels",
                field: ["body", "image_url"])
        }
        let scale = request.scale
        let tileSize = request.tileSize
        let (upscaled, seconds) = try await pool.execute { [self] in
            try Self.upscale(image, variant: variant, scale: scale, tileSize: tileSize, executor: executor(for: variant),
                             context: context)
        }
        let bytes: [UInt8]
        do {
            bytes = try upscaled.encoded(as: ImageEncoding(format: request.format))
        } catch let error as MediaError {
            throw ModelError(.internalError, "encoding the result failed: \(error.message)")
        }
        let stored = try await context.store(Data(bytes), contentType: request.format.mimeType,
                                             fileName: "upscaled.\(request.format.fileExtension)")
        return [
            "image": stored.json(extra: ["width": .int(Int64(upscaled.width)), "height": .int(Int64(upscaled.height))]),
            "timings": ["inference": .double(seconds)],
        ]
    }

    /// Upscales an image: RGB through the network tile by tile, alpha (if any) by bicubic resize.
    /// - Returns: the result and the seconds spent in the network.
    static func upscale(_ image: Image, variant: UpscalerVariant, scale: Int, tileSize: Int,
                        executor: GraphExecutor, context: RunContext?) throws -> (Image, Double) {
        let rgba = try image.converted(to: .eight).converted(toChannels: image.hasAlpha ? 4 : 3)
        guard case .uint8(let samples) = rgba.samples else { throw ModelError(.internalError, "expected 8-bit samples") }
        let (w, h, ch) = (rgba.width, rgba.height, rgba.channels)
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) { for c in 0..<3 { rgb[i * 3 + c] = samples[i * ch + c] } }
        let input = ImageTensor.tensor(rgb: rgb, width: w, height: h)
        let tiler = try Tiler(tileSize: tileSize, context: variant.context, alignment: variant.alignment,
                              scale: variant.scale, shrinksByContext: variant.shrinksByContext,
                              borderPad: variant.borderPad)
        var seconds = 0.0
        let output = try tiler.run(input, beforeTile: { index, total in
            if let context {
                try context.checkCancellation()
                context.progress(ModelKit.Progress(fraction: Double(index) / Double(total), step: index + 1, total: total,
                                          message: "tile \(index + 1) of \(total)"))
            }
        }, network: { window in
            let start = DispatchTime.now().uptimeNanoseconds
            defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            // Cancellation is checked between layers too: one tile of a large model takes seconds.
            return try executor.run([window], checkpoint: { try context?.checkCancellation() })[0]
        })
        context?.progress(ModelKit.Progress(fraction: 1, step: tiler.tileCount(height: h, width: w), total: tiler.tileCount(height: h, width: w)))
        var outRGB = ImageTensor.rgb(output)
        let (ow, oh) = (w * scale, h * scale)
        guard ch == 4 else {
            return (try Image(width: ow, height: oh, channels: 3, samples: .uint8(outRGB)), seconds)
        }
        // Alpha is not part of the network: resize it bicubically like the upstream tools.
        var alphaBytes = [UInt8](repeating: 0, count: w * h)
        for i in 0..<(w * h) { alphaBytes[i] = samples[i * 4 + 3] }
        let alpha = try AlphaResize.bicubic(alphaBytes, width: w, height: h, scale: scale, pool: executor.pool)
        var out = [UInt8](repeating: 0, count: ow * oh * 4)
        for i in 0..<(ow * oh) {
            out[i * 4] = outRGB[i * 3]; out[i * 4 + 1] = outRGB[i * 3 + 1]; out[i * 4 + 2] = outRGB[i * 3 + 2]
            out[i * 4 + 3] = alpha[i]
        }
        outRGB = []
        return (try Image(width: ow, height: oh, channels: 4, samples: .uint8(out)), seconds)
    }
}

/// Bicubic resizing of an 8-bit plane, through the graph's own resize op.
enum AlphaResize {
    static func bicubic(_ plane: [UInt8], width: Int, height: Int, scale: Int, pool: ComputePool) throws -> [UInt8] {
        var g = Graph()
        let x = g.addValue(named: "alpha")
        let y = g.addValue(named: "resized")
        g.inputs = [x]
        g.outputs = [y]
        g.nodes = [Node(name: "alpha_resize", op: .resize(Resize(mode: .bicubic, scaleH: Float(scale), scaleW: Float(scale))),
                        inputs: [x], output: y)]
        let t = Tensor(shape: Shape(n: 1, c: 1, h: height, w: width), values: plane.map { Float($0) / 255 })
        let out = try GraphExecutor(graph: g, pool: pool).run([t])[0]
        return out.toArray().map { ImageTensor.byte(($0 * 255 + 0.5).rounded(.down)) }
    }
}
