import Foundation
import ModelFormats
import ModelKit

/// A config value diffusers stores either once for every block or once per block.
public struct PerBlock<Value: Decodable & Sendable & Equatable>: Decodable, Sendable, Equatable {
    /// One value for every block, or nil when the file gave a list.
    public var shared: Value?
    /// One value per block, or empty when the file gave one value.
    public var list: [Value]

    /// One value for every block.
    public init(_ value: Value) { shared = value; list = [] }
    /// One value per block.
    public init(_ values: [Value]) { shared = nil; list = values }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let values = try? container.decode([Value].self) {
            self.init(values)
        } else {
            self.init(try container.decode(Value.self))
        }
    }

    /// The values of `count` blocks.
    /// - Throws: `ModelFormatError` `.malformed` when a list has another length.
    public func resolved(_ count: Int, field: String) throws -> [Value] {
        if let shared { return Array(repeating: shared, count: count) }
        guard list.count == count else {
            throw ModelFormatError(.malformed, "unet config: \(field) has \(list.count) entries for \(count) blocks")
        }
        return list
    }
}

/// diffusers' `UNet2DConditionModel` configuration (`unet/config.json`): the fields the Stable
/// Diffusion family uses, with diffusers 0.42's defaults. Values outside what these pipelines
/// use (other block types, class embeddings, scale-shift time conditioning) are rejected by
/// ``validate()`` with the field's name.
public struct UNet2DConditionConfig: Decodable, Sendable, Equatable {
    public var inChannels = 4
    public var outChannels = 4
    public var centerInputSample = false
    public var flipSinToCos = true
    public var freqShift = 0
    public var downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
    public var midBlockType: String? = "UNetMidBlock2DCrossAttn"
    public var upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    public var onlyCrossAttention = PerBlock(false)
    public var blockOutChannels = [320, 640, 1280, 1280]
    public var layersPerBlock = PerBlock(2)
    public var downsamplePadding = 1
    public var midBlockScaleFactor: Float = 1
    public var actFn = "silu"
    public var normNumGroups: Int? = 32
    public var normEps: Float = 1e-5
    public var crossAttentionDim = PerBlock(1280)
    public var transformerLayersPerBlock = PerBlock(1)
    /// Heads per block, confusingly named in diffusers' configs (used when
    /// ``numAttentionHeads`` is absent).
    public var attentionHeadDim = PerBlock(8)
    public var numAttentionHeads: PerBlock<Int>?
    public var useLinearProjection = false
    public var classEmbedType: String?
    public var additionEmbedType: String?
    public var additionTimeEmbedDim: Int?
    public var upcastAttention = false
    public var resnetTimeScaleShift = "default"
    public var resnetOutScaleFactor: Float = 1
    public var timeEmbeddingType = "positional"
    public var timeCondProjDim: Int?
    public var convInKernel = 3
    public var convOutKernel = 3
    public var projectionClassEmbeddingsInputDim: Int?
    public var encoderHidDim: Int?
    public var dualCrossAttention = false
    public var attentionType = "default"
    public var sampleSize: PerBlock<Int>?

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels", centerInputSample = "center_input_sample"
        case flipSinToCos = "flip_sin_to_cos", freqShift = "freq_shift", downBlockTypes = "down_block_types"
        case midBlockType = "mid_block_type", upBlockTypes = "up_block_types", onlyCrossAttention = "only_cross_attention"
        case blockOutChannels = "block_out_channels", layersPerBlock = "layers_per_block"
        case downsamplePadding = "downsample_padding", midBlockScaleFactor = "mid_block_scale_factor", actFn = "act_fn"
        case normNumGroups = "norm_num_groups", normEps = "norm_eps", crossAttentionDim = "cross_attention_dim"
        case transformerLayersPerBlock = "transformer_layers_per_block", attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads", useLinearProjection = "use_linear_projection"
        case classEmbedType = "class_embed_type", additionEmbedType = "addition_embed_type"
        case additionTimeEmbedDim = "addition_time_embed_dim", upcastAttention = "upcast_attention"
        case resnetTimeScaleShift = "resnet_time_scale_shift", resnetOutScaleFactor = "resnet_out_scale_factor"
        case timeEmbeddingType = "time_embedding_type", timeCondProjDim = "time_cond_proj_dim"
        case convInKernel = "conv_in_kernel", convOutKernel = "conv_out_kernel"
        case projectionClassEmbeddingsInputDim = "projection_class_embeddings_input_dim"
        case encoderHidDim = "encoder_hid_dim", dualCrossAttention = "dual_cross_attention"
        case attentionType = "attention_type", sampleSize = "sample_size"
    }

    /// diffusers' defaults (Stable Diffusion 1.x's UNet with 1280-wide cross-attention).
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func take<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try take(.inChannels, &inChannels)
        try take(.outChannels, &outChannels)
        try take(.centerInputSample, &centerInputSample)
        try take(.flipSinToCos, &flipSinToCos)
        try take(.freqShift, &freqShift)
        try take(.downBlockTypes, &downBlockTypes)
        if c.contains(.midBlockType) { midBlockType = try c.decodeIfPresent(String.self, forKey: .midBlockType) }
        try take(.upBlockTypes, &upBlockTypes)
        try take(.onlyCrossAttention, &onlyCrossAttention)
        try take(.blockOutChannels, &blockOutChannels)
        try take(.layersPerBlock, &layersPerBlock)
        try take(.downsamplePadding, &downsamplePadding)
        try take(.midBlockScaleFactor, &midBlockScaleFactor)
        try take(.actFn, &actFn)
        if c.contains(.normNumGroups) { normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) }
        try take(.normEps, &normEps)
        try take(.crossAttentionDim, &crossAttentionDim)
        try take(.transformerLayersPerBlock, &transformerLayersPerBlock)
        try take(.attentionHeadDim, &attentionHeadDim)
        numAttentionHeads = try c.decodeIfPresent(PerBlock<Int>.self, forKey: .numAttentionHeads)
        try take(.useLinearProjection, &useLinearProjection)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        additionEmbedType = try c.decodeIfPresent(String.self, forKey: .additionEmbedType)
        additionTimeEmbedDim = try c.decodeIfPresent(Int.self, forKey: .additionTimeEmbedDim)
        try take(.upcastAttention, &upcastAttention)
        try take(.resnetTimeScaleShift, &resnetTimeScaleShift)
        try take(.resnetOutScaleFactor, &resnetOutScaleFactor)
        try take(.timeEmbeddingType, &timeEmbeddingType)
        timeCondProjDim = try c.decodeIfPresent(Int.self, forKey: .timeCondProjDim)
        try take(.convInKernel, &convInKernel)
        try take(.convOutKernel, &convOutKernel)
        projectionClassEmbeddingsInputDim = try c.decodeIfPresent(Int.self, forKey: .projectionClassEmbeddingsInputDim)
        encoderHidDim = try c.decodeIfPresent(Int.self, forKey: .encoderHidDim)
        try take(.dualCrossAttention, &dualCrossAttention)
        try take(.attentionType, &attentionType)
        sampleSize = try c.decodeIfPresent(PerBlock<Int>.self, forKey: .sampleSize)
    }

    /// Parses `unet/config.json` and checks it.
    /// - Throws: `ModelFormatError` `.malformed` naming the field.
    public static func decode(_ data: Data) throws -> UNet2DConditionConfig {
        let config: UNet2DConditionConfig
        do {
            config = try JSONDecoder().decode(UNet2DConditionConfig.self, from: data)
        } catch let error as DecodingError {
            throw ModelFormatError(.malformed, "unet config: \(DiffusionConfigError.describe(error))")
        }
        try config.validate()
        return config
    }

    /// One down block's resolved settings.
    public struct Block: Sendable, Equatable {
        public var type: String
        public var channels: Int
        public var layers: Int
        public var transformerLayers: Int
        public var heads: Int
        public var crossAttentionDim: Int
        public var onlyCrossAttention: Bool
        public var hasAttention: Bool { type.hasPrefix("CrossAttn") }
    }

    /// The down blocks' settings, in order (up block `i` mirrors down block `count - 1 - i`).
    public func blocks() throws -> [Block] {
        let n = blockOutChannels.count
        let layers = try layersPerBlock.resolved(n, field: "layers_per_block")
        let transformerLayers = try transformerLayersPerBlock.resolved(n, field: "transformer_layers_per_block")
        let heads = try (numAttentionHeads ?? attentionHeadDim).resolved(n, field: "num_attention_heads")
        let cross = try crossAttentionDim.resolved(n, field: "cross_attention_dim")
        let only = try onlyCrossAttention.resolved(n, field: "only_cross_attention")
        return (0..<n).map { i in
            Block(type: downBlockTypes[i], channels: blockOutChannels[i], layers: layers[i], transformerLayers: transformerLayers[i],
                  heads: heads[i], crossAttentionDim: cross[i], onlyCrossAttention: only[i])
        }
    }

    /// Checks that the configuration is one this implementation builds, and that every size is
    /// in a range a real model has (so a hostile file cannot ask for absurd allocations).
    /// - Throws: `ModelFormatError` `.malformed` or `.unsupportedLayer` naming the field.
    public func validate() throws {
        func bad(_ why: String) -> ModelFormatError { ModelFormatError(.malformed, "unet config: \(why)") }
        func unsupported(_ why: String) -> ModelFormatError { ModelFormatError(.unsupportedLayer, "unet config: \(why)") }
        let n = blockOutChannels.count
        guard (1...8).contains(n) else { throw bad("block_out_channels has \(n) entries") }
        guard downBlockTypes.count == n, upBlockTypes.count == n else {
            throw bad("\(downBlockTypes.count) down and \(upBlockTypes.count) up blocks for \(n) block_out_channels")
        }
        for t in downBlockTypes where !["CrossAttnDownBlock2D", "DownBlock2D"].contains(t) { throw unsupported("down block type \(t)") }
        for t in upBlockTypes where !["CrossAttnUpBlock2D", "UpBlock2D"].contains(t) { throw unsupported("up block type \(t)") }
        if let midBlockType, midBlockType != "UNetMidBlock2DCrossAttn" { throw unsupported("mid block type \(midBlockType)") }
        guard !centerInputSample else { throw unsupported("center_input_sample") }
        guard actFn == "silu" else { throw unsupported("act_fn \(actFn)") }
        guard resnetTimeScaleShift == "default" else { throw unsupported("resnet_time_scale_shift \(resnetTimeScaleShift)") }
        guard timeEmbeddingType == "positional" else { throw unsupported("time_embedding_type \(timeEmbeddingType)") }
        guard classEmbedType == nil else { throw unsupported("class_embed_type \(classEmbedType ?? "")") }
        guard encoderHidDim == nil else { throw unsupported("encoder_hid_dim") }
        guard !dualCrossAttention else { throw unsupported("dual_cross_attention") }
        guard attentionType == "default" else { throw unsupported("attention_type \(attentionType)") }
        if let additionEmbedType, additionEmbedType != "text_time" { throw unsupported("addition_embed_type \(additionEmbedType)") }
        if additionEmbedType == "text_time" {
            guard let t = additionTimeEmbedDim, (2...4096).contains(t), t % 2 == 0 else { throw bad("addition_time_embed_dim") }
            guard let p = projectionClassEmbeddingsInputDim, (1...65536).contains(p) else {
                throw bad("projection_class_embeddings_input_dim")
            }
        }
        guard (1...64).contains(inChannels), (1...64).contains(outChannels) else { throw bad("in/out channels") }
        guard [1, 3].contains(convInKernel), [1, 3].contains(convOutKernel) else { throw unsupported("conv_in/out_kernel") }
        guard (0...2).contains(downsamplePadding) else { throw bad("downsample_padding \(downsamplePadding)") }
        guard let groups = normNumGroups, groups >= 1 else { throw unsupported("norm_num_groups null") }
        guard normEps > 0, normEps < 1 else { throw bad("norm_eps \(normEps)") }
        if let d = timeCondProjDim, !(1...4096).contains(d) { throw bad("time_cond_proj_dim \(d)") }
        guard blockOutChannels[0] % 2 == 0 else { throw bad("block_out_channels[0] must be even") }
        for block in try blocks() {
            guard (1...8192).contains(block.channels), block.channels % groups == 0 else {
                throw bad("block channels \(block.channels) (norm_num_groups \(groups))")
            }
            guard (1...16).contains(block.layers) else { throw bad("layers_per_block \(block.layers)") }
            guard (1...32).contains(block.transformerLayers) else { throw bad("transformer_layers_per_block \(block.transformerLayers)") }
            guard (1...block.channels).contains(block.heads), block.channels % block.heads == 0 else {
                throw bad("\(block.heads) attention heads for \(block.channels) channels")
            }
            guard (1...8192).contains(block.crossAttentionDim) else { throw bad("cross_attention_dim \(block.crossAttentionDim)") }
        }
        // Up blocks mirror the down blocks; an up block with attention needs its mirror's heads.
        for (i, t) in upBlockTypes.enumerated() where t.hasPrefix("CrossAttn") && i >= n { throw bad("up block \(i)") }
    }
}

/// Readable messages for configuration decoding failures.
enum DiffusionConfigError {
    /// Decodes a component's `config.json`; a `ModelError` from the type's own checks passes
    /// through, any other failure becomes `.weightsInvalid` naming `file`.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError(.weightsInvalid, "\(file): \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c): return "field \(path(c)): \(c.debugDescription)"
        case .dataCorrupted(let c): return "\(path(c).isEmpty ? "file" : path(c)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
