// Original single-file Stable Diffusion checkpoints, read as diffusers' from_single_file reads them:
// infer_diffusers_model_type for the family, _legacy_load_scheduler for the prediction type.
import Foundation
import ModelFormats
import ModelKit

extension DiffusionCheckpoint {
    /// Choices a user makes for a single-file checkpoint where the file does not tell.
    public struct SingleFileOptions: Sendable {
        /// The family; nil detects it from the tensors.
        public var family: Family?
        /// `"epsilon"` or `"v_prediction"`; nil detects it (see ``predictionType(names:metadata:family:)``).
        public var predictionType: String?
        /// Component name (`unet`, `vae`, `text_encoder`, `text_encoder_2`, `scheduler`) to the
        /// `config.json` that replaces the family's standard one.
        public var configs: [String: Data]

        /// Options; every choice defaults to detection and the standard configuration.
        public init(family: Family? = nil, predictionType: String? = nil, configs: [String: Data] = [:]) {
            self.family = family
            self.predictionType = predictionType
            self.configs = configs
        }
    }

    /// Tensor names diffusers reads to tell the layouts apart (`CHECKPOINT_KEY_NAMES`).
    enum DetectionKey {
        static let unetInput = "model.diffusion_model.input_blocks.0.0.weight"
        static let v2CrossAttention = "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"
        static let xlBase = "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias"
        static let xlRefiner = "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias"
        static let upscale = "model.diffusion_model.input_blocks.10.0.skip_connection.bias"
        static let playground = "edm_mean"
    }

    /// SD 2.x files keep OpenCLIP's last layer and projection, which its diffusers text encoder
    /// (23 layers, no projection) drops (`SD_2_TEXT_ENCODER_KEYS_TO_IGNORE`).
    static let sd2TextEncoderIgnored: Set<String> = {
        let layer = "cond_stage_model.model.transformer.resblocks.23."
        return Set(["attn.in_proj_bias", "attn.in_proj_weight", "attn.out_proj.bias", "attn.out_proj.weight", "ln_1.bias",
                    "ln_1.weight", "ln_2.bias", "ln_2.weight", "mlp.c_fc.bias", "mlp.c_fc.weight", "mlp.c_proj.bias",
                    "mlp.c_proj.weight"].map { layer + $0 } + ["cond_stage_model.model.text_projection"])
    }()

    /// Opens an original single-file checkpoint (`.safetensors`, memory-mapped; F32, F16 or BF16,
    /// integer buffers skipped).
    /// - Parameters:
    ///   - url: the file.
    ///   - options: family, prediction type and configurations where detection and the standard
    ///     ones do not fit.
    /// - Throws: `ModelError(.weightsInvalid)` for a pickled checkpoint, a layout that is not
    ///   SD 1.x, SD 2.x or SDXL, or an unreadable configuration; `ModelFormatError` for a
    ///   malformed file.
    public init(singleFile url: URL, options: SingleFileOptions = SingleFileOptions()) throws {
        if ["ckpt", "pt", "pth", "bin"].contains(url.pathExtension.lowercased()) {
            throw ModelError(.weightsInvalid, "\(url.lastPathComponent) is a pickled checkpoint; only .safetensors files are read")
        }
        let file = try SafetensorsFile(contentsOf: url, otherElementTypes: .skip)
        let weights = try DiffusionWeights(component: file.name, files: [file])
        try self.init(singleFile: weights, metadata: file.metadata, skippedNames: Array(file.skipped.keys), options: options)
    }

    /// Opens a single-file checkpoint's tensors already at hand (for tests and for callers that
    /// assemble them).
    /// - Parameters:
    ///   - weights: the checkpoint's tensors under their original names.
    ///   - metadata: the safetensors `__metadata__` (read for `modelspec.prediction_type`).
    ///   - options: see ``SingleFileOptions``.
    /// - Throws: as ``init(singleFile:options:)``.
    public init(singleFile weights: DiffusionWeights, metadata: [String: String] = [:], options: SingleFileOptions = SingleFileOptions()) throws {
        try self.init(singleFile: weights, metadata: metadata, skippedNames: [], options: options)
    }

    init(singleFile weights: DiffusionWeights, metadata: [String: String], skippedNames: [String], options: SingleFileOptions) throws {
        let family = try options.family ?? Self.family(of: weights)
        let standard = Self.standardPipeline(family)
        let names = weights.names
        var components: [String: Component] = [:]
        var used = Set<String>()
        for (name, standardClass, standardConfig) in standard.components {
            var config = options.configs[name] ?? Data(standardConfig.utf8)
            let object = try Self.jsonObject(config, "the \(name) configuration")
            let className = (object["_class_name"] as? String) ?? (object["architectures"] as? [String])?.first ?? standardClass
            let map: KeyMap
            switch name {
            case "unet":
                if options.configs[name] == nil, let input = weights.shape(DetectionKey.unetInput), input.count == 4,
                   let output = weights.shape("model.diffusion_model.out.2.weight"), output.count == 4 {
                    // Inpainting UNets take 9 input channels; the weights say which this is.
                    config = try Self.patched(config, ["in_channels": input[1], "out_channels": output[0]], "the unet configuration")
                }
                let labelEmbedding: String? = switch (object["addition_embed_type"] as? String, object["class_embed_type"] as? String) {
                case ("text_time", _): "add_embedding"
                case (_, "projection"?), (_, "timestep"?): "class_embedding"
                default: nil
                }
                let layersPerBlock = (object["layers_per_block"] as? Int) ?? 2
                guard (1...64).contains(layersPerBlock) else {
                    throw ModelError(.weightsInvalid, "the unet configuration's layers_per_block \(layersPerBlock) is outside 1...64")
                }
                map = Self.unetKeyMap(names: names, layersPerBlock: layersPerBlock, labelEmbedding: labelEmbedding)
            case "vae":
                let blocks = (object["up_block_types"] as? [Any])?.count ?? (object["block_out_channels"] as? [Any])?.count ?? 1
                let prefix = names.contains(where: { $0.hasPrefix("vae.") }) ? "vae." : "first_stage_model."
                map = Self.vaeKeyMap(names: names, prefix: prefix, blocks: blocks, shape: { weights.shape($0) })
            case "text_encoder" where family == .sd2:
                map = Self.openCLIPKeyMap(names: names, prefix: "cond_stage_model.model.", textModelPrefix: className != "CLIPTextModel",
                                          ignoring: Self.sd2TextEncoderIgnored)
            case "text_encoder":
                let prefix = family == .sdxl ? "conditioner.embedders.0.transformer." : "cond_stage_model.transformer."
                map = Self.clipKeyMap(names: names, prefix: prefix, textModelPrefix: className != "CLIPTextModel")
            default:  // SDXL's text_encoder_2
                map = Self.openCLIPKeyMap(names: names, prefix: "conditioner.embedders.1.model.", textModelPrefix: className != "CLIPTextModel")
            }
            // A file without a component's tensors (a UNet-only file) lacks that component.
            guard !map.isEmpty else { continue }
            used.formUnion(map.values.map(\.name))
            components[name] = Component(name: name, className: className, config: config,
                                         weights: DiffusionWeights(component: name, source: weights, map: map))
        }
        guard components["unet"] != nil else {
            throw ModelError(.weightsInvalid, "\(weights.component): no tensor maps to the \(family.rawValue) UNet")
        }

        let predictionType = options.predictionType ?? Self.predictionType(names: Set(names + skippedNames), metadata: metadata, family: family)
        guard predictionType == "epsilon" || predictionType == "v_prediction" else {
            throw ModelError(.weightsInvalid, "prediction type \"\(predictionType)\" is neither epsilon nor v_prediction")
        }
        var schedulerConfig = options.configs["scheduler"] ?? Data(standard.scheduler.config.utf8)
        schedulerConfig = try Self.patched(schedulerConfig, ["prediction_type": predictionType], "the scheduler configuration")
        let schedulerClass = (try Self.jsonObject(schedulerConfig, "the scheduler configuration")["_class_name"] as? String) ?? standard.scheduler.className

        self.init(pipelineClass: standard.pipelineClass, family: family, components: components,
                  tokenizers: standard.tokenizers.mapValues { .clipVocabulary($0) },
                  scheduler: Scheduler(className: schedulerClass, config: schedulerConfig),
                  unusedNames: Set(names).subtracting(used).union(skippedNames).sorted())
    }

    /// A standalone autoencoder file (a replacement VAE such as `sdxl_vae.safetensors`) in
    /// diffusers' layout (`decoder.up_blocks.…`) or the original one (`decoder.up.…`, bare or
    /// under `first_stage_model.`), as an `AutoencoderKL` component named `vae`.
    /// - Parameters:
    ///   - url: the `.safetensors` file.
    ///   - config: the autoencoder's `config.json`; nil takes SD 1.x's (SD 2.x's and SDXL's have
    ///     the same layers and differ in `scaling_factor`, which a caller then gives).
    /// - Throws: `ModelError(.weightsInvalid)` when the file holds no autoencoder tensors or the
    ///   configuration is unreadable; `ModelFormatError` for a malformed file.
    public static func autoencoder(singleFile url: URL, config: Data? = nil) throws -> Component {
        let file = try SafetensorsFile(contentsOf: url, otherElementTypes: .skip)
        return try autoencoder(DiffusionWeights(component: file.name, files: [file]), config: config)
    }

    static func autoencoder(_ weights: DiffusionWeights, config: Data?) throws -> Component {
        let standard = standardPipeline(.sd1).components.first { $0.name == "vae" }!
        let config = config ?? Data(standard.config.utf8)
        let object = try jsonObject(config, "the vae configuration")
        let names = weights.names
        if names.contains(where: { $0.hasPrefix("decoder.up_blocks.") || $0.hasPrefix("encoder.down_blocks.") }) {
            return Component(name: "vae", className: standard.className, config: config, weights: weights)
        }
        let blocks = (object["up_block_types"] as? [Any])?.count ?? (object["block_out_channels"] as? [Any])?.count ?? 1
        let prefix = ["first_stage_model.", "vae."].first { p in names.contains { $0.hasPrefix(p) } } ?? ""
        let map = vaeKeyMap(names: names, prefix: prefix, blocks: blocks, shape: { weights.shape($0) })
        guard !map.isEmpty else {
            throw ModelError(.weightsInvalid, "\(weights.component) holds no autoencoder tensors (no decoder.up_blocks or decoder.up names)")
        }
        return Component(name: "vae", className: standard.className, config: config,
                         weights: DiffusionWeights(component: "vae", source: weights, map: map))
    }

    /// The family of an original single-file checkpoint, told apart by the tensors diffusers'
    /// `infer_diffusers_model_type` reads: SD 2.x by its 1024-wide cross-attention, SDXL by its
    /// second (OpenCLIP) text encoder, SD 1.x otherwise.
    /// - Throws: `ModelError(.weightsInvalid)` for a file that is not a Stable Diffusion UNet
    ///   checkpoint, or one of the layouts not served (SDXL refiner, x4 upscaler, Playground).
    public static func family(of weights: DiffusionWeights) throws -> Family {
        guard weights.contains(DetectionKey.unetInput) else {
            throw ModelError(.weightsInvalid, "\(weights.component) is not an original Stable Diffusion checkpoint: it has no \(DetectionKey.unetInput)")
        }
        if weights.shape(DetectionKey.v2CrossAttention)?.last == 1024 { return .sd2 }
        if weights.contains(DetectionKey.playground) {
            throw ModelError(.weightsInvalid, "\(weights.component) is a Playground v2.5 checkpoint (EDM), which is not supported")
        }
        if weights.contains(DetectionKey.xlBase) { return .sdxl }
        if weights.contains(DetectionKey.xlRefiner) {
            throw ModelError(.weightsInvalid, "\(weights.component) is an SDXL refiner checkpoint, which is not supported")
        }
        if weights.contains(DetectionKey.upscale) {
            throw ModelError(.weightsInvalid, "\(weights.component) is a Stable Diffusion x4 upscaler checkpoint, which is not supported")
        }
        return .sd1
    }

    /// The prediction type a single file implies: a `v_pred` marker tensor (as ComfyUI saves) or
    /// `modelspec.prediction_type` metadata when present, else diffusers' rule: v-prediction for
    /// SD 2.x (its 768 models; SD 2.x base and SD-Turbo need the option), epsilon otherwise.
    public static func predictionType(names: Set<String>, metadata: [String: String], family: Family) -> String {
        if names.contains("v_pred") { return "v_prediction" }
        switch metadata["modelspec.prediction_type"]?.lowercased() {
        case "v", "v_prediction", "v-prediction": return "v_prediction"
        case "epsilon", "eps": return "epsilon"
        default: return family == .sd2 ? "v_prediction" : "epsilon"
        }
    }
}
