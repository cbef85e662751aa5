import Graph
import Kernels
import ModelKit

/// The engine's models, for the platform's registry.
public enum EngineModels {
    /// Every model this engine serves.
    /// - Parameter precision: precision of the convolutions (`.bf16` uses AMX where the CPU has it).
    public static func all(precision: ComputePrecision = .fp32) -> [any Model] {
        [
            RealESRAnimeVideoV3(precision: precision),
            RealESRGANx4Plus(flavor: .photo, precision: precision),
            RealESRGANx4Plus(flavor: .anime, precision: precision),
            Waifu2x(precision: precision),
            VideoUpscale(precision: precision),
            TerrainDiffusion(),
        ]
    }
}
