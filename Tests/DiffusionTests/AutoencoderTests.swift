import Foundation
import Graph
import Kernels
import Media
import ModelFormats
import Tensor
import Testing
@testable import Models

/// The autoencoders against diffusers (goldens of `scripts/diffusion/make_autoencoder_goldens.py`).
@Suite("Autoencoders")
struct AutoencoderTests {
    struct Golden: Decodable {
        struct Decode: Decodable {
            var input: String
            var shape: [Int]
            var output: [Float]
            var rgb8: [UInt8]?
        }
        struct Encode: Decodable {
            var input: String
            var shape: [Int]
            var mean: [Float]
            var logvar: [Float]?
            var noise: String?
            var sample: [Float]?
            var latents: [Float]
        }
        struct Model: Decodable {
            var name: String
            var weights: [String: [Int]]
            var decode: [Decode]
            var encode: [Encode]
        }
        var kl: [Model]
        var tiny: [Model]
    }

    static let goldenData: Data = {
        do { return try DiffusionFixtures.golden("autoencoders.json") } catch { fatalError("autoencoders.json: \(error)") }
    }()

    static let golden: Golden = {
        do { return try JSONDecoder().decode(Golden.self, from: goldenData) } catch { fatalError("autoencoders.json: \(error)") }
    }()

    /// A model's `config` object as the `config.json` bytes it came from.
    static func configJSON(_ family: String, _ name: String) throws -> Data {
        let root = try #require(try JSONSerialization.jsonObject(with: goldenData) as? [String: Any])
        let models = try #require(root[family] as? [[String: Any]])
        let model = try #require(models.first { $0["name"] as? String == name })
        return try JSONSerialization.data(withJSONObject: try #require(model["config"]))
    }

    static func model(_ family: String, _ name: String) throws -> Golden.Model {
        try #require((family == "kl" ? golden.kl : golden.tiny).first { $0.name == name })
    }

    static func klModel(_ name: String, tensors: [String: Tensor]? = nil, includeEncoder: Bool = true) throws -> AutoencoderKL {
        let m = try model("kl", name)
        let weights = DiffusionWeights(component: "vae", tensors: tensors ?? TinyWeights.tensors(m.weights))
        return try AutoencoderKL(configJSON: try configJSON("kl", name), weights: weights, pool: .shared,
                                 includeEncoder: includeEncoder)
    }

    static func tinyModel(_ name: String, tensors: [String: Tensor]? = nil) throws -> TinyAutoencoder {
        let m = try model("tiny", name)
        let weights = DiffusionWeights(component: "taesd", tensors: tensors ?? TinyWeights.tensors(m.weights))
        return try TinyAutoencoder(configuration: try TinyAutoencoderConfiguration.parse(try configJSON("tiny", name)),
                                   weights: weights, pool: .shared)
    }

    /// The largest absolute difference and the reference's largest magnitude.
    static func compare(_ actual: Tensor, _ expected: [Float], shape: [Int]? = nil, _ what: String) -> Float {
        if let shape { #expect(actual.shape.dims == shape, "\(what): shape") }
        #expect(actual.count == expected.count, "\(what): element count")
        let a = actual.toArray()
        let error = zip(a, expected).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        let scale = expected.reduce(Float(1)) { max($0, abs($1)) }
        // Float reassociation in the convolutions and norms only; the tiny models' outputs are O(1).
        #expect(error <= 1e-4 * scale, "\(what): max abs error \(error) at scale \(scale)")
        return error
    }

    /// Decoder outputs are [N, 3, h·f, w·f].
    static func imageShape(_ latent: [Int], factor: Int) -> [Int] {
        [latent[0], 3, latent[2] * factor, latent[3] * factor]
    }

    static func checkRGB8(_ decoded: Tensor, reference: Golden.Decode, _ what: String) throws {
        guard let expected = reference.rgb8 else { return }
        // On diffusers' own floats the conversion is exact.
        let golden = Tensor(shape: decoded.shape, values: reference.output)
        let exact = try DiffusionImage.rgb8(fromDecoded: golden).flatMap { image -> [UInt8] in
            guard case .uint8(let s) = image.samples else { return [] }
            return s
        }
        #expect(exact == expected, "\(what): RGB8 of the reference floats")
        // On ours, a sample may land across a rounding boundary: at most one step off.
        let ours = try DiffusionImage.rgb8(fromDecoded: decoded).flatMap { image -> [UInt8] in
            guard case .uint8(let s) = image.samples else { return [] }
            return s
        }
        #expect(ours.count == expected.count)
        #expect(zip(ours, expected).allSatisfy { abs(Int($0) - Int($1)) <= 1 }, "\(what): RGB8")
    }

    // MARK: AutoencoderKL

    @Test("AutoencoderKL decode(latents:) matches the pipeline's vae.decode(latents / scaling_factor [+ shift])",
          arguments: ["sd", "sd3"])
    func klDecode(name: String) throws {
        let vae = try Self.klModel(name)
        for (k, c) in try Self.model("kl", name).decode.enumerated() {
            let latents = TinyWeights.input(c.input, shape: c.shape)
            let image = try vae.decode(latents: latents)
            let error = Self.compare(image, c.output, shape: Self.imageShape(c.shape, factor: vae.downsamplingFactor),
                                     "\(name) decode \(c.shape)")
            print("autoencoder \(name) decode \(c.shape): max abs error \(error)")
            if k == 0 { try Self.checkRGB8(image, reference: c, "\(name) decode") }
        }
    }

    @Test("AutoencoderKL encode: mean, clamped logvar, a noise sample and the pipeline's scaled latents",
          arguments: ["sd", "sd3"])
    func klEncode(name: String) throws {
        let vae = try Self.klModel(name)
        for c in try Self.model("kl", name).encode {
            let image = TinyWeights.input(c.input, shape: c.shape)
            let distribution = try vae.encode(image: image)
            let what = "\(name) encode \(c.shape)"
            let errors = [
                Self.compare(distribution.mean, c.mean, "\(what) mean"),
                Self.compare(try #require(distribution.logvar), try #require(c.logvar), "\(what) logvar"),
                Self.compare(try distribution.sample(noise: TinyWeights.input(try #require(c.noise), shape: distribution.mean.shape.dims)),
                             try #require(c.sample), "\(what) sample"),
                Self.compare(try vae.latents(fromImage: image, noise: nil), c.latents, "\(what) latents"),
            ]
            print("autoencoder \(what): max abs errors (mean, logvar, sample, latents) \(errors)")
        }
    }

    struct Stop: Error {}

    @Test("a throwing checkpoint stops a decode between layers and leaves the model usable")
    func klCheckpointStops() throws {
        let vae = try Self.klModel("sd", includeEncoder: false)
        let c = try Self.model("kl", "sd").decode[0]
        let latents = TinyWeights.input(c.input, shape: c.shape)
        var calls = 0
        #expect(throws: Stop.self) {
            try vae.decode(latents: latents) {
                calls += 1
                if calls == 5 { throw Stop() }
            }
        }
        #expect(calls == 5)
        _ = Self.compare(try vae.decode(latents: latents), c.output, "decode after a stopped one")
    }

    @Test("at bf16 the decoder stays within bf16 rounding of diffusers' float32 output")
    func klDecodeBF16() throws {
        let m = try Self.model("kl", "sd")
        let vae = try AutoencoderKL(configJSON: try Self.configJSON("kl", "sd"),
                                    weights: DiffusionWeights(component: "vae", tensors: TinyWeights.tensors(m.weights)),
                                    pool: .shared, precision: .bf16, includeEncoder: false)
        let c = m.decode[0]
        let image = try vae.decode(latents: TinyWeights.input(c.input, shape: c.shape))
        let error = zip(image.toArray(), c.output).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        print("autoencoder sd decode bf16: max abs error \(error)")
        #expect(error <= 0.05, "max abs error \(error)")
    }

    @Test("the mid-block attention also loads from the deprecated query/key/value/proj_attn names and 1×1 convolutions")
    func klLegacyAttentionNames() throws {
        let m = try Self.model("kl", "sd")
        var tensors = TinyWeights.tensors(m.weights)
        let prefix = "decoder.mid_block.attentions.0"
        for (new, old) in [("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")] {
            for part in ["weight", "bias"] {
                var t = try #require(tensors["\(prefix).\(new).\(part)"])
                tensors["\(prefix).\(new).\(part)"] = nil
                if part == "weight" { t = try t.reshaped(Shape(t.shape.dims + [1, 1])) }
                tensors["\(prefix).\(old).\(part)"] = t
            }
        }
        let vae = try Self.klModel("sd", tensors: tensors, includeEncoder: false)
        let c = m.decode[0]
        _ = Self.compare(try vae.decode(latents: TinyWeights.input(c.input, shape: c.shape)), c.output, "legacy names decode")
    }

    @Test("a missing tensor is an error naming it", arguments: [
        "decoder.mid_block.attentions.0.to_q.weight", "decoder.up_blocks.1.resnets.0.conv_shortcut.bias",
        "post_quant_conv.weight", "encoder.down_blocks.0.downsamplers.0.conv.weight", "quant_conv.bias",
    ])
    func klMissingTensor(name: String) throws {
        var tensors = TinyWeights.tensors(try Self.model("kl", "sd").weights)
        #expect(tensors.removeValue(forKey: name) != nil)
        let error = try #require(throws: ModelFormatError.self) { try Self.klModel("sd", tensors: tensors) }
        #expect(error.code == .malformed)
        #expect("\(error)".contains("missing tensor \(name)"), "\(error)")
    }

    @Test("a mis-shaped tensor is an error naming both shapes")
    func klMisshapedTensor() throws {
        var tensors = TinyWeights.tensors(try Self.model("kl", "sd").weights)
        tensors["decoder.conv_in.weight"] = Tensor(zeros: Shape([64, 4, 1, 1]))
        let error = try #require(throws: ModelFormatError.self) { try Self.klModel("sd", tensors: tensors) }
        #expect("\(error)".contains("decoder.conv_in.weight has shape [64, 4, 1, 1], expected [64, 4, 3, 3]"), "\(error)")
    }

    @Test("a tensor the configuration does not use is an error naming it; without the encoder, its tensors are ignored")
    func klUnusedTensor() throws {
        let m = try Self.model("kl", "sd")
        var tensors = TinyWeights.tensors(m.weights)
        tensors["decoder.up_blocks.0.resnets.2.norm1.weight"] = Tensor(zeros: Shape([64]))
        let error = try #require(throws: ModelFormatError.self) { try Self.klModel("sd", tensors: tensors) }
        #expect("\(error)".contains("decoder.up_blocks.0.resnets.2.norm1.weight"), "\(error)")

        let decoderOnly = try Self.klModel("sd", includeEncoder: false)
        #expect(!decoderOnly.canEncode)
        #expect(throws: GraphError.self) { try decoderOnly.encode(image: Tensor(zeros: Shape([1, 3, 8, 8]))) }
    }

    @Test("latents and images of the wrong shape fail with a graph error, not a trap")
    func klWrongInput() throws {
        let vae = try Self.klModel("sd", includeEncoder: false)
        #expect(throws: GraphError.self) { try vae.decode(latents: Tensor(zeros: Shape([1, 3, 4, 4]))) }
        #expect(throws: GraphError.self) { try vae.decode(latents: Tensor(zeros: Shape([4, 4]))) }
        let encoder = try Self.klModel("sd")
        #expect(throws: GraphError.self) { try encoder.encode(image: Tensor(zeros: Shape([1, 3, 1, 8]))) }
        #expect(throws: GraphError.self) { try encoder.encode(image: Tensor(zeros: Shape([1, 4, 8, 8]))) }
        let tiny = try Self.tinyModel("taesd")
        #expect(throws: GraphError.self) { try tiny.decode(latents: Tensor(zeros: Shape([1, 3, 4, 4]))) }
        #expect(throws: GraphError.self) { try tiny.encode(image: Tensor(zeros: Shape([1, 1, 8, 8]))) }
    }

    // MARK: Configuration

    @Test("config.json fields absent from a file take diffusers' defaults (SD 1.5, SDXL, TAESD files)")
    func configurationDefaults() throws {
        let sd15 = try AutoencoderKLConfiguration.parse(Data("""
            {"_class_name": "AutoencoderKL", "_diffusers_version": "0.6.0", "act_fn": "silu",
             "block_out_channels": [128, 256, 512, 512],
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
             "sample_size": 512,
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}
            """.utf8))
        try sd15.validate()
        #expect(sd15.scalingFactor == 0.18215)
        #expect(sd15.shiftFactor == nil)
        #expect(sd15.useQuantConv && sd15.usePostQuantConv && sd15.midBlockAddAttention && sd15.forceUpcast)
        #expect(sd15.downsamplingSteps == 3)
        #expect(sd15.latentScaling == LatentScaling(scalingFactor: 0.18215))

        let sdxl = try AutoencoderKLConfiguration.parse(Data("""
            {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "sample_size": 1024,
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
             "scaling_factor": 0.13025, "force_upcast": false, "shift_factor": null}
            """.utf8))
        #expect(sdxl.scalingFactor == 0.13025)
        #expect(!sdxl.forceUpcast)

        let empty = try AutoencoderKLConfiguration.parse(Data("{}".utf8))
        #expect(empty == AutoencoderKLConfiguration())
        #expect(empty.blockOutChannels == [64] && empty.layersPerBlock == 1 && empty.normNumGroups == 32 && empty.sampleSize == 32)

        let taesd = try TinyAutoencoderConfiguration.parse(Data("""
            {"_class_name": "AutoencoderTiny", "act_fn": "relu", "decoder_block_out_channels": [64, 64, 64, 64],
             "encoder_block_out_channels": [64, 64, 64, 64], "in_channels": 3, "latent_channels": 4,
             "num_decoder_blocks": [3, 3, 3, 1], "num_encoder_blocks": [1, 3, 3, 3], "out_channels": 3,
             "upsampling_scaling_factor": 2}
            """.utf8))
        try taesd.validate()
        #expect(taesd == TinyAutoencoderConfiguration())
        #expect(taesd.scalingFactor == 1 && taesd.shiftFactor == 0 && taesd.latentMagnitude == 3 && taesd.latentShift == 0.5)
        #expect(taesd.latentScaling == LatentScaling(scalingFactor: 1))
    }

    @Test("unsupported or out-of-range configurations are refused before any tensor is read", arguments: [
        #"{"act_fn": "gelu"}"#, #"{"block_out_channels": [48], "norm_num_groups": 32}"#, #"{"block_out_channels": []}"#,
        #"{"layers_per_block": 0}"#, #"{"layers_per_block": 100000}"#, #"{"block_out_channels": [64, 64]}"#,
        #"{"down_block_types": ["AttnDownEncoderBlock2D"]}"#, #"{"latent_channels": -4}"#, #"{"scaling_factor": 0}"#,
        #"{"latents_mean": [0, 0, 0, 0]}"#, #"{"norm_num_groups": 0}"#,
    ])
    func configurationRefused(json: String) throws {
        let configuration = try AutoencoderKLConfiguration.parse(Data(json.utf8))
        #expect(throws: ModelFormatError.self) {
            try AutoencoderKL(configuration: configuration, weights: DiffusionWeights(component: "vae", tensors: [:]), pool: .shared)
        }
    }

    // MARK: AutoencoderTiny

    @Test("TinyAutoencoder decode(latents:) matches StableDiffusionPipeline's vae.decode(latents / 1.0) with AutoencoderTiny")
    func tinyDecode() throws {
        let vae = try Self.tinyModel("taesd")
        #expect(vae.downsamplingFactor == 4)
        for (k, c) in try Self.model("tiny", "taesd").decode.enumerated() {
            let image = try vae.decode(latents: TinyWeights.input(c.input, shape: c.shape))
            let error = Self.compare(image, c.output, shape: Self.imageShape(c.shape, factor: 4), "taesd decode \(c.shape)")
            print("autoencoder taesd decode \(c.shape): max abs error \(error)")
            if k == 0 { try Self.checkRGB8(image, reference: c, "taesd decode") }
        }
    }

    @Test("TinyAutoencoder encode matches AutoencoderTiny.encode(x).latents (deterministic: sampling returns it)")
    func tinyEncode() throws {
        let vae = try Self.tinyModel("taesd")
        for c in try Self.model("tiny", "taesd").encode {
            let image = TinyWeights.input(c.input, shape: c.shape)
            let distribution = try vae.encode(image: image)
            #expect(distribution.logvar == nil)
            let errors = [
                Self.compare(distribution.mean, c.mean, "taesd encode mean"),
                Self.compare(try vae.latents(fromImage: image, noise: Tensor(zeros: distribution.mean.shape)), c.latents,
                             "taesd encode latents"),
            ]
            print("autoencoder taesd encode \(c.shape): max abs errors \(errors)")
        }
    }

    @Test("a missing TAESD tensor is an error naming it", arguments: ["decoder.layers.4.weight", "encoder.layers.3.conv.2.bias"])
    func tinyMissingTensor(name: String) throws {
        var tensors = TinyWeights.tensors(try Self.model("tiny", "taesd").weights)
        #expect(tensors.removeValue(forKey: name) != nil)
        let error = try #require(throws: ModelFormatError.self) { try Self.tinyModel("taesd", tensors: tensors) }
        #expect("\(error)".contains("missing tensor \(name)"), "\(error)")
    }

    // MARK: Helpers

    @Test("latent scaling: SD divides by the factor, SD3 also shifts, SDXL-style statistics apply per channel")
    func latentScaling() throws {
        let x = Tensor(shape: Shape([1, 2, 1, 2]), values: [1, -2, 0.5, 4])
        let sd = LatentScaling(scalingFactor: 0.5)
        #expect(try sd.decoderInput(fromLatents: x).toArray() == [2, -4, 1, 8])
        #expect(try sd.latents(fromEncoded: x).toArray() == [0.5, -1, 0.25, 2])
        let sd3 = LatentScaling(scalingFactor: 2, shiftFactor: 1)
        #expect(try sd3.decoderInput(fromLatents: x).toArray() == [1.5, 0, 1.25, 3])
        #expect(try sd3.latents(fromEncoded: try sd3.decoderInput(fromLatents: x)).toArray() == x.toArray())
        let stats = LatentScaling(scalingFactor: 0.5, latentsMean: [1, -1], latentsStd: [2, 4])
        #expect(try stats.decoderInput(fromLatents: x).toArray() == [5, -7, 3, 31])
        #expect(try stats.latents(fromEncoded: try stats.decoderInput(fromLatents: x)).toArray() == x.toArray())
        #expect(throws: GraphError.self) { try stats.decoderInput(fromLatents: Tensor(zeros: Shape([1, 3, 1, 1]))) }
    }

    @Test("images to and from [-1, 1] tensors: clamping, ties to even, gray expanded")
    func imageConversion() throws {
        // Planes R = [-1, 1], G = [3, -3], B = [0, NaN]: clamped, 0 → 127.5 → 128, NaN → 0.
        let decoded = Tensor(shape: Shape([1, 3, 1, 2]), values: [-1, 1, 3, -3, 0, .nan])
        let image = try #require(try DiffusionImage.rgb8(fromDecoded: decoded).first)
        #expect(image.width == 2 && image.height == 1 && image.channels == 3)
        #expect(image.samples == .uint8([0, 255, 128, 255, 0, 0]))

        let gray = try Image(width: 2, height: 1, channels: 1, samples: .uint8([0, 255]))
        let tensor = try DiffusionImage.encoderInput(from: [gray])
        #expect(tensor.shape.dims == [1, 3, 1, 2])
        #expect(tensor.toArray() == [-1, 1, -1, 1, -1, 1])
        let other = try Image(width: 1, height: 1, channels: 3, samples: .uint8([1, 2, 3]))
        #expect(throws: GraphError.self) { try DiffusionImage.encoderInput(from: [gray, other]) }
    }
}
