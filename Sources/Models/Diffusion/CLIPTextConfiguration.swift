// transformers' `CLIPTextConfig` (models/clip/configuration_clip.py, 5.23), as diffusers folders store it in `text_encoder*/config.json`.
import Foundation
import ModelKit

/// The architecture of a CLIP text encoder, read from a `text_encoder/config.json` or
/// `text_encoder_2/config.json`. Every field has transformers' default, so a config that omits
/// one means what it means to transformers. Sizes are bounded when decoding: a config file is
/// untrusted input and its numbers size allocations.
public struct CLIPTextConfiguration: Sendable, Equatable, Codable {
    /// The MLP's activation (`hidden_act`).
    public enum Activation: String, Sendable, Codable, CaseIterable {
        /// `x · sigmoid(1.702 x)`: OpenAI's CLIP-L (SD 1.x, SDXL's first encoder).
        case quickGELU = "quick_gelu"
        /// Exact (erf) GELU: OpenCLIP ViT-H (SD 2.x) and ViT-bigG (SDXL's second encoder).
        case gelu
        /// GELU through tanh, under transformers' two names for it.
        case geluNew = "gelu_new"
        /// Same function as ``geluNew``.
        case geluPyTorchTanh = "gelu_pytorch_tanh"
    }

    /// Token embeddings (`vocab_size`, default 49408).
    public var vocabularySize: Int
    /// Width of the residual stream (`hidden_size`, default 512).
    public var hiddenSize: Int
    /// Width of the MLP (`intermediate_size`, default 2048).
    public var intermediateSize: Int
    /// Width of `text_projection`'s output (`projection_dim`, default 512); only
    /// `CLIPTextModelWithProjection` checkpoints carry the projection.
    public var projectionDimension: Int
    /// Transformer layers (`num_hidden_layers`, default 12).
    public var layers: Int
    /// Attention heads (`num_attention_heads`, default 8).
    public var attentionHeads: Int
    /// Position embeddings, the longest token sequence (`max_position_embeddings`, default 77).
    public var maxPositions: Int
    /// The MLP's activation (`hidden_act`, default `quick_gelu`).
    public var activation: Activation
    /// Epsilon of every layer norm (`layer_norm_eps`, default 1e-5).
    public var layerNormEpsilon: Float
    /// The end-of-text id the pooled output is taken at (`eos_token_id`, default 49407). The
    /// value 2, which checkpoints converted before transformers PR #24773 carry, selects the
    /// legacy rule: pool at the largest id of the sequence.
    public var eosTokenID: Int
    /// `pad_token_id` (default 1); recorded, not used by the encoder.
    public var padTokenID: Int
    /// `bos_token_id` (default 49406); recorded, not used by the encoder.
    public var bosTokenID: Int

    /// Largest accepted extent of any size field: above bigG's widths and vocabulary with room,
    /// small enough that products of two sizes cannot overflow.
    public static let maxExtent = 1 << 20
    /// Largest accepted layer count.
    public static let maxLayers = 256

    /// A configuration with transformers' defaults for every field not given.
    public init(vocabularySize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048,
                projectionDimension: Int = 512, layers: Int = 12, attentionHeads: Int = 8, maxPositions: Int = 77,
                activation: Activation = .quickGELU, layerNormEpsilon: Float = 1e-5, eosTokenID: Int = 49407,
                padTokenID: Int = 1, bosTokenID: Int = 49406) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.projectionDimension = projectionDimension
        self.layers = layers
        self.attentionHeads = attentionHeads
        self.maxPositions = maxPositions
        self.activation = activation
        self.layerNormEpsilon = layerNormEpsilon
        self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID
        self.bosTokenID = bosTokenID
    }

    /// Decodes and validates a `config.json`.
    /// - Throws: `ModelError(.weightsInvalid)` naming the field when it is malformed or out of
    ///   bounds, or when the activation is not one CLIP text encoders use.
    public init(json: Data) throws {
        self = try DiffusionConfigError.decode(Self.self, from: json, file: "CLIP text encoder config.json")
    }

    /// The width of one attention head.
    public var headDimension: Int { hiddenSize / attentionHeads }

    /// Whether the end token is found by the legacy rule (the sequence's largest id).
    public var poolsAtLargestID: Bool { eosTokenID == 2 }

    /// Checks the sizes a model is built from.
    /// - Throws: `ModelError(.weightsInvalid)` naming the offending field.
    public func validate() throws {
        for (field, value) in [("vocab_size", vocabularySize), ("hidden_size", hiddenSize),
                               ("intermediate_size", intermediateSize), ("projection_dim", projectionDimension),
                               ("num_attention_heads", attentionHeads), ("max_position_embeddings", maxPositions)]
        where !(1...Self.maxExtent).contains(value) {
            throw ModelError(.weightsInvalid, "CLIP text encoder config: \(field) \(value) is outside 1...\(Self.maxExtent)")
        }
        guard (1...Self.maxLayers).contains(layers) else {
            throw ModelError(.weightsInvalid, "CLIP text encoder config: num_hidden_layers \(layers) is outside 1...\(Self.maxLayers)")
        }
        guard hiddenSize % attentionHeads == 0 else {
            throw ModelError(.weightsInvalid,
                             "CLIP text encoder config: hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(attentionHeads)")
        }
        guard layerNormEpsilon.isFinite, layerNormEpsilon >= 0 else {
            throw ModelError(.weightsInvalid, "CLIP text encoder config: layer_norm_eps \(layerNormEpsilon) is not a finite non-negative number")
        }
    }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case projectionDimension = "projection_dim", layers = "num_hidden_layers", attentionHeads = "num_attention_heads"
        case maxPositions = "max_position_embeddings", activation = "hidden_act", layerNormEpsilon = "layer_norm_eps"
        case eosTokenID = "eos_token_id", padTokenID = "pad_token_id", bosTokenID = "bos_token_id"
    }

    /// Decodes transformers' field names, each absent or null field taking its default, and
    /// validates the result (``validate()``).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        func int(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            // transformers accepts null for the optional fields and then uses nothing; the
            // encoder needs a value, so null means the default.
            try c.decodeIfPresent(Int.self, forKey: key) ?? fallback
        }
        vocabularySize = try int(.vocabularySize, d.vocabularySize)
        hiddenSize = try int(.hiddenSize, d.hiddenSize)
        intermediateSize = try int(.intermediateSize, d.intermediateSize)
        projectionDimension = try int(.projectionDimension, d.projectionDimension)
        layers = try int(.layers, d.layers)
        attentionHeads = try int(.attentionHeads, d.attentionHeads)
        maxPositions = try int(.maxPositions, d.maxPositions)
        if let name = try c.decodeIfPresent(String.self, forKey: .activation) {
            guard let activation = Activation(rawValue: name) else {
                throw ModelError(.weightsInvalid, "CLIP text encoder config: hidden_act \(name) is not supported "
                                 + "(expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            self.activation = activation
        } else {
            activation = d.activation
        }
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        // transformers allows a list here; the pooling compares ids with it element-wise, which
        // only works for one id, so a one-element list is that id and anything longer is refused.
        if let list = try? c.decodeIfPresent([Int].self, forKey: .eosTokenID) {
            guard list.count == 1 else {
                throw ModelError(.weightsInvalid, "CLIP text encoder config: eos_token_id \(list) must hold one id")
            }
            eosTokenID = list[0]
        } else {
            eosTokenID = try int(.eosTokenID, d.eosTokenID)
        }
        padTokenID = try int(.padTokenID, d.padTokenID)
        bosTokenID = try int(.bosTokenID, d.bosTokenID)
        try validate()
    }
}
