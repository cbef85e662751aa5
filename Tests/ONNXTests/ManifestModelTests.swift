import Foundation
import Media
import ModelKit
@testable import Models
import Tensor
import Testing

/// Models registered from a manifest alone, run end to end and compared with onnxruntime.
@Suite struct ManifestModelTests {
    private func fixture(_ endpoint: String) throws -> ONNXManifestModel {
        let scan = try ManifestDirectory.scan(directory: ManifestFixtures.models)
        return try #require(scan.models.first { $0.definition.endpointID == endpoint })
    }

    @Test func directoryRegistersBothFixtures() throws {
        let scan = try ManifestDirectory.scan(directory: ManifestFixtures.models)
        #expect(scan.errors.isEmpty, "\(scan.errors)")
        #expect(scan.models.map(\.definition.endpointID) == ["local/tiny-filter", "local/tiny-generator"])
        let models = try ManifestDirectory.load(directory: ManifestFixtures.models)
        #expect(models.map(\.manifest.endpointID) == ["local/tiny-filter", "local/tiny-generator"])

        let filter = models[0].manifest
        #expect(filter.category == "image-to-image" && filter.schemaName == "TinyFilter")
        #expect(filter.memoryEstimateBytes == 16 << 20)
        #expect(filter.inputSchema["required"] == ["image_url"])
        #expect(filter.outputSchema["properties"]?["image"]?["required"] == ["url", "content_type", "width", "height"])
        let generator = models[1].manifest
        #expect(generator.category == "text-to-image")
        #expect(generator.inputSchema["properties"]?["strength"]?["default"] == 1.0)
        #expect(generator.inputSchema["properties"]?["seed"]?["type"] == "integer")
        #expect(generator.inputSchema["required"] == nil)
        #expect(generator.outputSchema["required"] == ["image", "channel_mean", "seed", "timings"])
    }

    @Test func missingDirectoryScansEmpty() throws {
        let scan = try ManifestDirectory.scan(directory: ManifestFixtures.directory.appendingPathComponent("absent"))
        #expect(scan.models.isEmpty && scan.errors.isEmpty)
    }

    @Test func filterMatchesOnnxruntime() async throws {
        let model = try fixture("local/tiny-filter")
        let context = ManifestRunContext()
        let input = ManifestFixtures.directory.appendingPathComponent("tiny-filter-input.png")
        let out = try await ManifestFixtures.run(model, ["image_url": .string(input.absoluteString)], context: context)
        #expect(out["image"]?["width"] == 23 && out["image"]?["height"] == 17)
        #expect(out["image"]?["content_type"] == "image/png")
        let image = try Image.decode(try #require(context.stored("image.png")))
        guard case .uint8(let samples) = image.samples else { Issue.record("expected 8-bit"); return }
        #expect(image.channels == 3)

        let golden = try ManifestFixtures.json("tiny-filter-output.json")
        #expect(golden["shape"] == [1, 3, 17, 23])
        let values = try #require(golden["values"]?.arrayValue).compactMap(\.doubleValue)
        let plane = 17 * 23
        var worst = 0
        for p in 0..<plane {
            for c in 0..<3 {
                let want = Int((min(max(values[c * plane + p], 0), 1) * 255).rounded())
                worst = max(worst, abs(Int(samples[p * 3 + c]) - want))
            }
        }
        // Float differences of ~1e-6 can move a sample across a rounding boundary, never further.
        #expect(worst <= 1)
        #expect(context.progressReports.last?.fraction == 1)
    }

    @Test func generatorMatchesOnnxruntime() async throws {
        let model = try fixture("local/tiny-generator")
        let golden = try ManifestFixtures.json("tiny-generator-output.json")
        // The fixture script replays TerrainNoise's stream in Python; both must agree exactly.
        var noise = TerrainNoise(seed: 1234)
        let first = try #require(golden["noise_first"]?.arrayValue).compactMap(\.doubleValue).map(Float.init)
        #expect(noise.normals(count: 8) == first)

        let context = ManifestRunContext()
        let out = try await ManifestFixtures.run(model, ["seed": 1234, "strength": 0.75], context: context)
        #expect(out["seed"] == 1234)
        #expect(out["image"]?["width"] == 16 && out["image"]?["height"] == 16)
        let image = try Image.decode(try #require(context.stored("image.png")))
        guard case .uint16(let samples) = image.samples else { Issue.record("expected 16-bit"); return }
        let want = try #require(golden["image"]?.arrayValue).compactMap(\.doubleValue)
        var worst = 0
        for p in 0..<256 {
            for c in 0..<3 {
                let expected = Int((min(max((want[c * 256 + p] + 1) / 2, 0), 1) * 65535).rounded())
                worst = max(worst, abs(Int(samples[p * 3 + c]) - expected))
            }
        }
        #expect(worst <= 2)

        #expect(out["channel_mean"]?["shape"] == [1, 3, 1, 1])
        let means = try #require(out["channel_mean"]?["data"]?.arrayValue).compactMap(\.doubleValue)
        let wantMeans = try #require(golden["channel_mean"]?.arrayValue).compactMap(\.doubleValue)
        #expect(means.count == 3)
        for (a, b) in zip(means, wantMeans) { #expect(abs(a - b) <= 1e-5) }
    }

    @Test func sameSeedSameBytesAndStrengthDefault() async throws {
        let model = try fixture("local/tiny-generator")
        let a = ManifestRunContext(), b = ManifestRunContext(), c = ManifestRunContext()
        _ = try await ManifestFixtures.run(model, ["seed": 9], context: a)
        _ = try await ManifestFixtures.run(model, ["seed": 9, "strength": 1], context: b)
        _ = try await ManifestFixtures.run(model, ["seed": 10], context: c)
        #expect(a.stored("image.png") != nil)
        #expect(a.stored("image.png") == b.stored("image.png"))
        #expect(a.stored("image.png") != c.stored("image.png"))
    }

    @Test func badRequestsNameTheirFields() throws {
        let generator = try fixture("local/tiny-generator").manifest
        #expect {
            try SchemaValidator(schema: generator.inputSchema).validate(["strength": 5])
        } throws: { error in
            (error as? SchemaValidationError)?.issues.first?.loc == [.key("body"), .key("strength")]
        }
        let filter = try fixture("local/tiny-filter").manifest
        #expect {
            try SchemaValidator(schema: filter.inputSchema).validate([:])
        } throws: { error in
            (error as? SchemaValidationError)?.issues.first?.loc == [.key("body"), .key("image_url")]
        }
    }

    @Test func undecodableImageIs422NamingTheField() async throws {
        let model = try fixture("local/tiny-filter")
        let bogus = try ManifestFixtures.write(["not": "an image"], name: "bogus.png")
        await #expect {
            _ = try await ManifestFixtures.run(model, ["image_url": .string(bogus.absoluteString)], context: ManifestRunContext())
        } throws: { error in
            let e = error as? ModelError
            return e?.status == 422 && e?.field == ["body", "image_url"]
        }
    }

    @Test func tiledFilterEqualsWholeImage() async throws {
        // The filter's receptive field is 2 pixels: 4 context pixels make 8×8 tiles seamless.
        var manifest = try ManifestFixtures.json("models.d/tiny-filter.json").objectValue!
        manifest["model"] = ["file": .string(ManifestFixtures.directory.appendingPathComponent("tiny-filter.onnx").path)]
        manifest["tiling"] = ["tile": 8, "context": 4]
        let tiled = try ONNXManifestModel(contentsOf: try ManifestFixtures.write(.object(manifest)))
        let whole = try fixture("local/tiny-filter")
        let input = ManifestFixtures.directory.appendingPathComponent("tiny-filter-input.png")
        let a = ManifestRunContext(), b = ManifestRunContext()
        _ = try await ManifestFixtures.run(tiled, ["image_url": .string(input.absoluteString)], context: a)
        _ = try await ManifestFixtures.run(whole, ["image_url": .string(input.absoluteString)], context: b)
        let ta = try Image.decode(try #require(a.stored("image.png"))), tb = try Image.decode(try #require(b.stored("image.png")))
        #expect(ta.width == tb.width && ta.height == tb.height)
        guard case .uint8(let sa) = ta.samples, case .uint8(let sb) = tb.samples else { Issue.record("expected 8-bit"); return }
        // Tiles may take another convolution path (Winograd or direct) than the whole image:
        // equal up to float rounding, so at most one sample step apart.
        #expect(zip(sa, sb).map { abs(Int($0) - Int($1)) }.max() ?? 99 <= 1)
        #expect(a.progressReports.contains { $0.total == 9 })
    }
}

/// The pixel vocabulary on its own: each mapping and its inverse.
@Suite struct ManifestPixelTests {
    private func mapping(_ range: String, mean: [Double] = [0], std: [Double] = [1], layout: String = "NCHW",
                         channels: String = "rgb") -> ONNXManifest.PixelMapping {
        ONNXManifest.PixelMapping(range: PixelRange(rawValue: range)!, mean: mean, std: std, layout: layout,
                                  channels: ChannelOrder(rawValue: channels)!)
    }

    /// A 1×3×2×3 image whose sample (c, y, x) is (c + 1) · 0.1 + y · 0.2 + x · 0.05.
    private var planes: Tensor {
        var values: [Float] = []
        for c in 0..<3 { for y in 0..<2 { for x in 0..<3 { values.append(Float(c + 1) * 0.1 + Float(y) * 0.2 + Float(x) * 0.05) } } }
        return Tensor(shape: Shape(n: 1, c: 3, h: 2, w: 3), values: values)
    }

    @Test func forwardAppliesRangeMeanStdOrderAndLayout() {
        let m = mapping("symmetric", mean: [0.5, 0, -0.5], std: [2, 1, 0.5], layout: "NHWC", channels: "bgr")
        let (shape, values) = ManifestPixels.forward(planes, m)
        #expect(shape == [1, 2, 3, 3])
        // Tensor channel 0 is blue (source channel 2); pixel (y 1, x 2) sits at (1·3 + 2)·3.
        let blue = Float(0.3 + 0.2 + 0.1), red = Float(0.1 + 0.2 + 0.1)
        #expect(abs(values[(1 * 3 + 2) * 3 + 0] - ((blue * 2 - 1) - 0.5) / 2) < 1e-6)
        #expect(abs(values[(1 * 3 + 2) * 3 + 2] - ((red * 2 - 1) + 0.5) / 0.5) < 1e-6)
    }

    @Test(arguments: ["unit", "symmetric", "byte"])
    func inverseUndoesForward(range: String) throws {
        for layout in ["NCHW", "NHWC"] {
            for channels in ["rgb", "bgr"] {
                let m = mapping(range, mean: [0.1, 0.2, 0.3], std: [0.5, 2, 1], layout: layout, channels: channels)
                let (shape, values) = ManifestPixels.forward(planes, m)
                let back = try ManifestPixels.inverse(values, shape: shape, m, name: "x")
                let worst = zip(back.toArray(), planes.toArray()).map { abs($0 - $1) }.max() ?? 1
                #expect(worst < 1e-5, "\(range) \(layout) \(channels)")
            }
        }
    }

    @Test func inverseClampsAndRejectsWrongShapes() throws {
        let m = mapping("unit", channels: "gray")
        let out = try ManifestPixels.inverse([-1, 0.5, 2, .nan], shape: [1, 1, 2, 2], m, name: "y")
        #expect(out.toArray() == [0, 0.5, 1, 0])
        #expect(throws: ModelError.self) { try ManifestPixels.inverse([0, 0, 0], shape: [1, 3, 1, 1], m, name: "y") }
        #expect(throws: ModelError.self) { try ManifestPixels.inverse([0, 0], shape: [2, 1], m, name: "y") }
    }
}

/// `pad` resizing: the graph sees a multiple of the requested extent, the caller the original size.
@Suite struct ManifestPadTests {
    @Test func paddedFilterIsCroppedBackAndAgreesInside() async throws {
        var manifest = try ManifestFixtures.json("models.d/tiny-filter.json").objectValue!
        manifest["model"] = ["file": .string(ManifestFixtures.directory.appendingPathComponent("tiny-filter.onnx").path)]
        manifest["inputs"] = [["kind": "image", "tensor": "image", "resize": ["mode": "pad", "multiple": 8]]]
        let padded = try ONNXManifestModel(contentsOf: try ManifestFixtures.write(.object(manifest)))
        let whole = try #require(try ManifestDirectory.scan(directory: ManifestFixtures.models).models.first)
        let input = ManifestFixtures.directory.appendingPathComponent("tiny-filter-input.png")
        let a = ManifestRunContext(), b = ManifestRunContext()
        let out = try await ManifestFixtures.run(padded, ["image_url": .string(input.absoluteString)], context: a)
        _ = try await ManifestFixtures.run(whole, ["image_url": .string(input.absoluteString)], context: b)
        #expect(out["image"]?["width"] == 23 && out["image"]?["height"] == 17)
        let pa = try Image.decode(try #require(a.stored("image.png"))), pb = try Image.decode(try #require(b.stored("image.png")))
        guard case .uint8(let sa) = pa.samples, case .uint8(let sb) = pb.samples else { Issue.record("expected 8-bit"); return }
        // Away from the right and bottom edges (the receptive radius is 2) padding changes nothing.
        var worst = 0
        for y in 0..<15 { for x in 0..<21 { for c in 0..<3 { worst = max(worst, abs(Int(sa[(y * 23 + x) * 3 + c]) - Int(sb[(y * 23 + x) * 3 + c]))) } } }
        #expect(worst <= 1)
    }
}
