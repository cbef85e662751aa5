// A Stable Diffusion pipeline's stored parts, read the way diffusers' `DiffusionPipeline.from_pretrained`
// (a diffusers folder) and `from_single_file` (loaders/single_file_utils.py) read them.
import Foundation
import ModelKit

/// The components of a Stable Diffusion checkpoint as diffusers names them (`unet`, `vae`,
/// `text_encoder`, `text_encoder_2`, `tokenizer`, `tokenizer_2`, `scheduler`, and a folder's
/// optional `safety_checker` with its `feature_extractor`): each model's class,
/// its diffusers `config.json` as raw bytes (the component decodes its own configuration), and its
/// tensors under diffusers' names, whatever layout the user's files have.
///
/// Two layouts open:
/// - a diffusers folder (``init(folder:variant:)``): `model_index.json` and one folder per
///   component;
/// - an original single-file checkpoint of SD 1.x, SD 2.x or SDXL
///   (``init(singleFile:options:)``): the family is detected from the tensors, the configuration
///   is the family's standard one, and key maps present the tensors under diffusers' names.
///
/// Text encoders appear as the current `transformers` classes name their parameters:
/// `CLIPTextModel` without the `text_model.` prefix (older files that have it are stripped, as
/// `transformers` 5 does when loading), `CLIPTextModelWithProjection` with it, plus
/// `text_projection.weight`.
public struct DiffusionCheckpoint: Sendable {
    /// The Stable Diffusion generations whose single-file layouts are understood.
    public enum Family: String, Sendable, Hashable, CaseIterable, Codable {
        /// Stable Diffusion 1.x: CLIP ViT-L/14 text encoder, cross-attention width 768.
        case sd1
        /// Stable Diffusion 2.x (and SD-Turbo): OpenCLIP ViT-H/14, cross-attention width 1024.
        case sd2
        /// Stable Diffusion XL base (and Turbo, Lightning): CLIP ViT-L/14 and OpenCLIP ViT-bigG/14.
        case sdxl
    }

    /// One model component.
    public struct Component: Sendable {
        /// The component's name in the pipeline (`"unet"`, `"text_encoder_2"`).
        public let name: String
        /// The diffusers or transformers class (`"UNet2DConditionModel"`, `"AutoencoderKL"`,
        /// `"AutoencoderTiny"`, `"CLIPTextModel"`, `"CLIPTextModelWithProjection"`,
        /// `"StableDiffusionSafetyChecker"`).
        public let className: String
        /// The component's `config.json`, for the component to decode.
        public let config: Data
        /// The tensors under diffusers' names.
        public let weights: DiffusionWeights
    }

    /// The scheduler's class and `scheduler_config.json`.
    public struct Scheduler: Sendable {
        /// The diffusers class (`"EulerDiscreteScheduler"`, `"PNDMScheduler"`).
        public let className: String
        /// The scheduler's configuration (`beta_schedule`, `prediction_type`, ...).
        public let config: Data
    }

    /// Where a tokenizer's vocabulary comes from.
    public enum TokenizerSource: Sendable, Equatable {
        /// A diffusers `tokenizer/` folder (`vocab.json`, `merges.txt`); see
        /// ``CLIPTokenizer/init(folder:)``.
        case folder(URL)
        /// Single-file checkpoints carry no vocabulary: CLIP's own (the one `open_clip_torch`
        /// ships), padded as the family's tokenizer pads.
        case clipVocabulary(CLIPTokenizer.Padding)
    }

    /// The pipeline class (`model_index.json`'s `_class_name`, or the family's standard one).
    public let pipelineClass: String
    /// The family, when known: detected (or given) for single files, inferred from the UNet's
    /// configuration for folders (nil when it is none of the three).
    public let family: Family?
    /// The model components by name.
    public let components: [String: Component]
    /// The tokenizers by name (`tokenizer`, `tokenizer_2`).
    public let tokenizers: [String: TokenizerSource]
    /// The scheduler, when the checkpoint names one.
    public let scheduler: Scheduler?
    /// Single-file tensors that no component reads (EMA copies, training buffers, parts of the
    /// original model diffusers drops), for reports; empty for folders.
    public let unusedNames: [String]
    /// The `feature_extractor` folder's `preprocessor_config.json` (the safety checker's image
    /// preprocessing), when the folder's `model_index.json` names one; nil for single files.
    public let featureExtractorConfig: Data?

    /// The component, or an error naming it and those present.
    /// - Throws: `ModelError(.weightsInvalid)` when the checkpoint has no such component.
    public func component(_ name: String) throws -> Component {
        guard let component = components[name] else {
            throw ModelError(.weightsInvalid, "the checkpoint has no \(name) component (it has \(components.keys.sorted().joined(separator: ", ")))")
        }
        return component
    }

    /// The tokenizer's source, or an error naming it.
    /// - Throws: `ModelError(.weightsInvalid)` when the checkpoint has no such tokenizer.
    public func tokenizer(_ name: String) throws -> TokenizerSource {
        guard let source = tokenizers[name] else {
            throw ModelError(.weightsInvalid, "the checkpoint has no \(name) (it has \(tokenizers.keys.sorted().joined(separator: ", ")))")
        }
        return source
    }

    init(pipelineClass: String, family: Family?, components: [String: Component], tokenizers: [String: TokenizerSource],
         scheduler: Scheduler?, unusedNames: [String], featureExtractorConfig: Data? = nil) {
        self.pipelineClass = pipelineClass
        self.featureExtractorConfig = featureExtractorConfig
        self.family = family
        self.components = components
        self.tokenizers = tokenizers
        self.scheduler = scheduler
        self.unusedNames = unusedNames
    }
}

extension DiffusionCheckpoint {
    /// A JSON object's members, or an error naming `what`.
    static func jsonObject(_ data: Data, _ what: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError(.weightsInvalid, "\(what) is not a JSON object")
        }
        return object
    }

    /// `config` with `changes` applied to its top-level members (keys sorted, for stable bytes).
    static func patched(_ config: Data, _ changes: [String: Any], _ what: String) throws -> Data {
        guard !changes.isEmpty else { return config }
        var object = try jsonObject(config, what)
        for (key, value) in changes { object[key] = value }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// `CLIPTextModel` names its parameters without `text_model.` in `transformers` 5;
    /// files written by earlier versions (and the original checkpoints) have it. Other classes
    /// keep their names.
    static func textEncoderWeights(_ weights: DiffusionWeights, className: String, component: String) -> DiffusionWeights {
        let prefix = "text_model."
        switch className {
        case "CLIPTextModel" where weights.names.contains(where: { $0.hasPrefix(prefix) }):
            var map: [String: (name: String, transform: DiffusionWeights.Transform)] = [:]
            for name in weights.names { map[name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name] = (name, .identity) }
            return DiffusionWeights(component: component, source: weights, map: map)
        case "CLIPTextModelWithProjection" where !weights.names.contains(where: { $0.hasPrefix(prefix) }):
            var map: [String: (name: String, transform: DiffusionWeights.Transform)] = [:]
            for name in weights.names { map[name.hasPrefix("text_projection") ? name : prefix + name] = (name, .identity) }
            return DiffusionWeights(component: component, source: weights, map: map)
        default:
            return weights
        }
    }
}
