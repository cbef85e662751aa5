import Foundation
import ModelKit
@testable import Models
import Testing
import Weights

/// The gallery's upscalers are manifests: they must say exactly what the Swift definitions they
/// replaced said, and the reader must reject anything it does not understand.
@Suite("Upscaler manifests")
struct UpscalerManifestTests {
    @Test("the gallery ships four ncnn upscalers, in registry order")
    func galleryParses() throws {
        let gallery = try Gallery.upscalers()
        #expect(gallery.map(\.endpointID) == [
            "peregrine/realesr-animevideov3", "peregrine/realesrgan-x4plus", "peregrine/realesrgan-x4plus-anime", "peregrine/waifu2x",
        ])
        #expect(gallery.allSatisfy { $0.format == .ncnn })
    }

    /// waifu2x-ncnn-vulkan's networks and padding, as the Swift definition gave them before
    /// the manifest replaced it.
    static func waifu2xReference(model: String, noise: Int, scale: Int) -> UpscalerVariant? {
        guard ["cunet", "upconv_7_photo", "upconv_7_anime_style_art_rgb"].contains(model) else { return nil }
        let directory = model == "cunet" ? "models-cunet" : "models-\(model)"
        let stem: String
        switch (noise, scale) {
        case (-1, 2): stem = "scale2.0x_model"
        case (-1, _): return nil
        case (_, 2): stem = "noise\(noise)_scale2.0x_model"
        default:
            guard model == "cunet" else { return nil }
            stem = "noise\(noise)_model"
        }
        let context = model == "cunet" ? (scale == 1 ? 28 : 18) : 7
        return UpscalerVariant(param: "waifu2x/\(directory)/\(stem).param", inputBlob: "Input1", outputBlob: "Eltwise4",
                               scale: scale, context: context, alignment: scale == 1 ? 4 : 2, shrinksByContext: true)
    }

    @Test("waifu2x's manifest picks the same network as the Swift definition for every request, and 422s the rest")
    func waifu2xMatchesReference() throws {
        let manifest = try Gallery.upscaler("peregrine/waifu2x")
        for model in ["cunet", "upconv_7_photo", "upconv_7_anime_style_art_rgb", "vgg_7"] {
            for noise in -1...3 {
                for scale in [1, 2] {
                    if let expected = Self.waifu2xReference(model: model, noise: noise, scale: scale) {
                        #expect(try manifest.variant(scale: scale, noiseLevel: noise, model: model) == expected)
                    } else {
                        #expect { try manifest.variant(scale: scale, noiseLevel: noise, model: model) } throws: {
                            ($0 as? ModelError)?.status == 422
                        }
                    }
                }
            }
        }
    }

    @Test("Real-ESRGAN's manifests pick the networks and padding of the Swift definitions")
    func realESRGANMatchesReference() throws {
        let anime = try Gallery.upscaler("peregrine/realesr-animevideov3")
        for scale in 2...4 {
            #expect(try anime.variant(scale: scale, noiseLevel: nil, model: nil) == UpscalerVariant(
                param: "realesr-animevideov3/realesr-animevideov3-x\(scale).param", inputBlob: "data", outputBlob: "output",
                scale: scale, context: 18, alignment: 1, shrinksByContext: false, borderPad: 10))
        }
        for flavor in ["realesrgan-x4plus", "realesrgan-x4plus-anime"] {
            #expect(try Gallery.upscaler("peregrine/\(flavor)").variant(scale: 4, noiseLevel: nil, model: nil) == UpscalerVariant(
                param: "\(flavor)/\(flavor).param", inputBlob: "data", outputBlob: "output", scale: 4, context: 16, alignment: 1,
                shrinksByContext: false, borderPad: 10))
        }
    }

    @Test("the endpoints' schemas are the ones the Swift definitions generated")
    func schemasUnchanged() throws {
        let waifu2x = ManifestUpscaler(try Gallery.upscaler("peregrine/waifu2x")).manifest
        #expect(waifu2x.inputSchema == UpscalerSchema.input(scales: [1, 2], defaultScale: 2, extra: [
            "noise_level": [
                "type": "integer", "title": "Noise Level", "minimum": -1, "maximum": 3, "default": 0,
                "description": "Denoising strength; -1 turns denoising off (scale 2 only).",
            ],
            "model": [
                "type": "string", "title": "Model", "enum": ["cunet", "upconv_7_photo", "upconv_7_anime_style_art_rgb"], "default": "cunet",
                "description": "cunet (best, slower; the only one with scale 1) or upconv_7 (photo or anime).",
            ],
        ], order: ["noise_level", "model"]))
        #expect(waifu2x.schemaName == "Waifu2x" && waifu2x.memoryEstimateBytes == 128 << 20)
        #expect(waifu2x.weights == WeightsCatalog.waifu2x.weightsFiles)
        let anime = ManifestUpscaler(try Gallery.upscaler("peregrine/realesr-animevideov3")).manifest
        #expect(anime.inputSchema == UpscalerSchema.input(scales: [2, 3, 4], defaultScale: 4))
        #expect(anime.displayName == "Real-ESRGAN AnimeVideo v3" && anime.schemaName == "RealESRAnimeVideoV3")
        let photo = ManifestUpscaler(try Gallery.upscaler("peregrine/realesrgan-x4plus")).manifest
        #expect(photo.inputSchema == UpscalerSchema.input(scales: [4], defaultScale: 4))
        #expect(photo.memoryEstimateBytes == 160 << 20 && photo.computeDemand == .wholePool)
    }

    static func minimal() -> [String: JSONValue] {
        [
            "format": "ncnn", "endpoint_id": "local/up", "title": "Up", "schema_name": "Up", "weights": "realesr-animevideov3",
            "upscale": [
                "scales": [2], "networks": [[
                    "scale": 2, "param": "x/x.param", "input": "data", "output": "output", "tiling": ["context": 4],
                ]],
            ],
        ]
    }

    @Test("a minimal manifest parses with the defaults")
    func minimalParses() throws {
        let m = try UpscalerManifest(json: .object(Self.minimal()))
        #expect(m.defaultScale == 2 && m.maxConcurrency == 1 && m.version == "1.0.0" && m.category == "image-to-image")
        #expect(try m.variant(scale: 2, noiseLevel: nil, model: nil).context == 4)
    }

    /// A mutation of the minimal manifest and the field its error must name.
    struct Broken: Sendable, CustomTestStringConvertible {
        let field: String
        let mutate: @Sendable (inout [String: JSONValue]) -> Void
        var testDescription: String { field }
    }

    static let broken: [Broken] = [
        Broken(field: "format") { $0["format"] = "onnx" },
        Broken(field: "format") { $0["format"] = "tflite" },
        Broken(field: "colour") { $0["colour"] = "blue" },
        Broken(field: "weights") { $0["weights"] = "no-such-package" },
        Broken(field: "endpoint_id") { $0["endpoint_id"] = "no-slash" },
        Broken(field: "upscale.scales[0]") { $0["upscale"] = $0["upscale"]?.setting("scales", [2.5]) },
        Broken(field: "upscale.default_scale") { $0["upscale"] = $0["upscale"]?.setting("default_scale", 3) },
        Broken(field: "upscale.networks[0].param") { $0["upscale"] = $0["upscale"]?.settingNetwork("param", "../../etc/x.param") },
        Broken(field: "upscale.networks[0].param") { $0["upscale"] = $0["upscale"]?.settingNetwork("param", "/abs/x.param") },
        Broken(field: "upscale.networks[0].noise_level") { $0["upscale"] = $0["upscale"]?.settingNetwork("noise_level", 1) },
        Broken(field: "upscale.networks[0].model") { $0["upscale"] = $0["upscale"]?.settingNetwork("model", "cunet") },
        Broken(field: "upscale.networks[0].tiling.context") {
            $0["upscale"] = $0["upscale"]?.settingNetwork("tiling", ["context": 100_000])
        },
        Broken(field: "upscale.networks[0].tiling.valid_convolutions") {
            $0["upscale"] = $0["upscale"]?.settingNetwork("tiling", ["valid_convolutions": "yes"])
        },
        Broken(field: "upscale.networks[0].scale") { $0["upscale"] = $0["upscale"]?.settingNetwork("scale", 4) },
    ]

    @Test("a manifest the reader does not fully understand is an error naming the field", arguments: broken)
    func brokenManifests(_ broken: Broken) {
        var manifest = Self.minimal()
        broken.mutate(&manifest)
        #expect { try UpscalerManifest(json: .object(manifest)) } throws: { error in
            (error as? ManifestError)?.field == broken.field
        }
    }
}

private extension JSONValue {
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var o) = self else { return self }
        o[key] = value
        return .object(o)
    }

    /// The `upscale` object with a member of its first network set.
    func settingNetwork(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var o) = self, case .array(var networks)? = o["networks"] else { return self }
        networks[0] = networks[0].setting(key, value)
        o["networks"] = .array(networks)
        return .object(o)
    }
}
