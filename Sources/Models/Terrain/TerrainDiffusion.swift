// The consistency-model terrain generator of adaptive-terrain-diffusion 0.4.2 (MIT, Youwei Yu),
// run from its published ONNX file by the engine's ONNX importer.
import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
import Weights

/// `peregrine/terrain-diffusion`: difficulty-conditioned 128×128 terrain heightmaps.
///
/// The gallery has no heightmap category; the endpoint is filed under `text-to-image`, the
/// convention for generators that make images from parameters alone.
///
/// Sampling is the package's `TerrainGenerator.generate` for one native-size terrain: noise
/// x ~ N(0, 1) of shape 1×1×128×128, `noisy = 80·x` (σ_max = 80), one network call with
/// σ = 80 and the difficulty label. The exported graph already contains the consistency
/// preconditioning with σ_data = 0.5 and σ_min = 0.002 (read from the graph:
/// c_skip = σ_data² / ((σ − σ_min)² + σ_data²), c_out = (σ − σ_min)·σ_data / √(σ² + σ_data²),
/// c_in = 1 / √(σ² + σ_data²), noise embedding of 250·ln σ), which is why the package feeds it
/// the noisy sample and σ and uses its output as the denoised terrain as is; this endpoint does
/// the same. Only the noise differs: it comes from ``TerrainNoise`` instead of numpy, so that
/// seeds are reproducible bit for bit here without numpy. The package's 0.4.2 generator
/// rejects more than one sampling step, so `num_inference_steps` accepts only 1.
public struct TerrainDiffusion: Model {
    /// Side of the terrains the network produces.
    static let nativeSize = 128
    /// Noise level the one-step sampler starts from (the package's `sigma_max`).
    static let sigmaMax: Float = 80

    /// Creates the model.
    public init() {}

    /// The gallery entry: schemas of ``TerrainSchema``, the pinned ONNX file as weights.
    public var manifest: ModelManifest {
        ModelManifest(
            endpointID: "peregrine/terrain-diffusion", version: "1.0.0", category: "text-to-image",
            displayName: "Adaptive Terrain Diffusion",
            description: "Difficulty-conditioned 128×128 terrain heightmaps (16-bit PNG) with shaded relief previews, from the one-step consistency model of adaptive-terrain-diffusion 0.4.2.",
            inputSchema: TerrainSchema.input, outputSchema: TerrainSchema.output, schemaName: "TerrainDiffusion",
            weights: WeightsCatalog.terrainDiffusion.weightsFiles,
            memoryEstimateBytes: 64 << 20, maxConcurrency: 1, computeDemand: .wholePool)
    }

    /// Reads the ONNX file and plans the graph for one 128×128 terrain per call.
    /// - Throws: `ModelError` `.weightsMissing` (503) when the file was not pulled,
    ///   `.weightsInvalid` when the importer cannot read or plan it.
    public func load(context: LoadContext) async throws -> any LoadedModel {
        guard let file = WeightsCatalog.terrainDiffusion.files.first else {
            throw ModelError(.internalError, "terrain-diffusion has no weights file in the catalog")
        }
        let url = context.modelDirectory.appendingPathComponent(file.path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.weightsMissing, "weights \(file.path) are not in \(context.modelDirectory.path); run `peregrine models pull terrain-diffusion`")
        }
        let pool = try context.computePool()
        let runner = try await pool.execute {
            do {
                let model = try ONNXModel(contentsOf: url.path)
                return try ONNXGraphRunner(model: model, inputShapes: ["noisy": [1, 1, Self.nativeSize, Self.nativeSize], "sigma": [1], "difficulty": [1]],
                                           pool: pool)
            } catch let error as ModelFormatError {
                throw ModelError(.weightsInvalid, "\(file.path): \(error)")
            } catch {
                throw ModelError(.weightsInvalid, "\(file.path): \(error)")
            }
        }
        return LoadedTerrainDiffusion(runner: runner, pool: pool, footprintBytes: (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0)
    }
}
