// TAESD / TAESDXL: diffusers `AutoencoderTiny` (models/autoencoders/autoencoder_tiny.py, vae.py's
// EncoderTiny and DecoderTiny), from madebyollin/taesd, "Tiny AutoEncoder for Stable Diffusion".

import Foundation
import Graph
import Kernels
import ModelFormats
import Tensor

/// diffusers' `AutoencoderTiny` configuration (`config.json`), every field defaulting as
/// diffusers 0.42.1 does.
public struct TinyAutoencoderConfiguration: Codable, Sendable, Equatable {
    /// Image channels the encoder takes.
    public var inChannels: Int = 3
    /// Image channels the decoder produces.
    public var outChannels: Int = 3
    /// Channels of each encoder level (all equal in the upstream architecture).
    public var encoderBlockOutChannels: [Int] = [64, 64, 64, 64]
    /// Channels of each decoder level (all equal).
    public var decoderBlockOutChannels: [Int] = [64, 64, 64, 64]
    /// The blocks' activation: `relu` (or `silu`/`swish`).
    public var actFn: String = "relu"
    /// Upsampling mode; only `nearest`.
    public var upsampleFn: String = "nearest"
    /// Latent channels.
    public var latentChannels: Int = 4
    /// The decoder's upsampling factor between levels.
    public var upsamplingScalingFactor: Int = 2
    /// `AutoencoderTinyBlock`s per encoder level.
    public var numEncoderBlocks: [Int] = [1, 3, 3, 3]
    /// `AutoencoderTinyBlock`s per decoder level.
    public var numDecoderBlocks: [Int] = [3, 3, 3, 1]
    /// Range of the 8-bit latent storage format (`scale_latents`; not used by pipelines).
    public var latentMagnitude: Double = 3
    /// Offset of the 8-bit latent storage format.
    public var latentShift: Double = 0.5
    /// Whether diffusers upcasts under half precision (always false for this model).
    public var forceUpcast: Bool = false
    /// The pipeline's latent scale: 1 for TAESD/TAESDXL, whose latents are the denoiser's.
    public var scalingFactor: Double = 1
    /// The pipeline's latent shift (TAESD3, TAEF1).
    public var shiftFactor: Double = 0

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels"
        case encoderBlockOutChannels = "encoder_block_out_channels", decoderBlockOutChannels = "decoder_block_out_channels"
        case actFn = "act_fn", upsampleFn = "upsample_fn", latentChannels = "latent_channels"
        case upsamplingScalingFactor = "upsampling_scaling_factor", numEncoderBlocks = "num_encoder_blocks"
        case numDecoderBlocks = "num_decoder_blocks", latentMagnitude = "latent_magnitude", latentShift = "latent_shift"
        case forceUpcast = "force_upcast", scalingFactor = "scaling_factor", shiftFactor = "shift_factor"
    }

    /// Decodes `config.json`, taking diffusers' default for every absent (or null) field.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TinyAutoencoderConfiguration()
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? d.outChannels
        encoderBlockOutChannels = try c.decodeIfPresent([Int].self, forKey: .encoderBlockOutChannels) ?? d.encoderBlockOutChannels
        decoderBlockOutChannels = try c.decodeIfPresent([Int].self, forKey: .decoderBlockOutChannels) ?? d.decoderBlockOutChannels
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? d.actFn
        upsampleFn = try c.decodeIfPresent(String.self, forKey: .upsampleFn) ?? d.upsampleFn
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? d.latentChannels
        upsamplingScalingFactor = try c.decodeIfPresent(Int.self, forKey: .upsamplingScalingFactor) ?? d.upsamplingScalingFactor
        numEncoderBlocks = try c.decodeIfPresent([Int].self, forKey: .numEncoderBlocks) ?? d.numEncoderBlocks
        numDecoderBlocks = try c.decodeIfPresent([Int].self, forKey: .numDecoderBlocks) ?? d.numDecoderBlocks
        latentMagnitude = try c.decodeIfPresent(Double.self, forKey: .latentMagnitude) ?? d.latentMagnitude
        latentShift = try c.decodeIfPresent(Double.self, forKey: .latentShift) ?? d.latentShift
        forceUpcast = try c.decodeIfPresent(Bool.self, forKey: .forceUpcast) ?? d.forceUpcast
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? d.scalingFactor
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor) ?? d.shiftFactor
    }

    /// Parses `config.json`.
    /// - Throws: `DecodingError` for malformed JSON or a field of the wrong type.
    public static func parse(_ data: Data) throws -> TinyAutoencoderConfiguration {
        try JSONDecoder().decode(TinyAutoencoderConfiguration.self, from: data)
    }

    /// The latent scale and shift the pipeline applies around the denoiser. Stable Diffusion
    /// pipelines divide by the scaling factor only; the shift is 0 for TAESD/TAESDXL and, for
    /// TAESD3/TAEF1, the one their pipelines add.
    /// The configuration's scaling factor and shift.
    public var latentScaling: LatentScaling {
        LatentScaling(scalingFactor: Float(scalingFactor), shiftFactor: shiftFactor == 0 ? nil : Float(shiftFactor))
    }

    /// Checks that the configuration describes a model this engine builds, sizes in bounds.
    /// - Throws: `ModelFormatError` `.unsupportedLayer` naming the field.
    public func validate() throws {
        func fail(_ message: String) -> ModelFormatError { ModelFormatError(.unsupportedLayer, "taesd config: \(message)") }
        let channelRange = 1...8192
        for (name, channels, blocks) in [("encoder", encoderBlockOutChannels, numEncoderBlocks),
                                         ("decoder", decoderBlockOutChannels, numDecoderBlocks)] {
            guard !channels.isEmpty, channels.count <= 8, channels.count == blocks.count,
                  channels.allSatisfy(channelRange.contains), blocks.allSatisfy((0...16).contains) else {
                throw fail("\(name)_block_out_channels \(channels) / num_\(name)_blocks \(blocks) must pair 1 to 8 levels")
            }
            // Upstream passes each level's output straight to the next level's blocks.
            guard Set(channels).count == 1 else { throw fail("\(name)_block_out_channels \(channels) must all be equal") }
        }
        guard channelRange.contains(inChannels), channelRange.contains(outChannels), channelRange.contains(latentChannels) else {
            throw fail("in_channels \(inChannels), out_channels \(outChannels), latent_channels \(latentChannels) outside \(channelRange)")
        }
        guard ["relu", "silu", "swish"].contains(actFn) else { throw fail("act_fn \(actFn) (relu or silu)") }
        guard upsampleFn == "nearest", (1...8).contains(upsamplingScalingFactor) else {
            throw fail("upsample_fn \(upsampleFn) × \(upsamplingScalingFactor) (nearest, 1...8)")
        }
        guard encoderBlockOutChannels.count == decoderBlockOutChannels.count else {
            throw fail("the encoder and decoder must have as many levels")
        }
        guard scalingFactor.isFinite, scalingFactor != 0, shiftFactor.isFinite else {
            throw fail("scaling_factor \(scalingFactor) / shift_factor \(shiftFactor) must be finite, the scale nonzero")
        }
    }
}

/// diffusers' `AutoencoderTiny` (TAESD, TAESDXL) on the graph engine: plain convolution stacks
/// with residual blocks, a fast stand-in for ``AutoencoderKL`` on the same latents.
public final class TinyAutoencoder: LatentAutoencoder {
    /// The configuration the graphs were built from.
    public let configuration: TinyAutoencoderConfiguration
    private let decoder: GraphExecutor
    private let encoder: GraphExecutor?

    /// Builds the decoder and, when `includeEncoder`, the encoder.
    /// - Parameters:
    ///   - configuration: `config.json`.
    ///   - weights: the tensors under diffusers' names (`decoder.layers.0.weight`, …).
    ///   - pool: the process's compute pool.
    ///   - precision: precision of the convolutions.
    ///   - includeEncoder: whether to build the encoder (image-to-image).
    /// - Throws: `ModelFormatError` for an unsupported configuration, or a missing, mis-shaped
    ///   or unused tensor (naming it).
    public init(configuration: TinyAutoencoderConfiguration, weights: DiffusionWeights, pool: ComputePool,
                precision: ComputePrecision = .fp32, includeEncoder: Bool = true) throws {
        try configuration.validate()
        self.configuration = configuration
        decoder = try GraphExecutor(graph: try Self.decoderGraph(configuration, weights), pool: pool, precision: precision)
        encoder = includeEncoder
            ? try GraphExecutor(graph: try Self.encoderGraph(configuration, weights), pool: pool, precision: precision) : nil
    }

    /// The configuration's scaling factor and shift.
    public var latentScaling: LatentScaling { configuration.latentScaling }
    /// `latent_channels`.
    public var latentChannels: Int { configuration.latentChannels }
    /// Image pixels per latent pixel along each axis.
    public var downsamplingFactor: Int {
        // At most 8 levels of at most 8×: no overflow (validated).
        (1..<configuration.decoderBlockOutChannels.count).reduce(1) { f, _ in f * configuration.upsamplingScalingFactor }
    }
    /// Whether the encoder was built.
    public var canEncode: Bool { encoder != nil }

    /// Images in about [-1, 1] from the denoiser's latents (see ``LatentAutoencoder``).
    public func decode(latents: Tensor, checkpoint: () throws -> Void) throws -> Tensor {
        try runDecoder(try latentScaling.decoderInput(fromLatents: latents), checkpoint: checkpoint)
    }

    /// The decoder on unscaled latents: diffusers' `AutoencoderTiny.decode(x).sample`.
    /// - Throws: `GraphError` when `z` is not `[N, latentChannels, h, w]`.
    public func runDecoder(_ z: Tensor, checkpoint: () throws -> Void = {}) throws -> Tensor {
        try decoder.run([z], checkpoint: checkpoint)[0]
    }

    /// The encoder's latent distribution for images in [-1, 1] (see ``LatentAutoencoder``).
    /// - Throws: `GraphError` `.invalidInput` when the encoder was not built or the image does not fit.
    public func encode(image: Tensor, checkpoint: () throws -> Void) throws -> LatentDistribution {
        guard let encoder else { throw GraphError(.invalidInput, "this autoencoder was loaded without its encoder") }
        return LatentDistribution(mean: try encoder.run([image], checkpoint: checkpoint)[0])
    }

    // MARK: Graphs

    private static func activation(_ c: TinyAutoencoderConfiguration) -> Activation {
        c.actFn == "relu" ? .relu : .silu
    }

    private static func constant(_ b: inout AutoencoderGraphBuilder, _ name: String, _ value: Float) -> ValueID {
        b.builder.constant(name, Tensor(shape: Shape([1]), values: [value]))
    }

    /// `AutoencoderTinyBlock`: `relu(conv(act(conv(act(conv(x))))) + x)` (the skip is the
    /// identity: input and output channels are equal in this architecture).
    private static func block(_ name: String, _ x: ValueID, channels: Int, _ c: TinyAutoencoderConfiguration,
                              _ b: inout AutoencoderGraphBuilder) throws -> ValueID {
        var h = try b.conv("\(name).conv.0", x, in: channels, out: channels, kernel: 3, activation: activation(c))
        h = try b.conv("\(name).conv.2", h, in: channels, out: channels, kernel: 3, activation: activation(c))
        h = try b.conv("\(name).conv.4", h, in: channels, out: channels, kernel: 3)
        let sum = b.builder.elementwise("\(name).add", .add, h, x)
        return b.builder.node("\(name).fuse", .activation(.relu), [sum])
    }

    /// `DecoderTiny`: `tanh(x / 3) · 3`, conv + activation, then per level its blocks, an
    /// upsample (all but the last) and a convolution; the output `2y - 1`.
    static func decoderGraph(_ c: TinyAutoencoderConfiguration, _ weights: DiffusionWeights) throws -> Graph {
        var b = AutoencoderGraphBuilder(weights: weights)
        var x = b.builder.input("latents")
        x = b.builder.elementwise("decoder.clamp.div", .div, x, constant(&b, "decoder.clamp.three", 3))
        x = b.builder.unary("decoder.clamp.tanh", .tanh, x)
        x = b.builder.scale("decoder.clamp.mul", x, by: 3)
        let channels = c.decoderBlockOutChannels
        x = try b.conv("decoder.layers.0", x, in: c.latentChannels, out: channels[0], kernel: 3, activation: activation(c))
        var layer = 2
        for (i, blocks) in c.numDecoderBlocks.enumerated() {
            let final = i == channels.count - 1
            for _ in 0..<blocks {
                x = try block("decoder.layers.\(layer)", x, channels: channels[i], c, &b)
                layer += 1
            }
            if !final {
                x = b.builder.upsampleNearest("decoder.layers.\(layer)", x, factor: c.upsamplingScalingFactor)
                layer += 1
            }
            x = try b.conv("decoder.layers.\(layer)", x, in: channels[i], out: final ? c.outChannels : channels[i], kernel: 3,
                           bias: final)
            layer += 1
        }
        x = b.builder.scale("decoder.output.mul", x, by: 2)
        x = b.builder.elementwise("decoder.output.sub", .sub, x, constant(&b, "decoder.output.one", 1))
        b.builder.output(x)
        try b.checkAllUsed(prefixes: ["decoder."])
        return b.builder.graph
    }

    /// `EncoderTiny`: the image mapped to [0, 1] (`(x + 1) / 2`), then per level a convolution
    /// (stride 2 without bias after the first) and its blocks, and a convolution to the latent
    /// channels.
    static func encoderGraph(_ c: TinyAutoencoderConfiguration, _ weights: DiffusionWeights) throws -> Graph {
        var b = AutoencoderGraphBuilder(weights: weights)
        var x = b.builder.input("image")
        x = b.builder.elementwise("encoder.input.add", .add, x, constant(&b, "encoder.input.one", 1))
        x = b.builder.elementwise("encoder.input.div", .div, x, constant(&b, "encoder.input.two", 2))
        let channels = c.encoderBlockOutChannels
        var layer = 0
        for (i, blocks) in c.numEncoderBlocks.enumerated() {
            if i == 0 {
                x = try b.conv("encoder.layers.\(layer)", x, in: c.inChannels, out: channels[0], kernel: 3)
            } else {
                x = try b.conv("encoder.layers.\(layer)", x, in: channels[i], out: channels[i], kernel: 3, stride: 2, bias: false)
            }
            layer += 1
            for _ in 0..<blocks {
                x = try block("encoder.layers.\(layer)", x, channels: channels[i], c, &b)
                layer += 1
            }
        }
        x = try b.conv("encoder.layers.\(layer)", x, in: channels[channels.count - 1], out: c.latentChannels, kernel: 3)
        b.builder.output(x)
        try b.checkAllUsed(prefixes: ["encoder."])
        return b.builder.graph
    }
}
