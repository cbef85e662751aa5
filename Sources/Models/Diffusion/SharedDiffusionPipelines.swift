import Foundation
import Kernels

/// The pipelines of loaded Stable Diffusion endpoints, shared by the endpoints of one checkpoint:
/// text-to-image, image-to-image and inpainting run the same weights, so loading all three
/// must not hold three copies. Held weakly: a pipeline lives while any endpoint keeps it loaded,
/// and the residency controller evicts endpoints, not pipelines.
final class SharedDiffusionPipelines: @unchecked Sendable {
    /// The process's pipelines.
    static let shared = SharedDiffusionPipelines()

    /// What makes two endpoints' pipelines the same.
    struct Key: Hashable {
        var checkpoint: String
        var family: DiffusionCheckpoint.Family
        var predictionType: String?
        var previewDecoder: String?
        var safetyChecker: String?
        var precision: String
        /// The pool the pipeline's graphs run on.
        var pool: ObjectIdentifier
    }

    private final class Entry {
        weak var pipeline: StableDiffusionPipeline?
        init(_ pipeline: StableDiffusionPipeline) { self.pipeline = pipeline }
    }

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]

    /// The live pipeline for `key`, or the one `make` builds (outside the lock: building takes
    /// seconds; two endpoints loading at once may both build, and the first one stored wins).
    func pipeline(for key: Key, make: () throws -> StableDiffusionPipeline) rethrows -> StableDiffusionPipeline {
        if let live = lock.withLock({ entries[key]?.pipeline }) { return live }
        let made = try make()
        return lock.withLock {
            if let live = entries[key]?.pipeline { return live }
            entries = entries.filter { $0.value.pipeline != nil }
            entries[key] = Entry(made)
            return made
        }
    }
}
