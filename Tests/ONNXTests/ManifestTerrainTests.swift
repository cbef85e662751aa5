import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
@testable import Models
import Testing

/// The published terrain UNet registered from a manifest alone (the plain one-step pipeline of
/// docs/onnx-manifests.md), checked against the same graph fed by hand.
@Suite(.serialized) struct ManifestTerrainTests {
    static func manifest(modelFile: String) -> JSONValue {
        [
            "format": "peregrine.onnx-manifest/1",
            "endpoint_id": "local/terrain-one-step",
            "title": "Terrain (one step)",
            "description": "adaptive-terrain-diffusion 0.4.2, one consistency step from sigma 80.",
            "license": "MIT, Youwei Yu",
            "model": ["file": .string(modelFile)],
            "inputs": [
                ["kind": "seed_noise", "tensor": "noisy", "shape": [1, 1, 128, 128], "std": 80],
                ["kind": "constant", "tensor": "sigma", "shape": [1], "values": [80]],
                ["kind": "number", "tensor": "difficulty", "field": "difficulty", "minimum": 0, "maximum": 1, "default": 0.5],
            ],
            "outputs": [
                ["kind": "image", "tensor": "denoised", "field": "heightmap", "channels": "gray", "range": "symmetric", "bit_depth": 16],
            ],
        ]
    }

    @Test func terrainFromManifestMatchesTheGraph() async throws {
        _ = try await TerrainEndpoint.loaded.value  // pulls the weights when missing
        let file = TerrainEndpoint.modelDirectory.appendingPathComponent("terrain-diffusion/terrain_consistency_unet_difficulty100.onnx")
        let model = try ONNXManifestModel(contentsOf: try ManifestFixtures.write(Self.manifest(modelFile: file.path)))
        #expect(model.manifest.inputSchema["properties"]?["difficulty"]?["maximum"] == 1.0)
        let context = ManifestRunContext()
        let out = try await ManifestFixtures.run(model, ["seed": 42, "difficulty": 0.25], context: context)
        #expect(out["seed"] == 42 && out["heightmap"]?["width"] == 128)
        let image = try Image.decode(try #require(context.stored("heightmap.png")))
        guard case .uint16(let samples) = image.samples else { Issue.record("expected 16-bit"); return }

        var noise = TerrainNoise(seed: 42)
        let feeds: [String: ONNXTensor] = [
            "noisy": ONNXTensor(shape: [1, 1, 128, 128], floats: noise.normals(count: 128 * 128).map { $0 * 80 }),
            "sigma": ONNXTensor(shape: [1], floats: [80]),
            "difficulty": ONNXTensor(shape: [1], floats: [0.25]),
        ]
        let runner = try ONNXGraphRunner(model: try ONNXModel(contentsOf: file.path), inputShapes: feeds.mapValues(\.shape),
                                         pool: ComputePool(threads: 2))
        let direct = try #require(try runner.run(feeds)["denoised"]).floats
        let expected = direct.map { UInt16((min(max(($0 + 1) / 2, 0), 1) * 65535).rounded()) }
        #expect(zip(samples, expected).map { abs(Int($0) - Int($1)) }.max() == 0)
    }
}
