// The text-to-image loop of diffusers' StableDiffusionPipeline and StableDiffusionXLPipeline
// (huggingface/diffusers `pipelines/stable_diffusion*/`), on the engine's components.
import Foundation
import Graph
import Kernels
import Media
import ModelKit
import Tensor

/// One generation request, in the pipeline's terms (the endpoint maps fal's schema onto it).
public struct DiffusionRequest: Sendable {
    public var prompt: String
    /// Empty: none (SDXL then conditions on zeros, as diffusers does without a negative prompt).
    public var negativePrompt: String
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidanceScale: Float
    public var seed: UInt64
    public var imageCount: Int
    /// Image-to-image: the image to start from, and how much of the schedule to run over it.
    public var initImage: Image?
    public var strength: Float
    /// Inpainting: which pixels of ``initImage`` to repaint (white, after binarizing at half
    /// intensity), the same size as the image.
    public var mask: Image?
    /// Decode a preview every this many steps with the preview decoder (nil: none).
    public var previewEvery: Int?
    /// The sampler; nil takes the checkpoint's.
    public var sampler: SamplerKind?
    /// LoRAs applied to this request only, each with its scale.
    public var loras: [LoRAUse]
    /// Run the safety checker on the images (when the checkpoint has one): flagged images come
    /// back black and ``StableDiffusionPipeline/generateChecked(_:onStep:isCancelled:)`` says
    /// which they were.
    public var checkSafety: Bool

    public init(prompt: String, negativePrompt: String = "", width: Int, height: Int, steps: Int, guidanceScale: Float,
                seed: UInt64, imageCount: Int = 1) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.width = width
        self.height = height
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.seed = seed
        self.imageCount = imageCount
        initImage = nil
        strength = 0.8
        mask = nil
        previewEvery = nil
        sampler = nil
        loras = []
        checkSafety = false
    }
}

/// A LoRA applied to one request.
public struct LoRAUse: Sendable {
    /// The adapter's layers.
    public var adapter: LoRAAdapter
    /// Its strength (fal's `scale`, 1 as trained).
    public var scale: Float
    /// What identifies the adapter's contents (its file's digest), for reusing the adapted
    /// layers across requests.
    public var identity: String

    public init(adapter: LoRAAdapter, scale: Float, identity: String) {
        self.adapter = adapter
        self.scale = scale
        self.identity = identity
    }
}

/// Where a generation stands after a denoising step.
public struct DiffusionStep: Sendable {
    /// Steps done (1 after the first).
    public var step: Int
    /// Steps in the run.
    public var total: Int
    /// The first image's preview, on the steps ``DiffusionRequest/previewEvery`` asks for.
    public var preview: Image?
}

/// The samplers the pipeline runs (diffusers' scheduler classes).
public enum SamplerKind: String, Sendable, CaseIterable, Codable {
    case euler = "EulerDiscreteScheduler"
    case eulerAncestral = "EulerAncestralDiscreteScheduler"
    case dpmSolverMultistep = "DPMSolverMultistepScheduler"
    case ddim = "DDIMScheduler"
    case lcm = "LCMScheduler"
}

/// A Stable Diffusion 1.x / 2.x / XL pipeline loaded from a checkpoint: tokenizers, text
/// encoders, UNet and autoencoder, each one graph on the engine, prepared once.
public final class StableDiffusionPipeline: Sendable {
    /// The model family.
    public let family: DiffusionCheckpoint.Family
    let tokenizers: [CLIPTokenizer]
    let textEncoders: [CLIPTextEncoder]
    /// The denoiser.
    public let unet: UNet2DConditionModel
    let autoencoder: any LatentAutoencoder
    let previewDecoder: TinyAutoencoder?
    /// The checkpoint's `safety_checker`, when it has one.
    let safetyChecker: SafetyChecker?
    let schedulerConfiguration: SchedulerConfiguration
    /// The checkpoint's sampler, or Euler where the checkpoint names one this pipeline lacks.
    public let defaultSampler: SamplerKind

    /// The UNet and text encoders with the last request's LoRAs merged in, kept for the next
    /// request with the same LoRAs and scales (base layers are shared, not copied).
    private let adaptedCache = AdaptedComponents()

    /// The modules a LoRA can adapt, by component (for reading kohya-ss files).
    public var loraModules: [String: Set<String>] {
        var out = ["unet": unet.adaptableModules]
        for (name, encoder) in zip(["text_encoder", "text_encoder_2"], textEncoders) { out[name] = encoder.adaptableModules }
        return out
    }

    /// The components with `loras` merged in (the base ones when there are none).
    func components(with loras: [LoRAUse]) throws -> (unet: UNet2DConditionModel, encoders: [CLIPTextEncoder]) {
        guard !loras.isEmpty else { return (unet, textEncoders) }
        let key = loras.map { "\($0.identity)@\($0.scale)" }.joined(separator: ",")
        if let cached = adaptedCache.get(key) { return cached }
        let pairs = loras.map { ($0.adapter, $0.scale) }
        for use in loras {
            for component in use.adapter.components.keys where !["unet", "text_encoder", "text_encoder_2"].prefix(1 + textEncoders.count).contains(component) {
                throw ModelError(.invalidInput, "LoRA adapts \(component), which this model does not have", status: 422)
            }
        }
        let unetDeltas = try LoRAAdapter.deltas(pairs, component: "unet")
        let adaptedUNet = unetDeltas.isEmpty ? unet : try unet.adapted(unetDeltas)
        let encoders = try zip(["text_encoder", "text_encoder_2"], textEncoders).map { name, encoder in
            let deltas = try LoRAAdapter.deltas(pairs, component: name)
            return deltas.isEmpty ? encoder : try encoder.adapted(deltas)
        }
        adaptedCache.set(key, (adaptedUNet, encoders))
        return (adaptedUNet, encoders)
    }

    /// The most pixels (width × height × images) one request may ask for.
    public static let maximumPixels = 4 * 1024 * 1024

    /// Loads every component.
    /// - Parameters:
    ///   - checkpoint: an opened checkpoint (diffusers folder or single file).
    ///   - pool: the process's compute pool.
    ///   - precision: precision of the convolutions and matrix products.
    ///   - previewDecoder: a TAESD component for previews (and nothing else).
    ///   - clipVocabulary: CLIP's `bpe_simple_vocab_16e6.txt.gz`, for single-file checkpoints
    ///     (which carry no tokenizer).
    /// - Throws: `ModelFormatError` or `ModelError` naming the missing or invalid part.
    public init(checkpoint: DiffusionCheckpoint, pool: ComputePool, precision: ComputePrecision = .fp32,
                previewDecoder: DiffusionCheckpoint.Component? = nil, clipVocabulary: URL? = nil) throws {
        let unetComponent = try checkpoint.component("unet")
        let unetConfig = try UNet2DConditionConfig.decode(unetComponent.config)
        let family = try checkpoint.family ?? DiffusionCheckpoint.family(unetConfig: unetComponent.config) ?? .sd1
        self.family = family
        let encoderNames = family == .sdxl ? ["text_encoder", "text_encoder_2"] : ["text_encoder"]
        let tokenizerNames = family == .sdxl ? ["tokenizer", "tokenizer_2"] : ["tokenizer"]
        tokenizers = try tokenizerNames.map { name in
            // A folder without its tokenizer gets CLIP's vocabulary, padded as the family pads.
            let fallback = CLIPTokenizer.Padding.forTokenizer(name, family: family)
            let source = checkpoint.tokenizers[name] ?? .clipVocabulary(fallback)
            switch source {
            case .folder(let url): return try CLIPTokenizer(folder: url)
            case .clipVocabulary(let padding):
                guard let clipVocabulary else {
                    throw ModelError(.weightsMissing, "\(name): the checkpoint has no tokenizer and no CLIP vocabulary was given")
                }
                return try CLIPTokenizer(openAIMergesGzip: clipVocabulary, padding: padding)
            }
        }
        textEncoders = try encoderNames.map { name in
            let component = try checkpoint.component(name)
            return try CLIPTextEncoder(configuration: CLIPTextConfiguration(json: component.config), weights: component.weights,
                                       pool: pool, projection: name == "text_encoder_2" ? true : nil)
        }
        unet = try UNet2DConditionModel(config: unetConfig, weights: unetComponent.weights, pool: pool, precision: precision)
        let vae = try checkpoint.component("vae")
        if vae.className == "AutoencoderTiny" {
            autoencoder = try TinyAutoencoder(configuration: TinyAutoencoderConfiguration.parse(vae.config), weights: vae.weights,
                                              pool: pool, precision: precision)
        } else {
            autoencoder = try AutoencoderKL(configJSON: vae.config, weights: vae.weights, pool: pool, precision: precision)
        }
        safetyChecker = try checkpoint.components["safety_checker"].map { component in
            // Without a feature extractor the checker takes CLIPImageProcessor's defaults
            // (224 × 224), which is what Stable Diffusion's feature extractor holds.
            try SafetyChecker(configuration: SafetyCheckerConfiguration(json: component.config),
                              preprocessing: checkpoint.featureExtractorConfig.map(CLIPImagePreprocessing.init(json:)) ?? CLIPImagePreprocessing(),
                              weights: component.weights, pool: pool)
        }
        self.previewDecoder = try previewDecoder.map {
            try TinyAutoencoder(configuration: TinyAutoencoderConfiguration.parse($0.config), weights: $0.weights, pool: pool,
                                precision: precision, includeEncoder: false)
        }
        let scheduler = checkpoint.scheduler
        schedulerConfiguration = try scheduler.map { try SchedulerConfiguration(diffusersJSON: $0.config) }
            ?? (family == .sd2 ? SchedulerConfiguration(predictionType: .vPrediction) : .stableDiffusion)
        defaultSampler = scheduler.flatMap { SamplerKind(rawValue: $0.className) } ?? .euler
    }

    /// The size the family was trained at.
    public var defaultSize: (width: Int, height: Int) {
        switch family {
        case .sd1: return (512, 512)
        case .sd2: return schedulerConfiguration.predictionType == .vPrediction ? (768, 768) : (512, 512)
        case .sdxl: return (1024, 1024)
        }
    }

    /// Steps a request gets by default: few for distilled (LCM, trailing-spacing turbo) models.
    public var defaultSteps: Int {
        if unet.takesGuidanceEmbedding || defaultSampler == .lcm { return 4 }
        return schedulerConfiguration.timestepSpacing == .trailing ? 1 : 25
    }

    /// Guidance by default: none for distilled models, 7.5 (SD) or 5 (SDXL) otherwise.
    public var defaultGuidanceScale: Float {
        if unet.takesGuidanceEmbedding || defaultSampler == .lcm || schedulerConfiguration.timestepSpacing == .trailing { return 0 }
        return family == .sdxl ? 5 : 7.5
    }

    /// Bytes of prepared weights.
    public var footprintBytes: Int {
        unet.executor.weightBytes + textEncoders.reduce(0) { $0 + $1.weightBytes } + (safetyChecker?.weightBytes ?? 0)
    }

    /// Whether the checkpoint came with a safety checker (``DiffusionRequest/checkSafety``).
    public var hasSafetyChecker: Bool { safetyChecker != nil }

    /// Checks a request against what the model and this server can do.
    /// - Throws: `ModelError(.invalidInput, status: 422)` naming the field and the reason.
    public func validate(_ request: DiffusionRequest) throws {
        func bad(_ message: String) -> ModelError { ModelError(.invalidInput, message, status: 422) }
        // The autoencoder maps 8 pixels to one latent; the UNet brings odd-sized maps back to
        // their skip connections' sizes, so any multiple of the autoencoder's factor works.
        let unit = max(8, autoencoder.downsamplingFactor)
        for (name, value) in [("width", request.width), ("height", request.height)] {
            guard value % unit == 0 else { throw bad("\(name) must be a multiple of \(unit), got \(value)") }
            guard (unit...2048).contains(value) else { throw bad("\(name) must be between \(unit) and 2048, got \(value)") }
        }
        guard (1...8).contains(request.imageCount) else { throw bad("num_images must be between 1 and 8, got \(request.imageCount)") }
        let pixels = request.width * request.height * request.imageCount
        guard pixels <= Self.maximumPixels else {
            throw bad("\(request.imageCount) images of \(request.width)x\(request.height) need more memory than this server "
                + "allows per request (at most \(Self.maximumPixels) pixels in all)")
        }
        guard (1...150).contains(request.steps) else { throw bad("num_inference_steps must be between 1 and 150, got \(request.steps)") }
        guard request.guidanceScale.isFinite, (0...30).contains(request.guidanceScale) else {
            throw bad("guidance_scale must be between 0 and 30")
        }
        guard request.strength.isFinite, request.strength > 0, request.strength <= 1 else {
            throw bad("strength must be in (0, 1], got \(request.strength)")
        }
        if request.initImage != nil, !autoencoder.canEncode { throw bad("this model cannot encode images") }
        if request.mask != nil, request.initImage == nil { throw bad("a mask needs an image to repaint") }
        if let mask = request.mask, let image = request.initImage, mask.width != image.width || mask.height != image.height {
            throw bad("mask is \(mask.width)x\(mask.height) but the image is \(image.width)x\(image.height)")
        }
        if request.mask == nil, unet.config.inChannels != autoencoder.latentChannels {
            throw bad("this is an inpainting model: it needs image_url and mask_url")
        }
        if let every = request.previewEvery, every < 1 { throw bad("preview interval must be at least 1") }
    }

    /// Generates `imageCount` images.
    /// - Parameters:
    ///   - onStep: called after every denoising step (with a preview when asked for).
    ///   - isCancelled: polled between steps and layers; true ends the run with `CancellationError`.
    /// - Returns: the images, in order.
    public func generate(_ request: DiffusionRequest, onStep: (DiffusionStep) -> Void = { _ in },
                         isCancelled: () -> Bool = { false }) throws -> [Image] {
        try validate(request)
        // The callbacks are only used during this call.
        return try withoutActuallyEscaping(onStep) { onStep in
            try withoutActuallyEscaping(isCancelled) { isCancelled in
                try run(request, onStep: onStep, isCancelled: isCancelled)
            }
        }
    }

    /// ``generate(_:onStep:isCancelled:)``, then, when the request asks for it and the
    /// checkpoint has a safety checker, the check: flagged images are replaced by black ones.
    /// - Returns: the images and, per image, whether the checker flagged it (all false when
    ///   nothing was checked).
    public func generateChecked(_ request: DiffusionRequest, onStep: (DiffusionStep) -> Void = { _ in },
                                isCancelled: () -> Bool = { false }) throws -> (images: [Image], nsfw: [Bool]) {
        let images = try generate(request, onStep: onStep, isCancelled: isCancelled)
        guard request.checkSafety, let safetyChecker else { return (images, Array(repeating: false, count: images.count)) }
        if isCancelled() { throw CancellationError() }
        return try safetyChecker.filter(images)
    }

    private func run(_ request: DiffusionRequest, onStep: @escaping (DiffusionStep) -> Void,
                     isCancelled: @escaping () -> Bool) throws -> [Image] {
        let checkpoint: () throws -> Void = { if isCancelled() { throw CancellationError() } }
        let n = request.imageCount
        let (unet, encoders) = try components(with: request.loras)
        let guided = request.guidanceScale > 1 && !unet.takesGuidanceEmbedding

        // Text conditioning: [negative × n, positive × n] with guidance, else [positive × n].
        let positive = try encode(request.prompt, encoders: encoders)
        var rows = Array(repeating: positive, count: n)
        if guided {
            let negative = family == .sdxl && request.negativePrompt.isEmpty ? positive.zeros() : try encode(request.negativePrompt, encoders: encoders)
            rows = Array(repeating: negative, count: n) + rows
        }
        let context = try Self.stack(rows.map(\.hidden))
        var added: Tensor?
        if unet.takesAddedConditioning {
            let pooled = try Self.stack(rows.compactMap(\.pooled))
            let ids: [Float] = [request.height, request.width, 0, 0, request.height, request.width].map(Float.init)
            added = try unet.addedConditioning(textEmbeds: pooled, timeIDs: Array(repeating: ids, count: rows.count))
        }
        var guidanceEmbedding: Tensor?
        if unet.takesGuidanceEmbedding, let dim = unet.config.timeCondProjDim {
            let w = Array(repeating: (request.guidanceScale - 1) * 1000, count: n)
            guidanceEmbedding = UNet2DConditionModel.sinusoidalEmbedding(w, dimension: dim, flipSinToCos: false, shift: 1)
        }

        let f = autoencoder.downsamplingFactor
        let latentShape = [n, autoencoder.latentChannels, request.height / f, request.width / f]
        let latentCount = latentShape.reduce(1, *)
        var generator = TorchGenerator(seed: request.seed)
        // Image-to-image and inpainting start from the encoded image (diffusers encodes the one
        // image once and repeats its latents); inpainting with strength 1 starts from noise.
        let inpainting = request.mask != nil
        let extraChannels = unet.config.inChannels - autoencoder.latentChannels
        var pixels: Tensor?
        if let image = request.initImage {
            // Resized to the requested size as diffusers does: alpha dropped (`convert("RGB")`),
            // then Pillow's Lanczos on the 8-bit pixels.
            var sized = image
            if image.width != request.width || image.height != request.height {
                sized = try LanczosResample.resize(image.splitAlpha().color, width: request.width, height: request.height)
            }
            pixels = try DiffusionImage.encoderInput(from: [sized])
        }
        func encodeLatents(_ image: Tensor) throws -> Tensor {
            let distribution = try autoencoder.encode(image: image, checkpoint: checkpoint)
            let encoded = distribution.logvar == nil ? distribution.mean
                : try distribution.sample(noise: Tensor(shape: distribution.mean.shape, values: generator.randn(count: distribution.mean.count)))
            let one = try autoencoder.latentScaling.latents(fromEncoded: encoded)
            return try Self.stack(Array(repeating: one, count: n))
        }
        let fromNoise = inpainting && request.strength >= 1
        var initial: Tensor?
        if let pixels, !fromNoise || extraChannels == 0 { initial = try encodeLatents(pixels) }

        let kind = request.sampler ?? defaultSampler
        var noise = generator.randn(count: latentCount)

        // Inpainting's mask at latent resolution (nearest) and, for inpainting UNets, the
        // masked image's latents; both repeated per image (and per guidance half).
        var maskLatent: [Float] = []
        var maskedLatents: [Float] = []
        if let mask = request.mask, let pixels {
            let binary = try Self.binaryMask(mask, width: request.width, height: request.height)
            let masked = Tensor(uninitialized: pixels.shape)
            let plane = request.width * request.height
            for c in 0..<3 {
                for i in 0..<plane { masked.floatPointer[c * plane + i] = binary[i] < 0.5 ? pixels.floatPointer[c * plane + i] : 0 }
            }
            let (h, w) = (request.height / f, request.width / f)
            var small = [Float](repeating: 0, count: h * w)
            for y in 0..<h { for x in 0..<w { small[y * w + x] = binary[(y * f) * request.width + x * f] } }
            maskLatent = Array([[Float]](repeating: small, count: n).joined())
            // Encoded even for a plain UNet, as diffusers does (it draws from the generator).
            maskedLatents = try encodeLatents(masked).toArray()
        }

        let spatial = latentCount / (n * autoencoder.latentChannels)
        let denoise: ([Float], Float) throws -> [Float] = { input, timestep in
            var values = input
            if extraChannels > 0 {
                // [latents, mask, masked-image latents] along the channels, image by image.
                let c = self.autoencoder.latentChannels
                values = []
                values.reserveCapacity(n * (c + 1 + c) * spatial)
                for b in 0..<n {
                    values += input[(b * c * spatial)..<((b + 1) * c * spatial)]
                    values += maskLatent[(b * spatial)..<((b + 1) * spatial)]
                    values += maskedLatents[(b * c * spatial)..<((b + 1) * c * spatial)]
                }
            }
            let sample = Tensor(shape: Shape([n, unet.config.inChannels] + latentShape.dropFirst(2)), values: values)
            let batch = guided ? try Self.stack([sample, sample]) : sample
            let out = try unet(sample: batch, timesteps: Array(repeating: timestep, count: batch.shape[0]),
                               encoderHiddenStates: context, addedConditioning: added, guidanceEmbedding: guidanceEmbedding,
                               checkpoint: checkpoint).toArray()
            guard guided else { return out }
            let half = out.count / 2
            return classifierFreeGuidance(unconditional: Array(out[..<half]), conditional: Array(out[half...]),
                                          scale: request.guidanceScale)
        }
        let previewDecoder = self.previewDecoder
        let progress: (SamplerProgress) -> SamplerDecision = { report in
            var preview: Image?
            if let every = request.previewEvery, let previewDecoder, report.step % every == 0, report.step < report.stepCount {
                let first = Array(report.latents[0..<latentShape.dropFirst().reduce(1, *)])
                let latents = Tensor(shape: Shape([1] + latentShape.dropFirst()), values: first)
                preview = try? DiffusionImage.rgb8(fromDecoded: previewDecoder.decode(latents: latents)).first
            }
            onStep(DiffusionStep(step: report.step, total: report.stepCount, preview: preview))
            return isCancelled() ? .stop : .proceed
        }
        // A plain UNet inpaints by putting the known region back after every step.
        let blend: Blend? = inpainting && extraChannels == 0 ? Blend(mask: maskLatent, image: initial?.toArray() ?? [], noise: noise, channels: autoencoder.latentChannels, spatial: spatial) : nil
        let result = try Self.sample(kind: kind, configuration: schedulerConfiguration, steps: request.steps,
                                     strength: request.initImage == nil ? nil : request.strength, fromNoise: fromNoise,
                                     initial: initial, noise: &noise, generator: &generator, denoise: denoise,
                                     progress: progress, blend: blend)
        guard case .finished(let latents) = result else { throw CancellationError() }
        let decoded = try autoencoder.decode(latents: Tensor(shape: Shape(latentShape), values: latents), checkpoint: checkpoint)
        return try DiffusionImage.rgb8(fromDecoded: decoded)
    }

    /// One prompt's conditioning: hidden states `[1, 77, D]` (SDXL: both encoders' penultimate
    /// layers side by side) and, for SDXL, the second encoder's projected pooled output `[1, P]`.
    struct Conditioning {
        var hidden: Tensor
        var pooled: Tensor?

        func zeros() -> Conditioning {
            Conditioning(hidden: Tensor(zeros: hidden.shape), pooled: pooled.map { Tensor(zeros: $0.shape) })
        }
    }

    func encode(_ prompt: String, encoders: [CLIPTextEncoder]) throws -> Conditioning {
        var hidden: [Tensor] = []
        var pooled: Tensor?
        for (tokenizer, encoder) in zip(tokenizers, encoders) {
            let selection: CLIPHiddenStateSelection = family == .sdxl ? .stableDiffusionXL(clipSkip: nil) : .stableDiffusion(clipSkip: nil)
            let encoding = try encoder.encode(tokens: [tokenizer(prompt)], selection: selection)
            hidden.append(encoding.promptEmbeddings)
            pooled = encoding.pooled
        }
        return Conditioning(hidden: hidden.count == 1 ? hidden[0] : try Self.concatenateFeatures(hidden),
                            pooled: family == .sdxl ? pooled : nil)
    }

    /// Batches concatenated: tensors `[b_i, ...]` with equal trailing extents become
    /// `[Σ b_i, ...]`.
    static func stack(_ tensors: [Tensor]) throws -> Tensor {
        guard let first = tensors.first, first.shape.rank >= 1 else { throw GraphError(.invalidInput, "nothing to stack") }
        let trailing = Array(first.shape.dims.dropFirst())
        var batch = 0
        for t in tensors {
            guard Array(t.shape.dims.dropFirst()) == trailing else {
                throw GraphError(.invalidInput, "stacking \(t.shape) with \(first.shape)")
            }
            batch += t.shape[0]
        }
        let out = Tensor(uninitialized: Shape([batch] + trailing))
        var offset = 0
        for t in tensors {
            (out.floatPointer + offset).update(from: t.floatPointer, count: t.count)
            offset += t.count
        }
        return out
    }

    /// `[1, T, D1]`, `[1, T, D2]` → `[1, T, D1 + D2]` (SDXL's two encoders side by side).
    static func concatenateFeatures(_ tensors: [Tensor]) throws -> Tensor {
        let t = tensors[0].shape.dims[1]
        let widths = tensors.map { $0.shape.dims[2] }
        let total = widths.reduce(0, +)
        let out = Tensor(uninitialized: Shape([1, t, total]))
        for row in 0..<t {
            var offset = 0
            for (k, tensor) in tensors.enumerated() {
                (out.floatPointer + row * total + offset).update(from: tensor.floatPointer + row * widths[k], count: widths[k])
                offset += widths[k]
            }
        }
        return out
    }

    /// Inpainting with a plain UNet: the mask (1 = repaint) and the image's clean latents.
    struct Blend {
        /// One value per latent pixel and image (shared by the channels).
        var mask: [Float]
        var image: [Float]
        var noise: [Float]
        var channels: Int
        var spatial: Int

        /// `(1 - mask) · image noised to step `next` + mask · latents` (the last step keeps the
        /// clean image).
        func apply<S: Scheduler>(_ latents: [Float], next: Int, scheduler: S) -> [Float] {
            let known = next < scheduler.timesteps.count ? scheduler.addNoise(to: image, noise: noise, atStep: next) : image
            return (0..<latents.count).map { i in
                let m = mask[(i / (channels * spatial)) * spatial + i % spatial]
                return (1 - m) * known[i] + m * latents[i]
            }
        }
    }

    /// Runs the sampler `kind` from `noise` (text-to-image, or inpainting at strength 1) or from
    /// `initial` latents noised to where `strength` starts the schedule (image-to-image).
    static func sample(kind: SamplerKind, configuration: SchedulerConfiguration, steps: Int, strength: Float?, fromNoise: Bool,
                       initial: Tensor?, noise: inout [Float], generator: inout TorchGenerator,
                       denoise: ([Float], Float) throws -> [Float], progress: (SamplerProgress) -> SamplerDecision,
                       blend: Blend?) throws -> SamplerResult {
        func run<S: Scheduler>(_ scheduler: S, noise: [Float]) throws -> SamplerResult {
            var scheduler = scheduler
            var latents: [Float]
            if let strength {
                let start = min(max(steps - min(Int(Float(steps) * strength), steps), 0), steps - 1)
                scheduler.skip(to: start)
                if fromNoise || initial == nil {
                    latents = noise.map { $0 * scheduler.initNoiseSigma }
                } else {
                    latents = scheduler.addNoise(to: initial!.toArray(), noise: noise, atStep: start)
                }
            } else {
                latents = noise.map { $0 * scheduler.initNoiseSigma }
            }
            return try runSampler(&scheduler, latents: latents, generator: &generator, denoise: denoise, progress: progress,
                                  adjust: { latents, next, scheduler in blend?.apply(latents, next: next, scheduler: scheduler) ?? latents })
        }
        switch kind {
        case .euler: return try run(EulerDiscreteScheduler(configuration: configuration, steps: steps), noise: noise)
        case .eulerAncestral: return try run(EulerAncestralDiscreteScheduler(configuration: configuration, steps: steps), noise: noise)
        case .dpmSolverMultistep: return try run(DPMSolverMultistepScheduler(configuration: configuration, steps: steps), noise: noise)
        case .ddim: return try run(DDIMScheduler(configuration: configuration, steps: steps), noise: noise)
        case .lcm: return try run(LCMScheduler(configuration: configuration, steps: steps), noise: noise)
        }
    }

    /// diffusers' mask preprocessing: grey levels as PIL's `convert("L")` computes them,
    /// resized to the output size (nearest), binarized at half intensity: 1 repaints.
    static func binaryMask(_ mask: Image, width: Int, height: Int) throws -> [Float] {
        var grey = [Int](repeating: 0, count: mask.width * mask.height)
        let max = mask.bitDepth.maxValue
        for y in 0..<mask.height {
            for x in 0..<mask.width {
                let v: Int
                if mask.colorChannels == 3 {
                    let r = mask.sample(x: x, y: y, channel: 0) * 255 / max, g = mask.sample(x: x, y: y, channel: 1) * 255 / max
                    let b = mask.sample(x: x, y: y, channel: 2) * 255 / max
                    v = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
                } else {
                    v = mask.sample(x: x, y: y, channel: 0) * 255 / max
                }
                grey[y * mask.width + x] = v
            }
        }
        var out = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let sy = y * mask.height / height, sx = x * mask.width / width
                out[y * width + x] = Float(grey[sy * mask.width + sx]) / 255 >= 0.5 ? 1 : 0
            }
        }
        return out
    }
}

extension CLIPTokenizer.Padding {
    /// How a family's tokenizer pads: OpenCLIP's tokenizers (SD 2.x's only one, SDXL's second)
    /// with `!`, OpenAI CLIP's with the end-of-text token.
    static func forTokenizer(_ name: String, family: DiffusionCheckpoint.Family) -> CLIPTokenizer.Padding {
        family == .sd2 || name == "tokenizer_2" ? .exclamation : .endOfText
    }
}

/// One set of adapted components, behind a lock (requests may come from any thread).
final class AdaptedComponents: @unchecked Sendable {
    private let lock = NSLock()
    private var entry: (key: String, unet: UNet2DConditionModel, encoders: [CLIPTextEncoder])?

    func get(_ key: String) -> (unet: UNet2DConditionModel, encoders: [CLIPTextEncoder])? {
        lock.lock(); defer { lock.unlock() }
        guard let entry, entry.key == key else { return nil }
        return (entry.unet, entry.encoders)
    }

    func set(_ key: String, _ value: (unet: UNet2DConditionModel, encoders: [CLIPTextEncoder])) {
        lock.lock(); defer { lock.unlock() }
        entry = (key, value.unet, value.encoders)
    }
}
