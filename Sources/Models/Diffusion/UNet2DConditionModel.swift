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
    /// Factors the builder folded into some layers' weights (to_q carries the attention's
    /// softmax scale): a LoRA delta for such a layer is scaled alike.
    let foldedWeightScales: [String: Float]

    /// Builds the graph from a component's weights (diffusers names) and prepares it.
    /// - Throws: `ModelFormatError` naming a missing or mismatched tensor or a config field.
    public init(config: UNet2DConditionConfig, weights: DiffusionWeights, pool: ComputePool,
                precision: ComputePrecision = .fp32) throws {
        try config.validate()
        self.config = config
        // The builder and the graph end here: the executor packs each layer and drops the graph's
        // copy of its weights, so the unpacked weights are never all held twice.
        let (graph, scales) = try {
            var builder = UNetGraphBuilder(config: config, weights: weights)
            return (try builder.build(), builder.foldedWeightScales)
        }()
        foldedWeightScales = scales
        executor = try GraphExecutor(graph: consume graph, pool: pool, precision: precision)
    }

    private init(config: UNet2DConditionConfig, executor: GraphExecutor, foldedWeightScales: [String: Float]) {
        self.config = config
        self.executor = executor
        self.foldedWeightScales = foldedWeightScales
    }

    /// The layers a LoRA may adapt: linear layers and convolutions, by diffusers module name.
    public var adaptableModules: Set<String> { executor.adaptableModules }

    /// This UNet with LoRA deltas (by module) added; unchanged layers are shared.
    public func adapted(_ deltas: [String: Tensor]) throws -> UNet2DConditionModel {
        var scaled = deltas
        for (module, factor) in foldedWeightScales {
            guard let delta = deltas[module] else { continue }
            scaled[module] = Tensor(shape: delta.shape, values: delta.toArray().map { $0 * factor })
        }
        return UNet2DConditionModel(config: config, executor: try executor.adapted(scaled), foldedWeightScales: foldedWeightScales)
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
    /// Layers whose weights were multiplied by a factor at build time.
    var foldedWeightScales: [String: Float] = [:]

    init(config: UNet2DConditionConfig, weights: DiffusionWeights) {
        self.config = config
        self.weights = weights
    }

    func w(_ name: String, _ shape: [Int]) throws -> Tensor { try weights.tensor(name, shape: shape) }

    /// The time embedding's width (`4 × block_out_channels[0]`).
    var timeEmbedDim: Int { config.blockOutChannels[0] * 4 }

    mutating func linear(_ name: String, _ x: ValueID, in inputs: Int, out outputs: Int, bias: Bool = true) throws -> ValueID {
        try b.linear(name, x, weight: w("\(name).weight", [outputs, inputs]), bias: bias ? w("\(name).bias", [outputs]) : nil)
    }

    mutating func conv(_ name: String, _ x: ValueID, in inputs: Int, out outputs: Int, kernel: Int = 3, stride: Int = 1,
                       padding: Int? = nil) throws -> ValueID {
        try b.conv2d(name, x, weight: w("\(name).weight", [outputs, inputs, kernel, kernel]), bias: w("\(name).bias", [outputs]),
                     stride: stride, padding: padding ?? kernel / 2)
    }

    mutating func groupNorm(_ name: String, _ x: ValueID, channels: Int, epsilon: Float) throws -> ValueID {
        b.groupNorm(name, x, groups: groups, epsilon: epsilon, scale: try w("\(name).weight", [channels]),
                    bias: try w("\(name).bias", [channels]))
    }

    /// `nn.LayerNorm` over the channels of each token of features-as-rows `[N, C, T, 1]` values.
    mutating func layerNorm(_ name: String, _ x: ValueID, channels: Int) throws -> ValueID {
        b.channelNorm(name, x, epsilon: 1e-5, scale: try w("\(name).weight", [channels]), bias: try w("\(name).bias", [channels]))
    }

    /// `ResnetBlock2D` with a time embedding projection.
    mutating func resnet(_ name: String, _ x: ValueID, in inputs: Int, out outputs: Int, embedding: ValueID) throws -> ValueID {
        var h = try groupNorm("\(name).norm1", x, channels: inputs, epsilon: config.normEps)
        h = b.unary("\(name).act1", .silu, h)
        h = try conv("\(name).conv1", h, in: inputs, out: outputs)
        var t = b.unary("\(name).time_act", .silu, embedding)
        t = try linear("\(name).time_emb_proj", t, in: timeEmbedDim, out: outputs)
        t = b.reshape("\(name).time_reshape", t, [0, 0, 1, 1])
        h = b.elementwise("\(name).time_add", .add, h, t)
        h = try groupNorm("\(name).norm2", h, channels: outputs, epsilon: config.normEps)
        h = b.unary("\(name).act2", .silu, h)
        h = try conv("\(name).conv2", h, in: outputs, out: outputs)
        let shortcut = inputs != outputs ? try conv("\(name).conv_shortcut", x, in: inputs, out: outputs, kernel: 1) : x
        var out = b.elementwise("\(name).residual", .add, shortcut, h)
        if config.resnetOutScaleFactor != 1 { out = b.scale("\(name).out_scale", out, by: 1 / config.resnetOutScaleFactor) }
        return out
    }

    /// A linear layer (`[out, in]` weight) on features-as-rows `[N, in, T, 1]` values: a 1×1
    /// convolution, whose kernel reads the activations in place and adds the bias (and, when
    /// the graph's fusion finds one, the residual) in its epilogue.
    /// `scale` multiplies the weights (a factor the next op would otherwise apply).
    mutating func projection(_ name: String, _ x: ValueID, in inputs: Int, out outputs: Int, bias: Bool = true,
                             scale: Float = 1) throws -> ValueID {
        var weight = try w("\(name).weight", [outputs, inputs]).reshaped(Shape([outputs, inputs, 1, 1]))
        if scale != 1 {
            weight = Tensor(shape: weight.shape, values: weight.toArray().map { $0 * scale })
            foldedWeightScales[name] = scale
        }
        return try b.conv2d(name, x, weight: weight, bias: bias ? try w("\(name).bias", [outputs]) : nil)
    }

    /// diffusers' `Attention` (no bias on q, k, v) on features-as-rows values: `[N, C, T, 1]`
    /// queries over `[N, D, S, 1]` context. Each head's features are a contiguous block of rows,
    /// so splitting the heads (`[N, heads, C / heads, T]`) and merging them back are views.
    mutating func attention(_ name: String, _ x: ValueID, context: ValueID, contextChannels: Int, heads: Int,
                            channels: Int) throws -> ValueID {
        let headDim = channels / heads
        let split = { (b: inout GraphBuilder, v: ValueID, label: String) in b.reshape("\(name).\(label)_heads", v, [0, heads, headDim, -1]) }
        // The softmax scale goes into to_q's weights (it has no bias), so the attention reads
        // the projection's output as it is.
        let scale = 1 / Float(headDim).squareRoot()
        let q = split(&b, try projection("\(name).to_q", x, in: channels, out: channels, bias: false, scale: scale), "q")
        let k = split(&b, try projection("\(name).to_k", context, in: contextChannels, out: channels, bias: false), "k")
        let v = split(&b, try projection("\(name).to_v", context, in: contextChannels, out: channels, bias: false), "v")
        var o = b.node(name, .attentionFeatureMajor(scale: 1), [q, k, v])
        o = b.reshape("\(name).merge", o, [0, channels, -1, 1])
        return try projection("\(name).to_out.0", o, in: channels, out: channels)
    }

    /// `BasicTransformerBlock` on features-as-rows `[N, C, T, 1]`: self-attention,
    /// cross-attention and a GEGLU feed-forward, each after a layer norm (over the channels of
    /// each token) and added back.
    mutating func transformerBlock(_ name: String, _ x: ValueID, context: ValueID, block: UNet2DConditionConfig.Block) throws -> ValueID {
        let c = block.channels, heads = block.heads
        var h = x
        var n = try layerNorm("\(name).norm1", h, channels: c)
        var a = block.onlyCrossAttention
            ? try attention("\(name).attn1", n, context: context, contextChannels: block.crossAttentionDim, heads: heads, channels: c)
            : try attention("\(name).attn1", n, context: n, contextChannels: c, heads: heads, channels: c)
        h = b.elementwise("\(name).attn1_residual", .add, a, h)
        n = try layerNorm("\(name).norm2", h, channels: c)
        a = try attention("\(name).attn2", n, context: context, contextChannels: block.crossAttentionDim, heads: heads, channels: c)
        h = b.elementwise("\(name).attn2_residual", .add, a, h)
        n = try layerNorm("\(name).norm3", h, channels: c)
        let inner = 4 * c
        // GEGLU's halves are the first and second `inner` rows of each image: as one row per
        // image they are the two halves of the last dimension.
        let projected = try projection("\(name).ff.net.0.proj", n, in: c, out: 2 * inner)
        let gated = b.gatedGELU("\(name).ff.geglu", b.reshape("\(name).ff.rows", projected, [0, -1]))
        let columns = b.reshape("\(name).ff.columns", gated, [0, inner, -1, 1])
        let ff = try projection("\(name).ff.net.2", columns, in: inner, out: c)
        return b.elementwise("\(name).ff_residual", .add, ff, h)
    }

    /// `Transformer2DModel` over NCHW `x` with `channels` channels, computed with features as
    /// rows (`[N, C, H·W, 1]`, the NCHW memory itself), so no token-major transposes are needed.
    /// `context` is the encoder's hidden states as `[N, D, S, 1]`.
    mutating func transformer(_ name: String, _ x: ValueID, context: ValueID, block: UNet2DConditionConfig.Block) throws -> ValueID {
        let c = block.channels
        var h = try groupNorm("\(name).norm", x, channels: c, epsilon: 1e-6)
        h = b.reshape("\(name).flatten", h, [0, 0, -1, 1])
        // `use_linear_projection` stores proj_in/proj_out as [C, C] linears, otherwise as 1×1
        // convolutions: the same product here.
        let linear = config.useLinearProjection
        let ioShape = linear ? [c, c] : [c, c, 1, 1]
        h = try b.conv2d("\(name).proj_in", h, weight: w("\(name).proj_in.weight", ioShape).reshaped(Shape([c, c, 1, 1])),
                         bias: w("\(name).proj_in.bias", [c]))
        for i in 0..<block.transformerLayers {
            h = try transformerBlock("\(name).transformer_blocks.\(i)", h, context: context, block: block)
        }
        h = try b.conv2d("\(name).proj_out", h, weight: w("\(name).proj_out.weight", ioShape).reshaped(Shape([c, c, 1, 1])),
                         bias: w("\(name).proj_out.bias", [c]))
        h = b.reshape("\(name).unflatten", h, like: x)
        return b.elementwise("\(name).residual", .add, h, x)
    }

    mutating func build() throws -> Graph {
        let blocks = try config.blocks()
        let c0 = config.blockOutChannels[0], ted = timeEmbedDim
        let sampleIn = b.input("sample")
        let timeIn = b.input("timestep_embedding")
        let contextIn = b.input("encoder_hidden_states")
        // The context with features as rows, once for every cross-attention: [N, S, D] → [N, D, S, 1].
        let context = b.reshape("context.columns", b.transpose("context.transpose", contextIn, [0, 2, 1]), [0, 0, -1, 1])
        let addedIn = config.additionEmbedType == "text_time" ? b.input("added_conditioning") : nil
        let guidanceIn = config.timeCondProjDim != nil ? b.input("guidance_embedding") : nil

        // Time embedding (with LCM's guidance projection and SDXL's added conditioning).
        var t = timeIn
        if let guidanceIn, let d = config.timeCondProjDim {
            t = b.elementwise("time_embedding.cond", .add, t, try linear("time_embedding.cond_proj", guidanceIn, in: d, out: c0, bias: false))
        }
        t = try linear("time_embedding.linear_1", t, in: c0, out: ted)
        t = b.unary("time_embedding.act", .silu, t)
        var embedding = try linear("time_embedding.linear_2", t, in: ted, out: ted)
        if let addedIn, let p = config.projectionClassEmbeddingsInputDim {
            var a = try linear("add_embedding.linear_1", addedIn, in: p, out: ted)
            a = b.unary("add_embedding.act", .silu, a)
            a = try linear("add_embedding.linear_2", a, in: ted, out: ted)
            embedding = b.elementwise("add_embedding.add", .add, embedding, a)
        }

        var h = try conv("conv_in", sampleIn, in: config.inChannels, out: c0, kernel: config.convInKernel)
        var channels = c0
        var skips = [(h, c0)]
        for (i, block) in blocks.enumerated() {
            for j in 0..<block.layers {
                h = try resnet("down_blocks.\(i).resnets.\(j)", h, in: channels, out: block.channels, embedding: embedding)
                channels = block.channels
                if block.hasAttention { h = try transformer("down_blocks.\(i).attentions.\(j)", h, context: context, block: block) }
                skips.append((h, channels))
            }
            if i < blocks.count - 1 {
                h = try conv("down_blocks.\(i).downsamplers.0.conv", h, in: channels, out: channels, stride: 2,
                             padding: config.downsamplePadding)
                skips.append((h, channels))
            }
        }
        if config.midBlockType != nil, let last = blocks.last {
            h = try resnet("mid_block.resnets.0", h, in: channels, out: channels, embedding: embedding)
            h = try transformer("mid_block.attentions.0", h, context: context, block: last)
            h = try resnet("mid_block.resnets.1", h, in: channels, out: channels, embedding: embedding)
        }
        for (i, type) in config.upBlockTypes.enumerated() {
            var block = blocks[blocks.count - 1 - i]
            block.type = type
            for j in 0...block.layers {
                guard let (skip, skipChannels) = skips.popLast() else {
                    throw ModelFormatError(.malformed, "unet config: skip connections do not match")
                }
                h = b.concatenate("up_blocks.\(i).concat.\(j)", [h, skip], axis: 1)
                h = try resnet("up_blocks.\(i).resnets.\(j)", h, in: channels + skipChannels, out: block.channels, embedding: embedding)
                channels = block.channels
                if block.hasAttention { h = try transformer("up_blocks.\(i).attentions.\(j)", h, context: context, block: block) }
            }
            if i < blocks.count - 1 {
                // To the size of the skip it meets next: diffusers' `upsample_size`, which brings a
                // map halved from an odd size (latents not a multiple of 2^levels) back to it.
                h = if let (skip, _) = skips.last { b.upsampleNearest("up_blocks.\(i).upsample", h, like: skip) }
                    else { b.upsampleNearest("up_blocks.\(i).upsample", h, factor: 2) }
                h = try conv("up_blocks.\(i).upsamplers.0.conv", h, in: channels, out: channels)
            }
        }
        h = try groupNorm("conv_norm_out", h, channels: channels, epsilon: config.normEps)
        h = b.unary("conv_act", .silu, h)
        h = try conv("conv_out", h, in: channels, out: config.outChannels, kernel: config.convOutKernel)
        b.output(h)
        return b.graph
    }
}
