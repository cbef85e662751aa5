import Foundation
import Graph
import Kernels
import ModelFormats
import Tensor

/// Stable Diffusion's denoising UNet (diffusers' `UNet2DConditionModel`: SD 1.x, SD 2.x,
/// SDXL and their distilled variants) as one ``Graph`` on the engine's executor.
///
/// The graph's inputs are the latents `[N, C, H, W]`, the sinusoidal timestep embedding
/// `[N, block_out_channels[0]]` (computed on the host by ``timestepEmbedding(_:)``), the text
/// encoder's hidden states `[N, S, cross_attention_dim]`, then, when the config asks for
/// them, SDXL's added conditioning `[N, projection_class_embeddings_input_dim]` (pooled text
/// embedding and embedded size/crop ids, see ``addedConditioning(textEmbeds:timeIDs:)``) and
/// LCM's guidance embedding `[N, time_cond_proj_dim]`. Its output is the model's prediction
/// (noise, or v for v-prediction checkpoints) in the latents' shape.
public final class UNet2DConditionModel: Sendable {
    /// The configuration the graph was built from.
    public let config: UNet2DConditionConfig
    /// The executor running the graph (plans cached per input shape).
    public let executor: GraphExecutor

    /// Builds the graph from a component's weights (diffusers names) and prepares it.
    /// - Throws: `ModelFormatError` naming a missing or mismatched tensor or a config field.
    public init(config: UNet2DConditionConfig, weights: DiffusionWeights, pool: ComputePool,
                precision: ComputePrecision = .fp32) throws {
        try config.validate()
        self.config = config
        var builder = UNetGraphBuilder(config: config, weights: weights)
        let graph = try builder.build()
        executor = try GraphExecutor(graph: graph, pool: pool, precision: precision)
    }

    /// Whether the model takes SDXL's added text and size conditioning.
    public var takesAddedConditioning: Bool { config.additionEmbedType == "text_time" }
    /// Whether the model takes a guidance embedding (LCM-distilled UNets).
    public var takesGuidanceEmbedding: Bool { config.timeCondProjDim != nil }

    /// Runs one denoising step's prediction.
    /// - Parameters:
    ///   - sample: latents `[N, C, H, W]` (already scaled for the scheduler).
    ///   - timesteps: one timestep per batch entry (fractional timesteps allowed).
    ///   - encoderHiddenStates: `[N, S, D]` text conditioning.
    ///   - addedConditioning: `[N, P]` for SDXL (see ``addedConditioning(textEmbeds:timeIDs:)``).
    ///   - guidanceEmbedding: `[N, time_cond_proj_dim]` for LCM UNets.
    ///   - checkpoint: called between layers; what it throws ends the run.
    public func callAsFunction(sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor, addedConditioning: Tensor? = nil,
                               guidanceEmbedding: Tensor? = nil, checkpoint: () throws -> Void = {}) throws -> Tensor {
        let n = sample.shape.dims.first ?? 0
        guard sample.shape.rank == 4, timesteps.count == n else {
            throw GraphError(.invalidInput, "unet: \(timesteps.count) timesteps for latents \(sample.shape)")
        }
        var inputs = [sample, timestepEmbedding(timesteps), encoderHiddenStates]
        if takesAddedConditioning {
            guard let addedConditioning else { throw GraphError(.invalidInput, "unet: SDXL conditioning missing") }
            inputs.append(addedConditioning)
        }
        if takesGuidanceEmbedding {
            guard let guidanceEmbedding else { throw GraphError(.invalidInput, "unet: guidance embedding missing") }
            inputs.append(guidanceEmbedding)
        }
        return try executor.run(inputs, checkpoint: checkpoint)[0]
    }

    /// diffusers' `Timesteps` projection of the denoising timesteps: `[N, block_out_channels[0]]`.
    public func timestepEmbedding(_ timesteps: [Float]) -> Tensor {
        Self.sinusoidalEmbedding(timesteps, dimension: config.blockOutChannels[0], flipSinToCos: config.flipSinToCos,
                                 shift: Float(config.freqShift))
    }

    /// SDXL's added conditioning: the pooled text embedding `[N, T]` and the six size/crop
    /// ids per batch entry (original size, crop top-left, target size), each embedded
    /// sinusoidally to `addition_time_embed_dim`, concatenated to `[N, T + 6·dim]`.
    public func addedConditioning(textEmbeds: Tensor, timeIDs: [[Float]]) throws -> Tensor {
        guard let dim = config.additionTimeEmbedDim, let total = config.projectionClassEmbeddingsInputDim else {
            throw GraphError(.invalidInput, "unet: the model takes no added conditioning")
        }
        let n = timeIDs.count
        let t = textEmbeds.shape.dims.last ?? 0
        guard textEmbeds.shape.rank == 2, textEmbeds.shape[0] == n, timeIDs.allSatisfy({ $0.count * dim + t == total }) else {
            throw GraphError(.invalidInput, "unet: pooled text \(textEmbeds.shape) and \(timeIDs.first?.count ?? 0) time ids "
                + "do not make the \(total) conditioning values the model expects")
        }
        let out = Tensor(uninitialized: Shape([n, total]))
        let dst = out.floatPointer, text = textEmbeds.floatPointer
        for b in 0..<n {
            for i in 0..<t { dst[b * total + i] = text[b * t + i] }
            let embedded = Self.sinusoidalEmbedding(timeIDs[b], dimension: dim, flipSinToCos: config.flipSinToCos,
                                                    shift: Float(config.freqShift))
            let src = embedded.floatPointer
            for i in 0..<(timeIDs[b].count * dim) { dst[b * total + t + i] = src[i] }
        }
        return out
    }

    /// diffusers' `get_timestep_embedding`: `[N, dimension]`, cosines first when `flipSinToCos`,
    /// computed in f32 as torch does.
    public static func sinusoidalEmbedding(_ values: [Float], dimension: Int, flipSinToCos: Bool, shift: Float,
                                           maxPeriod: Float = 10000) -> Tensor {
        let half = dimension / 2
        let out = Tensor(zeros: Shape([values.count, dimension]))
        let dst = out.floatPointer
        let logPeriod = -Float(Foundation.log(Double(maxPeriod)))
        let frequencies = (0..<half).map { i in Foundation.exp(logPeriod * Float(i) / (Float(half) - shift)) }
        for (b, t) in values.enumerated() {
            for i in 0..<half {
                let angle = t * frequencies[i]
                let (first, second) = flipSinToCos ? (Foundation.cos(angle), Foundation.sin(angle)) : (Foundation.sin(angle), Foundation.cos(angle))
                dst[b * dimension + i] = first
                dst[b * dimension + half + i] = second
            }
        }
        return out
    }
}

/// Emits the UNet's layers in diffusers' order and names.
struct UNetGraphBuilder {
    let config: UNet2DConditionConfig
    let weights: DiffusionWeights
    var b = GraphBuilder()
    var groups: Int { config.normNumGroups ?? 32 }

    init(config: UNet2DConditionConfig, weights: DiffusionWeights) {
        self.config = config
        self.weights = weights
    }

    func w(_ name: String) throws -> Tensor { try weights.tensor(name) }
    func optional(_ name: String) throws -> Tensor? { try weights.optionalTensor(name) }

    mutating func linear(_ name: String, _ x: ValueID, bias: Bool = true) throws -> ValueID {
        try b.linear(name, x, weight: w("\(name).weight"), bias: bias ? w("\(name).bias") : optional("\(name).bias"))
    }

    mutating func conv(_ name: String, _ x: ValueID, stride: Int = 1, padding: Int? = nil) throws -> ValueID {
        let weight = try w("\(name).weight")
        let k = weight.shape.rank == 4 ? weight.shape[2] : 1
        return try b.conv2d(name, x, weight: weight, bias: w("\(name).bias"), stride: stride, padding: padding ?? k / 2)
    }

    mutating func groupNorm(_ name: String, _ x: ValueID, epsilon: Float) throws -> ValueID {
        b.groupNorm(name, x, groups: groups, epsilon: epsilon, scale: try w("\(name).weight"), bias: try w("\(name).bias"))
    }

    mutating func layerNorm(_ name: String, _ x: ValueID) throws -> ValueID {
        b.layerNorm(name, x, epsilon: 1e-5, scale: try w("\(name).weight"), bias: try w("\(name).bias"))
    }

    /// `ResnetBlock2D` with a time embedding projection.
    mutating func resnet(_ name: String, _ x: ValueID, embedding: ValueID) throws -> ValueID {
        var h = try groupNorm("\(name).norm1", x, epsilon: config.normEps)
        h = b.unary("\(name).act1", .silu, h)
        h = try conv("\(name).conv1", h)
        var t = b.unary("\(name).time_act", .silu, embedding)
        t = try linear("\(name).time_emb_proj", t)
        t = b.reshape("\(name).time_reshape", t, [0, 0, 1, 1])
        h = b.elementwise("\(name).time_add", .add, h, t)
        h = try groupNorm("\(name).norm2", h, epsilon: config.normEps)
        h = b.unary("\(name).act2", .silu, h)
        h = try conv("\(name).conv2", h)
        let shortcut = weights.contains("\(name).conv_shortcut.weight") ? try conv("\(name).conv_shortcut", x) : x
        var out = b.elementwise("\(name).residual", .add, shortcut, h)
        if config.resnetOutScaleFactor != 1 { out = b.scale("\(name).out_scale", out, by: 1 / config.resnetOutScaleFactor) }
        return out
    }

    /// diffusers' `Attention` (no bias on q, k, v): `[N, T, C]` queries over `[N, S, D]` context.
    mutating func attention(_ name: String, _ x: ValueID, context: ValueID, heads: Int, channels: Int) throws -> ValueID {
        let headDim = channels / heads
        func split(_ b: inout GraphBuilder, _ v: ValueID, _ label: String) -> ValueID {
            let r = b.reshape("\(name).\(label)_heads", v, [0, 0, heads, headDim])
            return b.transpose("\(name).\(label)_transpose", r, [0, 2, 1, 3])
        }
        let q = split(&b, try linear("\(name).to_q", x, bias: false), "q")
        let k = split(&b, try linear("\(name).to_k", context, bias: false), "k")
        let v = split(&b, try linear("\(name).to_v", context, bias: false), "v")
        var o = b.attention(name, query: q, key: k, value: v, scale: 1 / Float(headDim).squareRoot())
        o = b.transpose("\(name).o_transpose", o, [0, 2, 1, 3])
        o = b.reshape("\(name).o_merge", o, [0, 0, channels])
        return try linear("\(name).to_out.0", o)
    }

    /// `BasicTransformerBlock`: self-attention, cross-attention and a GEGLU feed-forward, each
    /// after a layer norm and added back.
    mutating func transformerBlock(_ name: String, _ x: ValueID, context: ValueID, heads: Int, channels: Int,
                                   onlyCrossAttention: Bool) throws -> ValueID {
        var h = x
        var n = try layerNorm("\(name).norm1", h)
        var a = try attention("\(name).attn1", n, context: onlyCrossAttention ? context : n, heads: heads, channels: channels)
        h = b.elementwise("\(name).attn1_residual", .add, a, h)
        n = try layerNorm("\(name).norm2", h)
        a = try attention("\(name).attn2", n, context: context, heads: heads, channels: channels)
        h = b.elementwise("\(name).attn2_residual", .add, a, h)
        n = try layerNorm("\(name).norm3", h)
        let projected = try linear("\(name).ff.net.0.proj", n)
        guard let inner2 = weights.shape("\(name).ff.net.0.proj.weight")?.first, inner2 % 2 == 0 else {
            throw ModelFormatError(.malformed, "\(weights.component): \(name).ff.net.0.proj.weight has an odd row count")
        }
        let inner = inner2 / 2
        let value = b.slice("\(name).ff.value", projected, axis: -1, start: 0, end: inner)
        let gate = b.unary("\(name).ff.gelu", .gelu, b.slice("\(name).ff.gate", projected, axis: -1, start: inner, end: inner2))
        let ff = try linear("\(name).ff.net.2", b.elementwise("\(name).ff.geglu", .mul, value, gate))
        return b.elementwise("\(name).ff_residual", .add, ff, h)
    }

    /// `Transformer2DModel` over NCHW `x` with `channels` channels.
    mutating func transformer(_ name: String, _ x: ValueID, context: ValueID, block: UNet2DConditionConfig.Block) throws -> ValueID {
        let c = block.channels
        var h = try groupNorm("\(name).norm", x, epsilon: 1e-6)
        if config.useLinearProjection {
            h = b.transpose("\(name).to_tokens", b.reshape("\(name).flatten", h, [0, c, -1]), [0, 2, 1])
            h = try linear("\(name).proj_in", h)
        } else {
            h = try conv("\(name).proj_in", h)
            h = b.transpose("\(name).to_tokens", b.reshape("\(name).flatten", h, [0, c, -1]), [0, 2, 1])
        }
        for i in 0..<block.transformerLayers {
            h = try transformerBlock("\(name).transformer_blocks.\(i)", h, context: context, heads: block.heads, channels: c,
                                     onlyCrossAttention: block.onlyCrossAttention)
        }
        // Back to NCHW in the input's spatial shape: [N, T, C] → [N, C, T] → like x.
        if config.useLinearProjection {
            h = try linear("\(name).proj_out", h)
            h = b.transpose("\(name).to_channels", h, [0, 2, 1])
            h = b.reshape("\(name).unflatten", h, like: x)
        } else {
            h = b.transpose("\(name).to_channels", h, [0, 2, 1])
            h = b.reshape("\(name).unflatten", h, like: x)
            h = try conv("\(name).proj_out", h)
        }
        return b.elementwise("\(name).residual", .add, h, x)
    }

    mutating func build() throws -> Graph {
        let blocks = try config.blocks()
        let sampleIn = b.input("sample")
        let timeIn = b.input("timestep_embedding")
        let context = b.input("encoder_hidden_states")
        let addedIn = config.additionEmbedType == "text_time" ? b.input("added_conditioning") : nil
        let guidanceIn = config.timeCondProjDim != nil ? b.input("guidance_embedding") : nil

        // Time embedding (with LCM's guidance projection and SDXL's added conditioning).
        var t = timeIn
        if let guidanceIn { t = b.elementwise("time_embedding.cond", .add, t, try linear("time_embedding.cond_proj", guidanceIn, bias: false)) }
        t = try linear("time_embedding.linear_1", t)
        t = b.unary("time_embedding.act", .silu, t)
        var embedding = try linear("time_embedding.linear_2", t)
        if let addedIn {
            var a = try linear("add_embedding.linear_1", addedIn)
            a = b.unary("add_embedding.act", .silu, a)
            a = try linear("add_embedding.linear_2", a)
            embedding = b.elementwise("add_embedding.add", .add, embedding, a)
        }

        var h = sampleIn
        h = try conv("conv_in", h)
        var skips = [h]
        for (i, block) in blocks.enumerated() {
            for j in 0..<block.layers {
                h = try resnet("down_blocks.\(i).resnets.\(j)", h, embedding: embedding)
                if block.hasAttention { h = try transformer("down_blocks.\(i).attentions.\(j)", h, context: context, block: block) }
                skips.append(h)
            }
            if i < blocks.count - 1 {
                h = try conv("down_blocks.\(i).downsamplers.0.conv", h, stride: 2, padding: config.downsamplePadding)
                skips.append(h)
            }
        }
        if config.midBlockType != nil, let last = blocks.last {
            h = try resnet("mid_block.resnets.0", h, embedding: embedding)
            h = try transformer("mid_block.attentions.0", h, context: context, block: last)
            h = try resnet("mid_block.resnets.1", h, embedding: embedding)
        }
        for (i, type) in config.upBlockTypes.enumerated() {
            var block = blocks[blocks.count - 1 - i]
            block.type = type
            for j in 0...block.layers {
                guard let skip = skips.popLast() else { throw ModelFormatError(.malformed, "unet config: skip connections do not match") }
                h = b.concatenate("up_blocks.\(i).concat.\(j)", [h, skip], axis: 1)
                h = try resnet("up_blocks.\(i).resnets.\(j)", h, embedding: embedding)
                if block.hasAttention { h = try transformer("up_blocks.\(i).attentions.\(j)", h, context: context, block: block) }
            }
            if i < blocks.count - 1 {
                h = b.upsampleNearest("up_blocks.\(i).upsample", h, factor: 2)
                h = try conv("up_blocks.\(i).upsamplers.0.conv", h)
            }
        }
        h = try groupNorm("conv_norm_out", h, epsilon: config.normEps)
        h = b.unary("conv_act", .silu, h)
        h = try conv("conv_out", h)
        b.output(h)
        return b.graph
    }
}
