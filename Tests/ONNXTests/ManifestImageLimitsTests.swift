import Foundation
import Kernels
@testable import ModelFormats
import Media
import ModelKit
@testable import Models
import Testing

/// Pixel limits of manifest image models: a tiled model's scaled output is bounded before the
/// tiler allocates it, and both limits come from `ImageLimits` (`PEREGRINE_IMAGE_*`).
@Suite struct ManifestImageLimitsTests {
    /// A tiled ×16 manifest over an identity graph (the limit is checked before the graph runs).
    private func tiledModel(limits: ImageLimits) throws -> LoadedONNXManifestModel {
        let definition = try ONNXManifest(json: [
            "format": "peregrine.onnx-manifest/1", "endpoint_id": "local/huge", "title": "Huge", "license": "MIT",
            "model": ["file": "huge.onnx"],
            "inputs": [["kind": "image", "tensor": "image"]],
            "outputs": [["kind": "image", "tensor": "output", "field": "image"]],
            "tiling": ["tile": 8, "scale": 16],
        ])
        let model = try ONNXModel(model: ONNXTestGraph.model(inputs: ["image"], outputs: ["output"],
                                                             nodes: [ONNXTestGraph.node("Identity", ["image"], ["output"])]))
        let types = try ManifestBinding.check(definition, model: model)
        return LoadedONNXManifestModel(definition: definition, model: model, types: types, footprintBytes: 0, pool: ComputePool(threads: 1), limits: limits)
    }

    /// A `side`×`side` gray PNG in a temporary file, as a `file://` URL string.
    private func png(side: Int) throws -> String {
        let image = try Image(width: side, height: side, channels: 3, samples: .uint8([UInt8](repeating: 128, count: side * side * 3)))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pg-limits-\(UUID().uuidString).png")
        try Data(image.encoded(as: .png())).write(to: url)
        return url.absoluteString
    }

    @Test func tiledOutputOverTheLimitIsRefusedBeforeRunning() async throws {
        // 16×16 at ×16 is 65,536 output pixels.
        let model = try tiledModel(limits: ImageLimits(maxOutputPixels: 65_535))
        let error = try await #require(throws: ModelError.self) {
            _ = try await model.run(input: ["image_url": .string(try png(side: 16))], context: ManifestRunContext())
        }
        #expect(error.code == .invalidInput && error.status == 422 && error.field == ["body", "image_url"])
        #expect(error.message.contains("65535 output pixels"))
    }

    @Test func inputOverTheLimitIsRefusedFromTheHeader() async throws {
        let model = try tiledModel(limits: ImageLimits(maxInputPixels: 255))
        let error = try await #require(throws: ModelError.self) {
            _ = try await model.run(input: ["image_url": .string(try png(side: 16))], context: ManifestRunContext())
        }
        #expect(error.status == 422 && error.field == ["body", "image_url"])
    }

    @Test func tensorOutputsOverTheLimitAreRefused() async throws {
        let definition = try ONNXManifest(json: [
            "format": "peregrine.onnx-manifest/1", "endpoint_id": "local/vector", "title": "Vector", "license": "MIT",
            "model": ["file": "vector.onnx"],
            "inputs": [["kind": "constant", "tensor": "x", "shape": [5], "values": [1]]],
            "outputs": [["kind": "tensor", "tensor": "y", "field": "values"]],
        ])
        let model = try ONNXModel(model: ONNXTestGraph.model(inputs: ["x"], outputs: ["y"],
                                                             nodes: [ONNXTestGraph.node("Identity", ["x"], ["y"])]))
        let types = try ManifestBinding.check(definition, model: model)
        let small = LoadedONNXManifestModel(definition: definition, model: model, types: types, footprintBytes: 0, pool: ComputePool(threads: 1),
                                            limits: ImageLimits(maxTensorOutputValues: 4))
        let error = try await #require(throws: ModelError.self) { _ = try await small.run(input: [:], context: ManifestRunContext()) }
        #expect(error.code == .invalidInput && error.message.contains("5 values"))
        let enough = LoadedONNXManifestModel(definition: definition, model: model, types: types, footprintBytes: 0, pool: ComputePool(threads: 1),
                                             limits: ImageLimits(maxTensorOutputValues: 5))
        let out = try await enough.run(input: [:], context: ManifestRunContext())
        #expect(out["values"]?["data"]?.arrayValue?.count == 5)
    }

    @Test func outputPixelsAreCheckedWithoutOverflow() {
        let limits = ImageLimits(maxOutputPixels: 100)
        #expect(limits.outputPixels(width: 5, height: 5, scale: 2) == 100)
        #expect(limits.outputPixels(width: 5, height: 5, scale: 3) == nil)
        #expect(limits.outputPixels(width: Int.max / 2, height: Int.max / 2, scale: 4) == nil)
        #expect(ImageLimits().outputPixels(width: 1 << 40, height: 1 << 40, scale: 1) == nil)
    }

    @Test func limitsComeFromTheEnvironment() {
        let limits = ImageLimits.fromEnvironment(["PEREGRINE_IMAGE_MAX_INPUT_PIXELS": "1000", "PEREGRINE_IMAGE_MAX_OUTPUT_PIXELS": "-5",
                                                    "PEREGRINE_IMAGE_MAX_TENSOR_VALUES": "12"])
        #expect(limits.maxInputPixels == 1000)
        #expect(limits.maxOutputPixels == ImageLimits().maxOutputPixels)
        #expect(limits.maxTensorOutputValues == 12)
        #expect(ImageLimits.fromEnvironment([:]) == ImageLimits())
    }
}
