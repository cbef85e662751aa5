// Whole-video upscaling with Real-ESRGAN's realesr-animevideov3 (SRVGGNetCompact,
// https://github.com/xinntao/Real-ESRGAN) frame by frame, optionally after waifu2x CUNet
// denoising (https://github.com/nagadomi/waifu2x), streamed through ffmpeg.
import Foundation
import Graph
import Kernels
import ModelKit

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
            memoryEstimateBytes: 256 << 20, maxConcurrency: 1)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel {
        let upscaler = LoadedUpscaler(modelDirectory: context.modelDirectory, threads: context.threads, precision: precision,
                                      scales: [2, 3, 4], defaultScale: 2) { RealESRAnimeVideoV3.variant(scale: $0.scale) }
        // The denoiser's graphs load on the first request that asks for denoising.
        let denoiser = LoadedUpscaler(modelDirectory: context.modelDirectory, threads: context.threads, precision: precision,
                                      scales: [1], defaultScale: 1, defaultModel: "cunet") {
            try Waifu2x.variant(model: "cunet", noise: $0.noiseLevel, scale: 1)
        }
        _ = try upscaler.executor(for: RealESRAnimeVideoV3.variant(scale: 2))
        return LoadedVideoUpscaler(upscaler: upscaler, denoiser: denoiser, configuration: configuration)
    }
}
