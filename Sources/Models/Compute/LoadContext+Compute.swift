import Foundation
import Kernels
import ModelKit

extension LoadContext {
    /// A load context around an engine pool (tools, benchmarks and tests that load models
    /// without the platform).
    /// - Parameters:
    ///   - modelDirectory: the model cache directory.
    ///   - pool: the compute pool the models run on.
    public init(modelDirectory: URL, pool: ComputePool) {
        self.init(modelDirectory: modelDirectory, compute: ComputeResources(pool: pool))
    }

    /// The engine's compute pool that the platform handed over.
    /// - Throws: `ModelError` `.internalError` when the platform's handle is not an engine pool
    ///   (a composition root that forgot to create one): failing the load beats a hidden pool.
    public func computePool() throws -> ComputePool {
        guard let pool = compute.handle as? ComputePool else {
            throw ModelError(.internalError, "the platform's compute handle is \(type(of: compute.handle)), not the engine's ComputePool")
        }
        return pool
    }
}

extension ComputeResources {
    /// Wraps the engine's pool.
    /// - Parameter pool: the process's compute pool.
    public init(pool: ComputePool) {
        self.init(threads: pool.threadCount, handle: pool)
    }
}
