import Graph
import Kernels
import ModelKit

/// The engine's models, for the platform's registry.
public enum EngineModels {
    /// Every model this engine serves: the gallery's upscaler manifests, then the families
    /// whose control flow is Swift (video upscaling, terrain diffusion).
    /// - Parameter precision: precision of the convolutions (`.bf16` uses AMX where the CPU has it).
    /// - Throws: ``ManifestError`` when a shipped manifest does not parse.
    public static func all(precision: ComputePrecision = .fp32) throws -> [any Model] {
        try Gallery.upscalers().map { ManifestUpscaler($0, precision: precision) } + [
            VideoUpscale(precision: precision),
            TerrainDiffusion(),
        ]
    }
}
