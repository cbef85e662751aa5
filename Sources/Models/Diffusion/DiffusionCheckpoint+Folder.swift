import Foundation
import ModelFormats
import ModelKit

extension DiffusionCheckpoint {
    /// The model classes whose folders are opened; others named by `model_index.json` (an
    /// image encoder for IP adapters) are left to code that wants them.
    static let modelClasses: Set<String> = [
        "UNet2DConditionModel", "AutoencoderKL", "AutoencoderTiny", "CLIPTextModel", "CLIPTextModelWithProjection",
        "StableDiffusionSafetyChecker",
    ]
    /// The image processor classes whose `preprocessor_config.json` is read (the safety
    /// checker's `feature_extractor`; `CLIPFeatureExtractor` is the processor's older name).
    static let imageProcessorClasses: Set<String> = ["CLIPImageProcessor", "CLIPFeatureExtractor", "CLIPImageProcessorFast"]
    /// The most shard files one component's index may name.
    static let maxShards = 1_000

    /// Opens a diffusers pipeline folder: `model_index.json` names the components and their
    /// classes; each model folder holds `config.json` and safetensors weights
    /// (`diffusion_pytorch_model.safetensors` or `model.safetensors`, sharded through
    /// `*.safetensors.index.json`, or a variant such as `.fp16.safetensors`); tokenizer folders
    /// are located for ``CLIPTokenizer/init(folder:)``; `scheduler/scheduler_config.json` is read.
    /// Weights are memory-mapped, not read.
    /// - Parameters:
    ///   - folder: the pipeline folder.
    ///   - variant: the weights variant to read (`"fp16"`), falling back to the plain files for
    ///     a component without it; nil reads the plain files when present, else the `fp16`,
    ///     else the `bf16` variant.
    /// - Throws: `ModelError(.weightsInvalid)` naming the missing folder or file, or the
    ///   unreadable configuration; `ModelFormatError` for a malformed safetensors file.
    public init(folder: URL, variant: String? = nil) throws {
        let indexURL = folder.appendingPathComponent("model_index.json")
        guard let indexData = try? Data(contentsOf: indexURL) else {
            throw ModelError(.weightsInvalid, "\(folder.path) has no readable model_index.json (not a diffusers pipeline folder)")
        }
        let index = try Self.jsonObject(indexData, "model_index.json")
        var components: [String: Component] = [:]
        var tokenizers: [String: TokenizerSource] = [:]
        var scheduler: Scheduler?
        var featureExtractor: Data?
        for (name, value) in index where !name.hasPrefix("_") {
            // Components are `[library, class]`; `[null, null]` marks one the pipeline goes without,
            // and plain members (`requires_safety_checker`) are options.
            guard let pair = value as? [Any], pair.count == 2, let className = pair[1] as? String else { continue }
            let directory = folder.appendingPathComponent(name, isDirectory: true)
            let isModel = Self.modelClasses.contains(className)
            let isTokenizer = className.hasSuffix("Tokenizer") || className.hasSuffix("TokenizerFast")
            let isScheduler = className.hasSuffix("Scheduler")
            let isImageProcessor = name == "feature_extractor" && Self.imageProcessorClasses.contains(className)
            guard isModel || isTokenizer || isScheduler || isImageProcessor else { continue }
            guard Self.isSafeName(name), Self.isDirectory(directory) else {
                throw ModelError(.weightsInvalid, "model_index.json lists \(name) (\(className)) but \(folder.lastPathComponent) has no \(name)/ folder")
            }
            if isImageProcessor {
                featureExtractor = try Self.configData(directory, "preprocessor_config.json", component: name)
            } else if isTokenizer {
                tokenizers[name] = .folder(directory)
            } else if isScheduler {
                scheduler = Scheduler(className: className, config: try Self.configData(directory, "scheduler_config.json", component: name))
            } else if className == "StableDiffusionSafetyChecker" {
                // The checker is optional: one that cannot be opened (only pickled weights, as
                // some repositories ship it) leaves the pipeline without a checker rather than
                // failing it; the endpoint then reports that none is installed.
                components[name] = try? Self.component(directory, name: name, className: className, variant: variant)
            } else {
                components[name] = try Self.component(directory, name: name, className: className, variant: variant)
            }
        }
        let family = try components["unet"].flatMap { try Self.family(unetConfig: $0.config) }
        self.init(pipelineClass: index["_class_name"] as? String ?? "DiffusionPipeline", family: family, components: components,
                  tokenizers: tokenizers, scheduler: scheduler, unusedNames: [], featureExtractorConfig: featureExtractor)
    }

    /// Opens what `url` holds: a diffusers folder (``init(folder:variant:)``, with
    /// `options.family` replacing the inferred family when given) or a single file
    /// (``init(singleFile:options:)``).
    /// - Parameters:
    ///   - url: a folder or a `.safetensors` file.
    ///   - options: the single file's options; only `family` applies to a folder.
    ///   - variant: the folder's weights variant.
    /// - Throws: as the initializer for that layout.
    public init(contentsOf url: URL, options: SingleFileOptions = SingleFileOptions(), variant: String? = nil) throws {
        guard Self.isDirectory(url) else {
            try self.init(singleFile: url, options: options)
            return
        }
        let folder = try DiffusionCheckpoint(folder: url, variant: variant)
        self.init(pipelineClass: folder.pipelineClass, family: options.family ?? folder.family, components: folder.components,
                  tokenizers: folder.tokenizers, scheduler: folder.scheduler, unusedNames: folder.unusedNames,
                  featureExtractorConfig: folder.featureExtractorConfig)
    }

    /// The family a diffusers UNet configuration belongs to: SDXL's `text_time` additional
    /// embedding, else SD 2.x's 1024-wide or SD 1.x's 768-wide cross-attention; nil for others.
    /// - Throws: `ModelError(.weightsInvalid)` when the configuration is not a JSON object.
    public static func family(unetConfig: Data) throws -> Family? {
        let object = try jsonObject(unetConfig, "the unet configuration")
        if object["addition_embed_type"] as? String == "text_time" { return .sdxl }
        switch object["cross_attention_dim"] as? Int {
        case 1024: return .sd2
        case 768: return .sd1
        default: return nil
        }
    }

    /// Opens one diffusers component folder on its own (`config.json` and safetensors weights, as
    /// a standalone TAESD or VAE repository has them); the class comes from the configuration's
    /// `_class_name` (diffusers) or `architectures` (transformers).
    /// - Parameters:
    ///   - folder: the component's folder; its name becomes the component's name.
    ///   - variant: as for ``init(folder:variant:)``.
    /// - Throws: `ModelError(.weightsInvalid)` naming the missing or unreadable file.
    public static func component(folder: URL, variant: String? = nil) throws -> Component {
        let name = folder.lastPathComponent
        let object = try jsonObject(configData(folder, "config.json", component: name), "\(name)/config.json")
        guard let className = (object["_class_name"] as? String) ?? (object["architectures"] as? [String])?.first else {
            throw ModelError(.weightsInvalid, "\(name)/config.json names no _class_name or architectures")
        }
        return try component(folder, name: name, className: className, variant: variant)
    }

    static func component(_ directory: URL, name: String, className: String, variant: String?) throws -> Component {
        let config = try configData(directory, "config.json", component: name)
        let weights = try DiffusionWeights(component: name, files: weightFiles(in: directory, component: name, variant: variant))
        return Component(name: name, className: className, config: config,
                         weights: textEncoderWeights(weights, className: className, component: name))
    }

    /// A component's configuration file, checked to be a JSON object and kept as bytes.
    static func configData(_ directory: URL, _ file: String, component: String) throws -> Data {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(file)) else {
            throw ModelError(.weightsInvalid, "\(component)/\(file) is missing or unreadable")
        }
        _ = try jsonObject(data, "\(component)/\(file)")
        return data
    }

    /// The safetensors files holding a component's weights, single or sharded, for the variant.
    static func weightFiles(in directory: URL, component: String, variant: String?) throws -> [SafetensorsFile] {
        if let variant, !isSafeName(variant) || variant.contains(".") {
            throw ModelError(.weightsInvalid, "weights variant \"\(variant)\" is not a plain name")
        }
        // Like diffusers, a component without the requested variant falls back to its plain files.
        let variants: [String?] = variant.map { [$0, nil] } ?? [nil, "fp16", "bf16"]
        for variant in variants {
            for base in ["diffusion_pytorch_model", "model"] {
                let single = variant.map { "\(base).\($0).safetensors" } ?? "\(base).safetensors"
                if FileManager.default.fileExists(atPath: directory.appendingPathComponent(single).path) {
                    return [try SafetensorsFile(contentsOf: directory.appendingPathComponent(single), otherElementTypes: .skip)]
                }
                let index = variant.map { "\(base).safetensors.index.\($0).json" } ?? "\(base).safetensors.index.json"
                if FileManager.default.fileExists(atPath: directory.appendingPathComponent(index).path) {
                    return try shards(directory, index: index, component: component)
                }
            }
        }
        let present = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let pickled = present.filter { $0.hasSuffix(".bin") || $0.hasSuffix(".ckpt") || $0.hasSuffix(".pt") }.sorted()
        let wanted = "diffusion_pytorch_model.safetensors or model.safetensors (nor a sharded index or "
            + (variant.map { "the \($0) variant)" } ?? "an fp16 or bf16 variant)")
        throw ModelError(.weightsInvalid, "\(component)/ has no \(wanted)"
            + (pickled.isEmpty ? "" : "; only safetensors weights are read, not \(pickled.joined(separator: ", "))"))
    }

    /// The files a sharded index names, each tensor checked to be in the file the index puts it in.
    static func shards(_ directory: URL, index: String, component: String) throws -> [SafetensorsFile] {
        let what = "\(component)/\(index)"
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(index)) else {
            throw ModelError(.weightsInvalid, "\(what) is unreadable")
        }
        guard let map = try jsonObject(data, what)["weight_map"] as? [String: String] else {
            throw ModelError(.weightsInvalid, "\(what) has no weight_map of tensor names to files")
        }
        let names = Set(map.values)
        guard names.count <= maxShards else { throw ModelError(.weightsInvalid, "\(what) names \(names.count) files, more than \(maxShards)") }
        var files: [String: SafetensorsFile] = [:]
        for name in names.sorted() {
            guard isSafeName(name) else { throw ModelError(.weightsInvalid, "\(what) names the file \"\(name)\", which is not in \(component)/") }
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ModelError(.weightsInvalid, "\(what) names \(name), which \(component)/ lacks")
            }
            files[name] = try SafetensorsFile(contentsOf: url, otherElementTypes: .skip)
        }
        for (tensor, file) in map.sorted(by: { $0.key < $1.key }) {
            guard let shard = files[file], shard.entries[tensor] != nil || shard.skipped[tensor] != nil else {
                throw ModelError(.weightsInvalid, "\(what) puts tensor \(tensor) in \(file), which lacks it")
            }
        }
        return names.sorted().compactMap { files[$0] }
    }

    /// A name that stays inside its folder: one path component, not `.` or `..`.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\\") && !name.contains("\0")
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

extension DiffusionCheckpoint {
    /// The checkpoint with the safety checker of another folder (single files carry none; the
    /// one Stable Diffusion published is a diffusers `safety_checker` component), as
    /// ``safetyChecker(folder:)`` reads it.
    /// - Throws: as ``safetyChecker(folder:)``.
    public func withSafetyChecker(folder: URL) throws -> DiffusionCheckpoint {
        let checker = try Self.safetyChecker(folder: folder)
        var components = components
        components["safety_checker"] = checker.component
        return DiffusionCheckpoint(pipelineClass: pipelineClass, family: family, components: components, tokenizers: tokenizers,
                                   scheduler: scheduler, unusedNames: unusedNames,
                                   featureExtractorConfig: checker.preprocessing ?? featureExtractorConfig)
    }

    /// A safety checker on its own.
    /// - Parameter folder: a `StableDiffusionSafetyChecker` component folder (`config.json`,
    ///   safetensors weights), or a diffusers pipeline folder holding `safety_checker/`.
    /// - Returns: the component (named `safety_checker`) and the image preprocessing of a
    ///   `feature_extractor/preprocessor_config.json` inside or beside it, when there is one
    ///   (the checker then takes CLIP's 224 × 224 defaults).
    /// - Throws: `ModelError(.weightsInvalid)` naming the folder when it holds no such checker or
    ///   its files do not open.
    public static func safetyChecker(folder: URL) throws -> (component: Component, preprocessing: Data?) {
        let nested = folder.appendingPathComponent("safety_checker", isDirectory: true)
        let directory = isDirectory(nested) ? nested : folder
        guard isDirectory(directory) else { throw ModelError(.weightsInvalid, "\(folder.path) is not a folder") }
        // A pipeline folder's model_index.json names the class; a component folder's config does.
        let index = (try? Data(contentsOf: folder.appendingPathComponent("model_index.json"))).flatMap { try? jsonObject($0, "model_index.json") }
        let found = if directory != folder, let listed = (index?["safety_checker"] as? [Any])?.last as? String {
            try component(directory, name: "safety_checker", className: listed, variant: nil)
        } else {
            try component(folder: directory)
        }
        guard found.className == "StableDiffusionSafetyChecker" else {
            throw ModelError(.weightsInvalid, "\(directory.path) holds a \(found.className), not a StableDiffusionSafetyChecker")
        }
        let candidates = [folder, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("feature_extractor", isDirectory: true) }
        let preprocessing = try candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("preprocessor_config.json").path) }
            .map { try configData($0, "preprocessor_config.json", component: "feature_extractor") }
        let renamed = Component(name: "safety_checker", className: found.className, config: found.config, weights: found.weights)
        return (renamed, preprocessing)
    }
}
