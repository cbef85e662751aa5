import Kernels
import ModelKit

enum LoadedStableDiffusion {
    static func load(_ model: StableDiffusionModel, pool: ComputePool) async throws -> any LoadedModel {
        throw ModelError(.internalError, "pending")
    }
}
