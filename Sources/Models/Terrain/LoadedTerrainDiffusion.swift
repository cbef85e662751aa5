import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit

/// The terrain network planned for one 128×128 terrain per call.
struct LoadedTerrainDiffusion: LoadedModel {
    /// The graph specialized to batch 1 (translated once at load; a run only executes it).
    let runner: ONNXGraphRunner
    /// The process's compute pool: each denoising call runs on one of its job threads.
    let pool: ComputePool
    let footprintBytes: Int

    func run(input: JSONValue, context: RunContext) async throws -> JSONValue {
        let size = TerrainDiffusion.nativeSize
        let difficulty = Float(input["difficulty"]?.doubleValue ?? 0.5)
        let count = Int(input["num_images"]?.intValue ?? 1)
        let steps = Int(input["num_inference_steps"]?.intValue ?? 1)
        guard (0...1).contains(difficulty), (1...4).contains(count), steps == 1 else {
            throw ModelError(.invalidInput, "difficulty must be in [0, 1], num_images in 1...4 and num_inference_steps 1")
        }
        let seed: UInt64
        if let given = input["seed"] {
            guard let value = given.intValue, let exact = UInt64(exactly: value), exact <= UInt64(UInt32.max) else {
                throw ModelError(.invalidInput, "seed must be an integer in 0...4294967295", field: ["body", "seed"])
            }
            seed = exact
        } else {
            seed = UInt64.random(in: 0...UInt64(UInt32.max))
        }
        var noise = TerrainNoise(seed: seed)
        var images: [JSONValue] = [], previews: [JSONValue] = []
        var inference = 0.0
        for index in 0..<count {
            try context.checkCancellation()
            context.progress(Progress(fraction: Double(index) / Double(count), step: index + 1, total: count,
                                      message: "terrain \(index + 1) of \(count)"))
            let noisy = noise.normals(count: size * size).map { $0 * TerrainDiffusion.sigmaMax }
            let feeds: [String: ONNXTensor] = [
                "noisy": ONNXTensor(shape: [1, 1, size, size], floats: noisy),
                "sigma": ONNXTensor(shape: [1], floats: [TerrainDiffusion.sigmaMax]),
                "difficulty": ONNXTensor(shape: [1], floats: [difficulty]),
            ]
            let runner = self.runner
            let start = Date()
            let denoised = try await pool.execute { () throws -> [Float] in
                // Cancellation stops a run between layers.
                guard let out = try runner.run(feeds, checkpoint: { try context.checkCancellation() })["denoised"] else {
                    throw ModelError(.internalError, "the terrain graph has no output named denoised")
                }
                return out.floats
            }
            inference += Date().timeIntervalSince(start)
            let heights = TerrainRelief.heights(fromModel: denoised)
            let heightmap = try TerrainRelief.heightmap(heights, width: size, height: size).encoded(as: .png())
            let preview = try TerrainRelief.preview(heights, width: size, height: size).encoded(as: .png())
            let extra: [String: JSONValue] = ["width": .int(Int64(size)), "height": .int(Int64(size))]
            let stored = try await context.store(Data(heightmap), contentType: "image/png", fileName: "terrain-\(seed)-\(index).png")
            images.append(stored.json(extra: extra.merging(["max_height_m": .double(Double(TerrainRelief.heightRange))]) { $1 }))
            let shaded = try await context.store(Data(preview), contentType: "image/png", fileName: "terrain-\(seed)-\(index)-relief.png")
            previews.append(shaded.json(extra: extra))
        }
        context.progress(Progress(fraction: 1, step: count, total: count, message: "done"))
        return [
            "images": .array(images), "previews": .array(previews), "seed": .int(Int64(seed)),
            "timings": ["inference": .double(inference)],
        ]
    }
}
