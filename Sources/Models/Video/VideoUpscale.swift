// Whole-video upscaling with Real-ESRGAN's realesr-animevideov3 (SRVGGNetCompact,
// https://github.com/xinntao/Real-ESRGAN) frame by frame, optionally after waifu2x CUNet
// denoising (https://github.com/nagadomi/waifu2x), streamed through ffmpeg.
import Foundation
import Graph
import Kernels
import ModelKit
import Weights

/// `peregrine/video-upscale`: a video in, the same video ×2/×3/×4 out, with its audio, frame
/// rate and rotation; frames stream through decode → network → encode.
public struct VideoUpscale: Model {
    /// Precision of the convolutions.
    public var precision: ComputePrecision
    /// Limits and pipeline settings.
    public var configuration: VideoUpscaleConfiguration

    /// Creates the model.
    /// - Parameters:
    ///   - precision: precision of the convolutions.
    ///   - configuration: limits and settings (default: defaults overridden by `PEREGRINE_VIDEO_*`).
    public init(precision: ComputePrecision = .fp32, configuration: VideoUpscaleConfiguration = .fromEnvironment()) {
        self.precision = precision
        self.configuration = configuration
    }

    /// The waifu2x files the optional denoising uses (CUNet, denoise only, levels 0...3).
    static var denoiseWeights: [WeightsFile] {
        WeightsCatalog.waifu2x.weightsFiles.filter { $0.path.hasPrefix("waifu2x/models-cunet/noise") && !$0.path.contains("scale") }
    }

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine/video-upscale", version: "1.0.0", category: "video-to-video",
            displayName: "Video upscale (Real-ESRGAN AnimeVideo v3)",
            description: "Upscales whole videos ×2/×3/×4 frame by frame with realesr-animevideov3, optionally denoised with waifu2x; keeps audio, frame rate and rotation.",
            inputSchema: VideoUpscaleSchema.input, outputSchema: VideoUpscaleSchema.output, schemaName: "VideoUpscale",
            weights: WeightsCatalog.realESRAnimeVideoV3.weightsFiles + Self.denoiseWeights,
            memoryEstimateBytes: 256 << 20, maxConcurrency: 1, computeDemand: .wholePool)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel {
        // The networks are the gallery's: realesr-animevideov3 per scale, waifu2x CUNet denoise-only.
        let networks = VideoNetworks(upscale: try Gallery.upscaler("peregrine/realesr-animevideov3"),
                                     denoise: try Gallery.upscaler("peregrine/waifu2x"))
        let upscaler = LoadedUpscaler(modelDirectory: context.modelDirectory, pool: try context.computePool(), precision: precision,
                                      scales: [2, 3, 4], defaultScale: 2) { try networks.upscale(scale: $0.scale) }
        // The denoiser's graphs load on the first request that asks for denoising.
        let denoiser = LoadedUpscaler(modelDirectory: context.modelDirectory, pool: try context.computePool(), precision: precision,
                                      scales: [1], defaultScale: 1, defaultModel: "cunet") {
            try networks.denoise(level: $0.noiseLevel)
        }
        try await upscaler.prepare(try networks.upscale(scale: 2))
        return LoadedVideoUpscaler(upscaler: upscaler, denoiser: denoiser, networks: networks, configuration: configuration)
    }
}

/// The image networks the video upscaler runs, taken from the gallery's manifests.
struct VideoNetworks: Sendable {
    let upscale: UpscalerManifest
    let denoise: UpscalerManifest

    /// realesr-animevideov3 at `scale`.
    func upscale(scale: Int) throws -> UpscalerVariant {
        try upscale.variant(scale: scale, noiseLevel: nil, model: nil)
    }

    /// waifu2x CUNet, denoise only, at `level`.
    func denoise(level: Int) throws -> UpscalerVariant {
        try denoise.variant(scale: 1, noiseLevel: level, model: "cunet")
    }
}
