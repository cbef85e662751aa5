import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
import Weights

/// A Stable Diffusion endpoint with its pipeline built: parses fal's request, runs the pipeline
/// on the compute pool with progress and cancellation per step, and stores the images.
struct LoadedStableDiffusion: LoadedModel {
    let pipeline: StableDiffusionPipeline
    let task: StableDiffusionModel.Task
    let pool: ComputePool
    let limits: ImageLimits
    /// Memory a request may use beside the weights (the machine's physical memory).
    let availableBytes: UInt64

    var footprintBytes: Int { pipeline.footprintBytes }
    let precision: ComputePrecision
    /// Whether the checkpoint came with a TAESD decoder for step previews.
    let hasPreviewDecoder: Bool
    var kernelPath: String? { KernelPath.current.summary(bf16Requested: precision == .bf16) }

    /// Opens the checkpoint and builds the pipeline (or takes the one another endpoint of the
    /// checkpoint has loaded), on the compute pool.
    /// - Parameters:
    ///   - model: the endpoint.
    ///   - pool: the process's compute pool.
    ///   - modelDirectory: the model cache, where `models pull clip-tokenizer` puts CLIP's
    ///     vocabulary (single-file checkpoints carry none).
    static func load(_ model: StableDiffusionModel, pool: ComputePool, modelDirectory: URL) async throws -> LoadedStableDiffusion {
        let definition = model.definition
        let vocabulary = WeightsCatalog.clipTokenizer.files.first.map { modelDirectory.appendingPathComponent($0.path) }
            .flatMap { FileManager.default.fileExists(atPath: $0.path) ? $0 : nil }
        let precision = model.precision
        return try await pool.execute {
            let options = DiffusionCheckpoint.SingleFileOptions(family: definition.family, predictionType: definition.predictionType)
            var checkpoint = try DiffusionCheckpoint(contentsOf: URL(fileURLWithPath: definition.checkpoint), options: options)
            if let folder = definition.safetyChecker {
                checkpoint = try checkpoint.withSafetyChecker(folder: URL(fileURLWithPath: folder))
            }
            let preview = try definition.previewDecoder.map { try DiffusionCheckpoint.component(folder: URL(fileURLWithPath: $0)) }
            let key = SharedDiffusionPipelines.Key(
                checkpoint: definition.checkpoint, family: definition.family, predictionType: definition.predictionType,
                previewDecoder: definition.previewDecoder, safetyChecker: definition.safetyChecker, precision: "\(precision)",
                pool: ObjectIdentifier(pool))
            let pipeline = try SharedDiffusionPipelines.shared.pipeline(for: key) {
                do {
                    return try StableDiffusionPipeline(checkpoint: checkpoint, pool: pool, precision: precision, previewDecoder: preview,
                                                       clipVocabulary: vocabulary)
                } catch let error as ModelError where error.code == .weightsMissing && vocabulary == nil {
                    throw ModelError(.weightsMissing, "\(error.message) (run `peregrine models pull clip-tokenizer`)")
                }
            }
            return LoadedStableDiffusion(pipeline: pipeline, task: model.task, pool: pool, limits: .fromEnvironment(),
                                         availableBytes: ProcessInfo.processInfo.physicalMemory, precision: precision,
                                         hasPreviewDecoder: preview != nil)
        }
    }

    func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
        let parsed = try TextToImageInput(input, task: task)
        var initImage: Image?, mask: Image?
        if let url = parsed.imageURL { initImage = try await image(url, field: "image_url", context: context) }
        if let url = parsed.maskURL { mask = try await image(url, field: "mask_url", context: context) }
        // Image-to-image keeps the image's size, down to a multiple of 8 (the autoencoder's
        // factor), unless a size is asked for.
        let size = parsed.size ?? initImage.map { (max(64, $0.width / 8 * 8), max(64, $0.height / 8 * 8)) } ?? pipeline.defaultSize
        guard size.width <= TextToImageSchema.maxSide, size.height <= TextToImageSchema.maxSide else {
            throw TextToImageInput.invalid("image_size", message: "\(size.width)×\(size.height) is larger than \(TextToImageSchema.maxSide) on a side; pass a smaller image_size")
        }
        try DiffusionBudget.check(width: size.width, height: size.height, images: parsed.imageCount, footprint: footprintBytes,
                                  available: availableBytes)
        let seed = parsed.seed ?? UInt64.random(in: 0...UInt64(TextToImageSchema.maxSeed))
        var request = DiffusionRequest(
            prompt: parsed.prompt, negativePrompt: parsed.negativePrompt, width: size.width, height: size.height,
            steps: parsed.steps ?? pipeline.defaultSteps, guidanceScale: parsed.guidanceScale ?? pipeline.defaultGuidanceScale,
            seed: seed, imageCount: parsed.imageCount)
        // The pipeline resizes both to the output size (Lanczos image, nearest mask), as diffusers does.
        request.initImage = initImage
        request.mask = mask
        request.strength = parsed.strength
        request.loras = try await loras(parsed.loras, context: context)
        // Previews cost a TAESD decode each: about eight per request, when a decoder is installed.
        if hasPreviewDecoder { request.previewEvery = max(1, request.steps / 8) }
        try pipeline.validate(request)
        if parsed.safetyChecker {
            if pipeline.hasSafetyChecker {
                request.checkSafety = true
            } else {
                context.log("no safety checker is installed: images are not checked and has_nsfw_concepts is false", level: .warn)
            }
        }
        context.log("\(task.rawValue) \(request.width)×\(request.height), \(request.steps) steps, guidance \(request.guidanceScale), seed \(seed), \(request.imageCount) image(s)")
        let pipeline = self.pipeline
        let ready = request
        let start = Date()
        let (images, nsfw) = try await pool.execute { () throws -> (images: [Image], nsfw: [Bool]) in
            try pipeline.generateChecked(ready, onStep: { step in
                let preview = step.preview.flatMap { try? $0.encoded(as: .jpeg(quality: 70)) }.map { DataURI.string(for: $0, format: .jpeg) }
                context.progress(Progress(fraction: Double(step.step) / Double(max(1, step.total)), step: step.step, total: step.total,
                                          message: "step \(step.step) of \(step.total)", preview: preview))
                context.log("step \(step.step)/\(step.total)", level: .debug)
            }, isCancelled: { context.isCancelled })
        }
        let inference = Date().timeIntervalSince(start)
        if nsfw.contains(true) {
            context.log("the safety checker flagged \(nsfw.filter { $0 }.count) of \(nsfw.count) image(s); they are returned black", level: .warn)
        }
        let png = parsed.outputFormat == "png"
        let encoded = try await pool.execute { try images.map { try $0.encoded(as: png ? .png() : .jpeg(quality: 90)) } }
        var files: [JSONValue] = []
        for (index, (image, bytes)) in zip(images, encoded).enumerated() {
            let stored = try await context.store(Data(bytes), contentType: png ? "image/png" : "image/jpeg",
                                                 fileName: "image-\(seed)-\(index).\(png ? "png" : "jpeg")")
            files.append(stored.json(extra: ["width": .int(Int64(image.width)), "height": .int(Int64(image.height))]))
        }
        context.progress(Progress(fraction: 1, step: request.steps, total: request.steps, message: "done"))
        return [
            "images": .array(files), "timings": ["inference": .double(inference)], "seed": .int(Int64(seed)),
            "has_nsfw_concepts": .array(nsfw.map { .bool($0) }), "prompt": .string(parsed.prompt),
        ]
    }

    /// The request's LoRA files, fetched like any file input and read against this model's
    /// modules; each is identified by its SHA-256 so the adapted layers are reused while the
    /// same files and scales come again.
    private func loras(_ entries: [(path: String, scale: Float)], context: RunContext) async throws -> [LoRAUse] {
        var uses: [LoRAUse] = []
        for (i, entry) in entries.enumerated() {
            let field = "loras.\(i).path"
            let file = try await context.fetch(entry.path, field: field)
            let modules = pipeline.loraModules
            let adapter = try await pool.execute { () throws -> LoRAAdapter in
                do {
                    let tensors = try SafetensorsFile(bytes: file.data, name: file.fileName ?? "lora.safetensors")
                    return try LoRAAdapter(file: tensors, moduleNames: modules)
                } catch let error as ModelFormatError {
                    throw ModelError(.invalidInput, "\(field): \(error)", status: 422, field: ["body", "loras", "\(i)", "path"])
                } catch let error as ModelError {
                    throw ModelError(.invalidInput, "\(field): \(error.message)", status: 422, field: ["body", "loras", "\(i)", "path"])
                }
            }
            uses.append(LoRAUse(adapter: adapter, scale: entry.scale, identity: FileDigest.sha256(of: file.data)))
            context.log("LoRA \(i): \(adapter.components.values.reduce(0) { $0 + $1.count }) layers at scale \(entry.scale)")
        }
        return uses
    }

    /// A file input decoded as an image, within the input pixel limit.
    private func image(_ url: String, field: String, context: RunContext) async throws -> Image {
        let file = try await context.fetch(url, field: field)
        let limits = self.limits
        return try await pool.execute {
            do {
                return try Image.decode(file.data, options: ImageDecodingOptions(maxPixels: limits.maxInputPixels)).converted(to: .eight)
            } catch let error as MediaError {
                throw ModelError(.unsupportedMedia, "\(field): \(error.message)", field: ["body", field])
            }
        }
    }
}
