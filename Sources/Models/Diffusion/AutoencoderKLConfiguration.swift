import Foundation
import ModelFormats

/// diffusers' `AutoencoderKL` configuration (`vae/config.json`), every field defaulting as
/// diffusers 0.42.1 does when the file leaves it out.
public struct AutoencoderKLConfiguration: Codable, Sendable, Equatable {
    /// Image channels the encoder takes.
    public var inChannels: Int = 3
    /// Image channels the decoder produces.
    public var outChannels: Int = 3
    /// Encoder block types; only `DownEncoderBlock2D` exists in the autoencoders we run.
    public var downBlockTypes: [String] = ["DownEncoderBlock2D"]
    /// Decoder block types; only `UpDecoderBlock2D`.
    public var upBlockTypes: [String] = ["UpDecoderBlock2D"]
    /// Channels of each resolution level, finest first.
    public var blockOutChannels: [Int] = [64]
    /// Resnets per encoder block (the decoder has one more per block).
    public var layersPerBlock: Int = 1
    /// Activation; `silu` (or its alias `swish`).
    public var actFn: String = "silu"
    /// Latent channels.
    public var latentChannels: Int = 4
    /// Groups of every group norm.
    public var normNumGroups: Int = 32
    /// Training resolution (tiling only; unused here). Some files give `[height, width]`: the
    /// first is kept.
    public var sampleSize: Int = 32
    /// The latent space's scale: the denoiser sees `(z - shift) * scalingFactor`.
    public var scalingFactor: Double = 0.18215
    /// The latent space's shift (SD3, Flux); nil for Stable Diffusion 1.x, 2.x and XL.
    public var shiftFactor: Double? = nil
    /// Per-channel latent means (Playground v2.5-style SDXL autoencoders), or nil.
    public var latentsMean: [Double]? = nil
    /// Per-channel latent standard deviations, paired with ``latentsMean``.
    public var latentsStd: [Double]? = nil
    /// Whether diffusers runs this autoencoder in float32 under a half-precision pipeline.
    public var forceUpcast: Bool = true
    /// Whether the encoder ends with a 1×1 `quant_conv`.
    public var useQuantConv: Bool = true
    /// Whether the decoder starts with a 1×1 `post_quant_conv`.
    public var usePostQuantConv: Bool = true
    /// Whether the mid blocks hold their attention layer.
    public var midBlockAddAttention: Bool = true

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels", downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types", blockOutChannels = "block_out_channels", layersPerBlock = "layers_per_block"
        case actFn = "act_fn", latentChannels = "latent_channels", normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size", scalingFactor = "scaling_factor", shiftFactor = "shift_factor"
        case latentsMean = "latents_mean", latentsStd = "latents_std", forceUpcast = "force_upcast"
        case useQuantConv = "use_quant_conv", usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    /// Decodes `config.json`, taking diffusers' default for every absent (or null) field.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderKLConfiguration()
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? d.outChannels
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes) ?? d.downBlockTypes
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes) ?? d.upBlockTypes
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? d.blockOutChannels
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? d.layersPerBlock
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? d.actFn
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? d.latentChannels
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? d.normNumGroups
        if let size = try? c.decodeIfPresent(Int.self, forKey: .sampleSize) {
            sampleSize = size
        } else if let sizes = try? c.decodeIfPresent([Int].self, forKey: .sampleSize), let first = sizes.first {
            sampleSize = first
        }
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? d.scalingFactor
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor)
        latentsMean = try c.decodeIfPresent([Double].self, forKey: .latentsMean)
        latentsStd = try c.decodeIfPresent([Double].self, forKey: .latentsStd)
        forceUpcast = try c.decodeIfPresent(Bool.self, forKey: .forceUpcast) ?? d.forceUpcast
        useQuantConv = try c.decodeIfPresent(Bool.self, forKey: .useQuantConv) ?? d.useQuantConv
        usePostQuantConv = try c.decodeIfPresent(Bool.self, forKey: .usePostQuantConv) ?? d.usePostQuantConv
        midBlockAddAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockAddAttention) ?? d.midBlockAddAttention
    }

    /// Parses `vae/config.json`.
    /// - Throws: `DecodingError` for malformed JSON or a field of the wrong type.
    public static func parse(_ data: Data) throws -> AutoencoderKLConfiguration {
        try JSONDecoder().decode(AutoencoderKLConfiguration.self, from: data)
    }

    /// How many times the decoder doubles the latent's height and width (the encoder halves).
    public var downsamplingSteps: Int { max(blockOutChannels.count - 1, 0) }

    /// The latent scale and shift the pipeline applies around the denoiser.
    public var latentScaling: LatentScaling {
        LatentScaling(scalingFactor: Float(scalingFactor), shiftFactor: shiftFactor.map(Float.init),
                      latentsMean: latentsMean?.map(Float.init), latentsStd: latentsStd?.map(Float.init))
    }

    /// Checks that the configuration describes an autoencoder this engine builds, with sizes in
    /// bounds (the file is outside input).
    /// - Throws: `ModelFormatError` `.unsupportedLayer` naming the field.
    public func validate() throws {
        func fail(_ message: String) -> ModelFormatError { ModelFormatError(.unsupportedLayer, "vae config: \(message)") }
        let channelRange = 1...8192
        guard !blockOutChannels.isEmpty, blockOutChannels.count <= 8, blockOutChannels.allSatisfy(channelRange.contains) else {
            throw fail("block_out_channels \(blockOutChannels) must hold 1 to 8 counts in \(channelRange)")
        }
        guard downBlockTypes.count == blockOutChannels.count, downBlockTypes.allSatisfy({ $0 == "DownEncoderBlock2D" }) else {
            throw fail("down_block_types \(downBlockTypes) must be one DownEncoderBlock2D per block_out_channels entry")
        }
        guard upBlockTypes.count == blockOutChannels.count, upBlockTypes.allSatisfy({ $0 == "UpDecoderBlock2D" }) else {
            throw fail("up_block_types \(upBlockTypes) must be one UpDecoderBlock2D per block_out_channels entry")
        }
        guard (1...16).contains(layersPerBlock) else { throw fail("layers_per_block \(layersPerBlock) outside 1...16") }
        guard channelRange.contains(inChannels), channelRange.contains(outChannels), channelRange.contains(latentChannels) else {
            throw fail("in_channels \(inChannels), out_channels \(outChannels), latent_channels \(latentChannels) outside \(channelRange)")
        }
        guard normNumGroups > 0, blockOutChannels.allSatisfy({ $0 % normNumGroups == 0 }) else {
            throw fail("norm_num_groups \(normNumGroups) does not divide every block_out_channels entry")
        }
        guard actFn == "silu" || actFn == "swish" else { throw fail("act_fn \(actFn) (only silu)") }
        guard scalingFactor.isFinite, scalingFactor != 0, shiftFactor?.isFinite ?? true else {
            throw fail("scaling_factor \(scalingFactor) / shift_factor \(String(describing: shiftFactor)) must be finite, the scale nonzero")
        }
        if latentsMean != nil || latentsStd != nil {
            guard let mean = latentsMean, let std = latentsStd, mean.count == latentChannels, std.count == latentChannels,
                  mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
                throw fail("latents_mean and latents_std must both hold \(latentChannels) finite values (std nonzero)")
            }
        }
    }
}
