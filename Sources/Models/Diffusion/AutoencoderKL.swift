// Stable Diffusion's KL autoencoder: diffusers `AutoencoderKL` (models/autoencoders/autoencoder_kl.py
// and vae.py), from Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models"
// (CompVis/latent-diffusion).

import Foundation
import Graph
import Kernels
import ModelFormats
import Tensor

/// diffusers' `AutoencoderKL` on the graph engine: the decoder (and, for image-to-image, the
/// encoder) built once from the checkpoint's tensors under diffusers' names and run for any
/// latent size.
public final class AutoencoderKL: LatentAutoencoder {
    /// The configuration the graphs were built from.
    public let configuration: AutoencoderKLConfiguration
    private let decoder: GraphExecutor
    private let encoder: GraphExecutor?

    /// Builds the decoder and, when `includeEncoder`, the encoder.
    /// - Parameters:
    ///   - configuration: `vae/config.json`.
    ///   - weights: the autoencoder's tensors under diffusers' names (`decoder.conv_in.weight`,
    ///     `post_quant_conv.bias`, …); the mid-block attention's `to_q`/`to_k`/`to_v`/`to_out.0`
    ///     may also be stored as `query`/`key`/`value`/`proj_attn` or as 1×1 convolutions.
    ///   - pool: the process's compute pool.
    ///   - precision: precision of the convolutions.
    ///   - includeEncoder: whether to build the encoder (image-to-image); its tensors are then
    ///     not read.
    /// - Throws: `ModelFormatError` for an unsupported configuration, or a missing, mis-shaped
    ///   or unused tensor (naming it).
    public init(configuration: AutoencoderKLConfiguration, weights: DiffusionWeights, pool: ComputePool,
                precision: ComputePrecision = .fp32, includeEncoder: Bool = true) throws {
        try configuration.validate()
        self.configuration = configuration
        decoder = try GraphExecutor(graph: try Self.decoderGraph(configuration, weights), pool: pool, precision: precision)
        encoder = includeEncoder
            ? try GraphExecutor(graph: try Self.encoderGraph(configuration, weights), pool: pool, precision: precision)
            : nil
    }

    /// Loads the configuration from `config.json` data and builds the model.
    /// - Throws: `DecodingError` for a malformed file, otherwise as ``init(configuration:weights:pool:precision:includeEncoder:)``.
    public convenience init(configJSON: Data, weights: DiffusionWeights, pool: ComputePool, precision: ComputePrecision = .fp32,
                            includeEncoder: Bool = true) throws {
        try self.init(configuration: try AutoencoderKLConfiguration.parse(configJSON), weights: weights, pool: pool,
                      precision: precision, includeEncoder: includeEncoder)
    }

    /// The configuration's scaling factor and shift.
    public var latentScaling: LatentScaling { configuration.latentScaling }
    /// `latent_channels`.
    public var latentChannels: Int { configuration.latentChannels }
    /// Image pixels per latent pixel along each axis.
    public var downsamplingFactor: Int { 1 << configuration.downsamplingSteps }
    /// The decoder's executor (for per-op profiles and memory figures).
    public var decoderExecutor: GraphExecutor { decoder }
    /// Whether the encoder was built.
    public var canEncode: Bool { encoder != nil }

    /// Images in about [-1, 1] from the denoiser's latents (see ``LatentAutoencoder``).
    public func decode(latents: Tensor, checkpoint: () throws -> Void) throws -> Tensor {
        try runDecoder(try latentScaling.decoderInput(fromLatents: latents), checkpoint: checkpoint)
    }

    /// The decoder on the autoencoder's own latents (no scaling): diffusers' `vae.decode(z).sample`.
    /// - Throws: `GraphError` when `z` is not `[N, latentChannels, h, w]`.
    public func runDecoder(_ z: Tensor, checkpoint: () throws -> Void = {}) throws -> Tensor {
        guard z.shape.rank == 4 else { throw GraphError(.invalidInput, "expected an NCHW tensor, got \(z.shape)") }
        return try decoder.run([z], checkpoint: checkpoint)[0]
    }

    /// The encoder's latent distribution for images in [-1, 1] (see ``LatentAutoencoder``).
    /// - Throws: `GraphError` `.invalidInput` when the encoder was not built or the image does not fit.
    public func encode(image: Tensor, checkpoint: () throws -> Void) throws -> LatentDistribution {
        guard let encoder else { throw GraphError(.invalidInput, "this autoencoder was loaded without its encoder") }
        // Each level halves (rounding down): a smaller image would leave nothing to attend over.
        let factor = downsamplingFactor
        guard image.shape.rank == 4, image.shape[2] >= factor, image.shape[3] >= factor else {
            throw GraphError(.invalidInput, "the encoder takes [N, \(configuration.inChannels), H, W] images of at least \(factor)×\(factor), got \(image.shape)")
        }
        let outputs = try encoder.run([image], checkpoint: checkpoint)
        return LatentDistribution(mean: outputs[0], logvar: outputs[1])
    }

    // MARK: Graphs

    /// `UNetMidBlock2D`: resnet, attention (when configured), resnet.
    private static func midBlock(_ name: String, _ x: ValueID, _ c: AutoencoderKLConfiguration,
                                 _ b: inout AutoencoderGraphBuilder) throws -> ValueID {
        let channels = c.blockOutChannels[c.blockOutChannels.count - 1]
        var x = try b.resnet("\(name).resnets.0", x, in: channels, out: channels, groups: c.normNumGroups)
        if c.midBlockAddAttention {
            x = try b.spatialAttention("\(name).attentions.0", x, channels: channels, groups: c.normNumGroups)
        }
        return try b.resnet("\(name).resnets.1", x, in: channels, out: channels, groups: c.normNumGroups)
    }

    /// `post_quant_conv` and diffusers' `Decoder`: conv_in, mid block, up blocks (one more
    /// resnet than `layers_per_block`, nearest 2× and a convolution between levels), norm,
    /// SiLU, conv_out.
    static func decoderGraph(_ c: AutoencoderKLConfiguration, _ weights: DiffusionWeights) throws -> Graph {
        var b = AutoencoderGraphBuilder(weights: weights)
        let channels = c.blockOutChannels, groups = c.normNumGroups
        var x = b.builder.input("latents")
        if c.usePostQuantConv {
            x = try b.conv("post_quant_conv", x, in: c.latentChannels, out: c.latentChannels, kernel: 1)
        }
        x = try b.conv("decoder.conv_in", x, in: c.latentChannels, out: channels[channels.count - 1], kernel: 3)
        x = try midBlock("decoder.mid_block", x, c, &b)
        var previous = channels[channels.count - 1]
        for (i, out) in channels.reversed().enumerated() {
            for j in 0...c.layersPerBlock {
                x = try b.resnet("decoder.up_blocks.\(i).resnets.\(j)", x, in: j == 0 ? previous : out, out: out, groups: groups)
            }
            if i < channels.count - 1 {
                x = try b.upsample("decoder.up_blocks.\(i).upsamplers.0", x, channels: out)
            }
            previous = out
        }
        x = try b.groupNorm("decoder.conv_norm_out", x, channels: channels[0], groups: groups, epsilon: 1e-6)
        x = b.builder.unary("decoder.conv_act", .silu, x)
        x = try b.conv("decoder.conv_out", x, in: channels[0], out: c.outChannels, kernel: 3)
        b.builder.output(x)
        try b.checkAllUsed(prefixes: ["decoder.", "post_quant_conv."])
        return b.builder.graph
    }

    /// diffusers' `Encoder` (conv_in, down blocks with a stride-2 convolution between levels,
    /// mid block, norm, SiLU, conv_out to twice the latent channels) and `quant_conv`, ending in
    /// the mean and the clamped log-variance (`DiagonalGaussianDistribution`).
    static func encoderGraph(_ c: AutoencoderKLConfiguration, _ weights: DiffusionWeights) throws -> Graph {
        var b = AutoencoderGraphBuilder(weights: weights)
        let channels = c.blockOutChannels, groups = c.normNumGroups
        var x = b.builder.input("image")
        x = try b.conv("encoder.conv_in", x, in: c.inChannels, out: channels[0], kernel: 3)
        var previous = channels[0]
        for (i, out) in channels.enumerated() {
            for j in 0..<c.layersPerBlock {
                x = try b.resnet("encoder.down_blocks.\(i).resnets.\(j)", x, in: j == 0 ? previous : out, out: out, groups: groups)
            }
            if i < channels.count - 1 {
                x = try b.downsample("encoder.down_blocks.\(i).downsamplers.0", x, channels: out)
            }
            previous = out
        }
        x = try midBlock("encoder.mid_block", x, c, &b)
        let top = channels[channels.count - 1], moments = 2 * c.latentChannels
        x = try b.groupNorm("encoder.conv_norm_out", x, channels: top, groups: groups, epsilon: 1e-6)
        x = b.builder.unary("encoder.conv_act", .silu, x)
        x = try b.conv("encoder.conv_out", x, in: top, out: moments, kernel: 3)
        if c.useQuantConv {
            x = try b.conv("quant_conv", x, in: moments, out: moments, kernel: 1)
        }
        let mean = b.builder.slice("mean", x, axis: 1, start: 0, end: c.latentChannels)
        let logvar = b.builder.node("logvar", .clip(min: -30, max: 20),
                                    [b.builder.slice("logvar.slice", x, axis: 1, start: c.latentChannels, end: moments)])
        b.builder.output(mean)
        b.builder.output(logvar)
        try b.checkAllUsed(prefixes: ["encoder.", "quant_conv."])
        return b.builder.graph
    }
}
