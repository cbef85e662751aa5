// waifu2x (nagadomi, https://github.com/nagadomi/waifu2x) denoising and ×2 upscaling, in the ncnn
// conversions of waifu2x-ncnn-vulkan (nihui), with that tool's padding and tiling conventions.
import Foundation
import Graph
import Kernels
import ModelKit

/// waifu2x: `cunet`, `upconv_7_photo` and `upconv_7_anime_style_art_rgb`, noise level -1...3,
/// scale 1 (denoise only, cunet) or 2.
public struct Waifu2x: Model {
    /// Precision of the convolutions.
    public var precision: ComputePrecision

    /// Creates the model.
    public init(precision: ComputePrecision = .fp32) { self.precision = precision }

    /// Model families a request may pick.
    public static let modelNames = ["cunet", "upconv_7_photo", "upconv_7_anime_style_art_rgb"]

    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine/waifu2x", version: "1.0.0", category: "image-to-image",
            displayName: "waifu2x",
            description: "Denoising and ×2 upscaling of anime-style art and photos (waifu2x CUNet / UpConv7).",
            inputSchema: UpscalerSchema.input(scales: [1, 2], defaultScale: 2, extra: [
                "noise_level": [
                    "type": "integer", "title": "Noise Level", "minimum": -1, "maximum": 3, "default": 0,
                    "description": "Denoising strength; -1 turns denoising off (scale 2 only).",
                ],
                "model": [
                    "type": "string", "title": "Model", "enum": .array(Self.modelNames.map { .string($0) }), "default": "cunet",
                    "description": "cunet (best, slower; the only one with scale 1) or upconv_7 (photo or anime).",
                ],
            ], order: ["noise_level", "model"]),
            outputSchema: UpscalerSchema.output, schemaName: "Waifu2x",
            weights: WeightsCatalog.waifu2x.weightsFiles,
            memoryEstimateBytes: 128 << 20, maxConcurrency: 1)
    }

    public func load(context: LoadContext) async throws -> any LoadedModel {
        let loaded = LoadedUpscaler(modelDirectory: context.modelDirectory, threads: context.threads, precision: precision,
                                    scales: [1, 2], defaultScale: 2, defaultModel: "cunet") { request in
            try Self.variant(model: request.modelName, noise: request.noiseLevel, scale: request.scale)
        }
        _ = try loaded.executor(for: try Self.variant(model: "cunet", noise: 0, scale: 2))
        return loaded
    }

    /// The network and padding waifu2x-ncnn-vulkan uses for a model, noise level and scale.
    /// - Throws: `ModelError` (422) for combinations upstream does not ship.
    static func variant(model: String, noise: Int, scale: Int) throws -> UpscalerVariant {
        guard modelNames.contains(model) else {
            throw ModelError(.invalidInput, "model must be one of \(modelNames.joined(separator: ", "))", field: ["body", "model"])
        }
        let directory = model == "cunet" ? "models-cunet" : "models-\(model)"
        let stem: String
        switch (noise, scale) {
        case (-1, 2): stem = "scale2.0x_model"
        case (-1, _): throw ModelError(.invalidInput, "noise_level -1 with scale 1 leaves nothing to do", field: ["body", "noise_level"])
        case (_, 2): stem = "noise\(noise)_scale2.0x_model"
        default:
            guard model == "cunet" else {
                throw ModelError(.invalidInput, "scale 1 (denoise only) needs model cunet", field: ["body", "scale"])
            }
            stem = "noise\(noise)_model"
        }
        // Upstream prepadding: cunet 18 (×2) or 28 (×1), upconv_7 7; inputs aligned to 2 (×2) or 4 (×1).
        let context = model == "cunet" ? (scale == 1 ? 28 : 18) : 7
        return UpscalerVariant(param: "waifu2x/\(directory)/\(stem).param", inputBlob: "Input1", outputBlob: "Eltwise4",
                               scale: scale, context: context, alignment: scale == 1 ? 4 : 2, shrinksByContext: true)
    }
}
