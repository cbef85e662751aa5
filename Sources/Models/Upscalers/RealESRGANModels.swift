// Real-ESRGAN upscalers (Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution
// with Pure Synthetic Data", https://github.com/xinntao/Real-ESRGAN) in their ncnn conversions.
import Foundation
import Graph
import Kernels
import ModelKit

/// realesr-animevideov3 (SRVGGNetCompact): ×2, ×3 and ×4 on one endpoint; the ×2 and ×3 graphs
/// downscale the ×4 result bicubically inside the graph, exactly as upstream ships them.
public struct RealESRAnimeVideoV3: Model {
    /// Precision of the convolutions.
    public var precision: ComputePrecision

    /// Creates the model.
    public init(precision: ComputePrecision = .fp32) { self.precision = precision }

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine/realesr-animevideov3", version: "1.0.0", category: "image-to-image",
            displayName: "Real-ESRGAN AnimeVideo v3",
            description: "Fast ×2/×3/×4 upscaling for anime and video frames (SRVGGNetCompact, Real-ESRGAN).",
            inputSchema: UpscalerSchema.input(scales: [2, 3, 4], defaultScale: 4),
            outputSchema: UpscalerSchema.output, schemaName: "RealESRAnimeVideoV3",
            weights: WeightsCatalog.realESRAnimeVideoV3.weightsFiles,
            memoryEstimateBytes: 96 << 20, maxConcurrency: 1)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel {
        let loaded = LoadedUpscaler(
            modelDirectory: context.modelDirectory, threads: context.threads, precision: precision,
            scales: [2, 3, 4], defaultScale: 4) { request in
                Self.variant(scale: request.scale)
            }
        _ = try loaded.executor(for: Self.variant(scale: 4))
        return loaded
    }

    /// The network for a scale: Real-ESRGAN-ncnn-vulkan's replicated border of 10 pixels, and
    /// 18 pixels of tile context (the receptive field of 18 3x3 convolutions: seamless tiles).
    static func variant(scale: Int) -> UpscalerVariant {
        UpscalerVariant(param: "realesr-animevideov3/realesr-animevideov3-x\(scale).param", inputBlob: "data",
                        outputBlob: "output", scale: scale, context: 18, alignment: 1,
                        shrinksByContext: false, borderPad: 10)
    }
}

/// realesrgan-x4plus and realesrgan-x4plus-anime (RRDBNet): ×4.
public struct RealESRGANx4Plus: Model {
    /// Which weights: general photos or anime illustrations.
    public enum Flavor: String, Sendable, CaseIterable {
        /// General-purpose photos (`realesrgan-x4plus`).
        case photo = "realesrgan-x4plus"
        /// Anime illustrations (`realesrgan-x4plus-anime`, 6 blocks instead of 23).
        case anime = "realesrgan-x4plus-anime"
    }

    /// Which weights.
    public var flavor: Flavor
    /// Precision of the convolutions.
    public var precision: ComputePrecision

    /// Creates the model.
    public init(flavor: Flavor, precision: ComputePrecision = .fp32) {
        self.flavor = flavor
        self.precision = precision
    }

    public var manifest: ModelManifest {
        let package = flavor == .photo ? WeightsCatalog.realESRGANx4plus : WeightsCatalog.realESRGANx4plusAnime
        return ModelManifest(
            endpointID: "peregrine/\(flavor.rawValue)", version: "1.0.0", category: "image-to-image",
            displayName: flavor == .photo ? "Real-ESRGAN x4plus" : "Real-ESRGAN x4plus anime",
            description: flavor == .photo
                ? "High-quality ×4 upscaling of real-world photos (RRDBNet, Real-ESRGAN)."
                : "High-quality ×4 upscaling of anime illustrations (RRDBNet, 6 blocks, Real-ESRGAN).",
            inputSchema: UpscalerSchema.input(scales: [4], defaultScale: 4),
            outputSchema: UpscalerSchema.output, schemaName: flavor == .photo ? "RealESRGANx4Plus" : "RealESRGANx4PlusAnime",
            weights: package.weightsFiles,
            memoryEstimateBytes: (flavor == .photo ? 160 : 96) << 20, maxConcurrency: 1)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel {
        let variant = UpscalerVariant(param: "\(flavor.rawValue)/\(flavor.rawValue).param", inputBlob: "data",
                                      outputBlob: "output", scale: 4, context: 16, alignment: 1, shrinksByContext: false,
                                      borderPad: 10)
        let loaded = LoadedUpscaler(modelDirectory: context.modelDirectory, threads: context.threads, precision: precision,
                                    scales: [4], defaultScale: 4) { _ in variant }
        _ = try loaded.executor(for: variant)
        return loaded
    }
}
