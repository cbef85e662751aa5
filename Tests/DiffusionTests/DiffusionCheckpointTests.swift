import Foundation
import ModelFormats
import ModelKit
@testable import Models
import Tensor
import Testing

/// Checkpoint loading: original single-file SD 1.x / 2.x / XL checkpoints against diffusers' own
/// conversion (goldens of `scripts/diffusion/make_checkpoint_goldens.py`), family and
/// prediction-type detection, diffusers folders, and the errors that name what is missing.
@Suite("diffusion checkpoints")
struct DiffusionCheckpointTests {
    /// A tensor's shape, sum, position-weighted sum (weights `i % 7 + 1`) and first values.
    struct Fingerprint {
        var shape: [Int]
        var sum: Double
        var weighted: Double
        var head: [Double]
        var magnitude: Double = 0

        init(shape: [Int], sum: Double, weighted: Double, head: [Double], magnitude: Double = 0) {
            (self.shape, self.sum, self.weighted, self.head, self.magnitude) = (shape, sum, weighted, head, magnitude)
        }

        init(_ tensor: Tensor) {
            let values = tensor.toArray().map(Double.init)
            var (sum, weighted, magnitude) = (0.0, 0.0, 0.0)
            for (i, v) in values.enumerated() {
                sum += v
                weighted += v * Double(i % 7 + 1)
                magnitude += abs(v) * Double(i % 7 + 1)
            }
            self.init(shape: tensor.shape.dims, sum: sum, weighted: weighted, head: Array(values.prefix(2)), magnitude: magnitude)
        }

        /// Whether `actual` (computed here) matches this recorded fingerprint: sums to within the
        /// rounding of a differently ordered sum, values to the golden's nine digits.
        func matches(_ actual: Fingerprint) -> Bool {
            let tolerance = 1e-8 * actual.magnitude + 1e-12
            return shape == actual.shape && abs(sum - actual.sum) <= tolerance && abs(weighted - actual.weighted) <= tolerance
                && head.count == actual.head.count && zip(head, actual.head).allSatisfy { abs($0 - $1) <= 1e-8 * max(abs($1), 1e-30) }
        }
    }

    struct Golden {
        var modelType: String
        var predictionType: String
        var configs: [String: Data]
        var singleFile: [String: [Int]]
        var components: [String: [String: Fingerprint]]

        init(_ name: String) throws {
            let object = try #require(try JSONSerialization.jsonObject(with: DiffusionFixtures.golden(name)) as? [String: Any])
            modelType = try #require(object["model_type"] as? String)
            predictionType = try #require(object["prediction_type"] as? String)
            let configs = try #require(object["configs"] as? [String: Any])
            self.configs = try configs.mapValues { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
            singleFile = try #require(object["single_file"] as? [String: [Int]])
            let components = try #require(object["components"] as? [String: [String: [Any]]])
            self.components = try components.mapValues { tensors in
                try tensors.mapValues { entry in
                    let shape = try #require(entry[0] as? [Int]), sum = try #require(entry[1] as? Double)
                    let weighted = try #require(entry[2] as? Double), head = try #require(entry[3] as? [Double])
                    return Fingerprint(shape: shape, sum: sum, weighted: weighted, head: head)
                }
            }
        }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func message(_ error: any Error) -> String {
        (error as? ModelError)?.message ?? (error as? ModelFormatError)?.message ?? "\(error)"
    }

    // MARK: - Single files against diffusers

    @Test("single-file checkpoints map to the tensors diffusers' convert_ldm_* functions give", arguments: ["sd1", "sd2", "sdxl"])
    func singleFileMatchesDiffusers(family: String) throws {
        let golden = try Golden("checkpoint_\(family).json")
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("\(family).safetensors")
        try SafetensorsFile.write(TinyWeights.tensors(golden.singleFile), to: url)

        let checkpoint = try DiffusionCheckpoint(contentsOf: url, options: .init(configs: golden.configs))
        let detected = ["v1": DiffusionCheckpoint.Family.sd1, "v2": .sd2, "xl_base": .sdxl][golden.modelType]
        #expect(checkpoint.family == detected)
        #expect(checkpoint.family?.rawValue == family)
        let scheduler = try #require(checkpoint.scheduler)
        #expect(try DiffusionCheckpoint.jsonObject(scheduler.config, "scheduler")["prediction_type"] as? String == golden.predictionType)
        #expect(checkpoint.components.keys.sorted() == golden.components.keys.sorted())
        #expect(checkpoint.unusedNames == (family == "sd2" ? ["cond_stage_model.model.text_projection"] : []))

        for (name, expected) in golden.components {
            let component = try checkpoint.component(name)
            #expect(component.config == golden.configs[name])
            #expect(component.weights.names == expected.keys.sorted(), "\(name)")
            var mismatched: [String] = []
            for (tensorName, fingerprint) in expected {
                let tensor = try component.weights.tensor(tensorName, shape: fingerprint.shape)
                if !fingerprint.matches(Fingerprint(tensor)) { mismatched.append(tensorName) }
            }
            #expect(mismatched.isEmpty, "\(family) \(name): \(mismatched.sorted().prefix(8))")
        }
    }

    @Test("a single file's tokenizers, pipeline class and standard configurations follow its family")
    func singleFileStandardPipeline() throws {
        let golden = try Golden("checkpoint_sdxl.json")
        let weights = DiffusionWeights(component: "sdxl.safetensors", tensors: TinyWeights.tensors(golden.singleFile))
        let checkpoint = try DiffusionCheckpoint(singleFile: weights)
        #expect(checkpoint.pipelineClass == "StableDiffusionXLPipeline")
        #expect(checkpoint.tokenizers == ["tokenizer": .clipVocabulary(.endOfText), "tokenizer_2": .clipVocabulary(.exclamation)])
        #expect(try checkpoint.component("text_encoder_2").className == "CLIPTextModelWithProjection")
        let unet = try DiffusionCheckpoint.jsonObject(checkpoint.component("unet").config, "unet")
        #expect(unet["cross_attention_dim"] as? Int == 2048 && unet["in_channels"] as? Int == 4)
        let vae = try DiffusionCheckpoint.jsonObject(checkpoint.component("vae").config, "vae")
        #expect(vae["scaling_factor"] as? Double == 0.13025)
        #expect(checkpoint.scheduler?.className == "EulerDiscreteScheduler")

        for (family, padding) in [(DiffusionCheckpoint.Family.sd1, CLIPTokenizer.Padding.endOfText), (.sd2, .exclamation)] {
            let standard = DiffusionCheckpoint.standardPipeline(family)
            #expect(standard.tokenizers == ["tokenizer": padding])
            for (name, _, config) in standard.components + [("scheduler", "", standard.scheduler.config)] {
                #expect(throws: Never.self, "\(family) \(name)") { try DiffusionCheckpoint.jsonObject(Data(config.utf8), name) }
            }
        }
    }

    @Test("a standalone autoencoder file in the original layout, bare or prefixed, or in diffusers' layout")
    func standaloneAutoencoder() throws {
        let golden = try Golden("checkpoint_sd1.json")
        let expected = try #require(golden.components["vae"])
        let prefix = "first_stage_model."
        let original = TinyWeights.tensors(golden.singleFile.filter { $0.key.hasPrefix(prefix) })
        let renamed = Dictionary(uniqueKeysWithValues: original.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        for tensors in [original, renamed] {
            let vae = try DiffusionCheckpoint.autoencoder(DiffusionWeights(component: "vae.safetensors", tensors: tensors), config: golden.configs["vae"])
            #expect(vae.className == "AutoencoderKL" && vae.weights.names == expected.keys.sorted())
            for (name, fingerprint) in expected {
                #expect(fingerprint.matches(Fingerprint(try vae.weights.tensor(name))), "\(name)")
            }
        }
        let diffusersLayout = try DiffusionCheckpoint.autoencoder(
            DiffusionWeights(component: "vae.safetensors", tensors: TinyWeights.tensors(expected.mapValues(\.shape))), config: nil)
        #expect(diffusersLayout.weights.names == expected.keys.sorted())
        #expect(try DiffusionCheckpoint.jsonObject(diffusersLayout.config, "vae")["scaling_factor"] as? Double == 0.18215)
        #expect { try DiffusionCheckpoint.autoencoder(Self.shapes(["model.diffusion_model.out.2.weight": [4]]), config: nil) } throws: {
            Self.message($0).contains("holds no autoencoder tensors")
        }
    }

    // MARK: - Detection

    static func shapes(_ shapes: [String: [Int]]) -> DiffusionWeights {
        DiffusionWeights(component: "test.safetensors", tensors: shapes.mapValues { Tensor(shape: Shape($0), repeating: 0) })
    }

    @Test("SD 1.x, SD 2.x and SDXL are told apart by the keys and shapes diffusers reads")
    func familyDetection() throws {
        let unet = DiffusionCheckpoint.DetectionKey.unetInput
        let toK = DiffusionCheckpoint.DetectionKey.v2CrossAttention
        let sd1 = Self.shapes([unet: [320, 4, 3, 3], toK: [320, 768],
                               "model.diffusion_model.output_blocks.11.0.skip_connection.weight": [320, 640, 1, 1],
                               "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": [77, 768]])
        #expect(try DiffusionCheckpoint.family(of: sd1) == .sd1)
        let sd2 = Self.shapes([unet: [320, 4, 3, 3], toK: [320, 1024], "cond_stage_model.model.positional_embedding": [77, 1024]])
        #expect(try DiffusionCheckpoint.family(of: sd2) == .sd2)
        let sdxl = Self.shapes([unet: [320, 4, 3, 3], DiffusionCheckpoint.DetectionKey.xlBase: [1280],
                                "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": [77, 768]])
        #expect(try DiffusionCheckpoint.family(of: sdxl) == .sdxl)
        // An SD 1.x inpainting UNet: 9 input channels, which the configuration takes from the weights.
        let inpainting = Self.shapes([unet: [320, 9, 3, 3], "model.diffusion_model.out.2.weight": [4, 320, 3, 3]])
        let checkpoint = try DiffusionCheckpoint(singleFile: inpainting)
        let config = try DiffusionCheckpoint.jsonObject(checkpoint.component("unet").config, "unet")
        #expect(checkpoint.family == .sd1 && config["in_channels"] as? Int == 9 && config["out_channels"] as? Int == 4)
        #expect(checkpoint.components.keys.sorted() == ["unet"])

        let refiner = Self.shapes([unet: [384, 4, 3, 3], DiffusionCheckpoint.DetectionKey.xlRefiner: [1280]])
        #expect { try DiffusionCheckpoint.family(of: refiner) } throws: { Self.message($0).contains("SDXL refiner") }
        let other = Self.shapes(["transformer_blocks.0.attn.to_q.weight": [4, 4]])
        #expect { try DiffusionCheckpoint(singleFile: other) } throws: {
            Self.message($0).contains("not an original Stable Diffusion checkpoint") && Self.message($0).contains(unet)
        }
    }

    @Test("the prediction type: marker tensor, metadata, SD 2.x's v-prediction default, or the caller's choice")
    func predictionType() throws {
        #expect(DiffusionCheckpoint.predictionType(names: [], metadata: [:], family: .sd1) == "epsilon")
        #expect(DiffusionCheckpoint.predictionType(names: [], metadata: [:], family: .sd2) == "v_prediction")
        #expect(DiffusionCheckpoint.predictionType(names: [], metadata: [:], family: .sdxl) == "epsilon")
        #expect(DiffusionCheckpoint.predictionType(names: ["v_pred"], metadata: [:], family: .sdxl) == "v_prediction")
        #expect(DiffusionCheckpoint.predictionType(names: [], metadata: ["modelspec.prediction_type": "epsilon"], family: .sd2) == "epsilon")
        #expect(DiffusionCheckpoint.predictionType(names: [], metadata: ["modelspec.prediction_type": "v"], family: .sd1) == "v_prediction")

        let weights = Self.shapes([DiffusionCheckpoint.DetectionKey.unetInput: [8, 4, 3, 3]])
        let chosen = try DiffusionCheckpoint(singleFile: weights, options: .init(family: .sd2, predictionType: "epsilon"))
        let scheduler = try #require(chosen.scheduler)
        #expect(chosen.family == .sd2 && scheduler.className == "DDIMScheduler")
        #expect(try DiffusionCheckpoint.jsonObject(scheduler.config, "scheduler")["prediction_type"] as? String == "epsilon")
        #expect { try DiffusionCheckpoint(singleFile: weights, options: .init(predictionType: "sample")) } throws: {
            Self.message($0).contains("sample")
        }
        let huge = Data(#"{"layers_per_block": 9223372036854775807}"#.utf8)
        #expect { try DiffusionCheckpoint(singleFile: weights, options: .init(configs: ["unet": huge])) } throws: {
            Self.message($0).contains("layers_per_block 9223372036854775807 is outside")
        }
        #expect { try DiffusionCheckpoint(singleFile: weights, options: .init(configs: ["vae": Data("[".utf8)])) } throws: {
            Self.message($0) == "the vae configuration is not a JSON object"
        }
    }

    // MARK: - Key maps at full size

    @Test("UNet, VAE and OpenCLIP names at the full models' block layout")
    func fullSizeNames() {
        let cases: [(String, String?)] = [
            ("input_blocks.0.0.weight", "conv_in.weight"), ("time_embed.2.bias", "time_embedding.linear_2.bias"),
            ("input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"),
            ("input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight"),
            ("input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"),
            ("input_blocks.4.0.skip_connection.bias", "down_blocks.1.resnets.0.conv_shortcut.bias"),
            ("input_blocks.11.0.out_layers.3.weight", "down_blocks.3.resnets.1.conv2.weight"),
            ("middle_block.1.proj_in.weight", "mid_block.attentions.0.proj_in.weight"),
            ("middle_block.2.emb_layers.1.weight", "mid_block.resnets.1.time_emb_proj.weight"),
            ("output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"),
            ("output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"),
            ("output_blocks.5.1.norm.weight", "up_blocks.1.attentions.2.norm.weight"),
            ("output_blocks.11.0.skip_connection.weight", "up_blocks.3.resnets.2.conv_shortcut.weight"),
            ("out.2.weight", "conv_out.weight"), ("label_emb.0.0.weight", nil), ("input_blocks.1.0.unknown.weight", nil),
        ]
        for (key, expected) in cases {
            #expect(DiffusionCheckpoint.unetName(key, layersPerBlock: 2, labelEmbedding: nil) == expected, "\(key)")
        }
        #expect(DiffusionCheckpoint.unetName("label_emb.0.2.bias", layersPerBlock: 2, labelEmbedding: "add_embedding") == "add_embedding.linear_2.bias")

        let vae: [(String, String?)] = [
            ("decoder.up.3.block.0.norm1.weight", "decoder.up_blocks.0.resnets.0.norm1.weight"),
            ("decoder.up.0.block.2.nin_shortcut.bias", "decoder.up_blocks.3.resnets.2.conv_shortcut.bias"),
            ("decoder.up.1.upsample.conv.weight", "decoder.up_blocks.2.upsamplers.0.conv.weight"),
            ("encoder.down.2.downsample.conv.bias", "encoder.down_blocks.2.downsamplers.0.conv.bias"),
            ("encoder.mid.attn_1.proj_out.weight", "encoder.mid_block.attentions.0.to_out.0.weight"),
            ("decoder.mid.block_2.conv1.weight", "decoder.mid_block.resnets.1.conv1.weight"),
            ("encoder.norm_out.bias", "encoder.conv_norm_out.bias"), ("post_quant_conv.weight", "post_quant_conv.weight"),
            ("decoder.up.4.block.0.norm1.weight", nil), ("encoder.up.0.block.0.norm1.weight", nil),
        ]
        for (key, expected) in vae {
            #expect(DiffusionCheckpoint.vaeName(key, blocks: 4) == expected, "\(key)")
        }

        let prefix = "cond_stage_model.model."
        let openCLIP = DiffusionCheckpoint.openCLIPKeyMap(
            names: [prefix + "transformer.resblocks.22.attn.in_proj_weight", prefix + "transformer.resblocks.23.ln_1.weight",
                    prefix + "transformer.resblocks.0.mlp.c_proj.bias", prefix + "text_projection", prefix + "logit_scale"],
            prefix: prefix, textModelPrefix: false, ignoring: DiffusionCheckpoint.sd2TextEncoderIgnored)
        #expect(openCLIP.keys.sorted() == ["encoder.layers.0.mlp.fc2.bias", "encoder.layers.22.self_attn.k_proj.weight",
                                           "encoder.layers.22.self_attn.q_proj.weight", "encoder.layers.22.self_attn.v_proj.weight"])
        #expect(openCLIP["encoder.layers.22.self_attn.v_proj.weight"]?.transform == .chunk(part: 2, of: 3))
    }

    @Test("transposed and chunked tensors hold the source's values")
    func transforms() throws {
        let source = DiffusionWeights(component: "file", tensors: ["p": Tensor(shape: Shape([2, 3]), values: [1, 2, 3, 4, 5, 6]),
                                                                   "qkv": Tensor(shape: Shape([3, 2]), values: [1, 2, 3, 4, 5, 6])])
        let mapped = DiffusionWeights(component: "te", source: source, map: ["t": ("p", .transpose), "k": ("qkv", .chunk(part: 1, of: 3)),
                                                                            "bad": ("qkv", .transpose), "gone": ("absent", .identity)])
        #expect(mapped.shape("t") == [3, 2] && mapped.shape("bad") == [2, 3])
        #expect(try mapped.tensor("t").toArray() == [1, 4, 2, 5, 3, 6])
        #expect(try mapped.tensor("k", shape: [1, 2]).toArray() == [3, 4])
        #expect { try mapped.tensor("gone") } throws: { Self.message($0) == "te: missing tensor gone" }
    }

    // MARK: - Diffusers folders

    static func write(_ text: String, _ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    static func tensors(_ names: [String: [Int]]) -> [String: Tensor] { TinyWeights.tensors(names) }

    static let modelIndex = """
        {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1", "force_zeros_for_empty_prompt": true,
         "feature_extractor": [null, null], "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
         "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
         "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
         "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
         "vae": ["diffusers", "AutoencoderKL"]}
        """

    /// A small SDXL-shaped diffusers folder: the UNet in one file (and an fp16 variant with other
    /// values), the VAE only as an fp16 variant, the first text encoder sharded in `transformers`
    /// 4's layout (`text_model.` names), the second in one file.
    static func writeFolder(_ root: URL) throws {
        try write(modelIndex, root.appendingPathComponent("model_index.json"))
        try write(#"{"_class_name": "UNet2DConditionModel", "layers_per_block": 1}"#, root.appendingPathComponent("unet/config.json"))
        try SafetensorsFile.write(tensors(["conv_in.weight": [4, 4, 3, 3], "conv_in.bias": [4]]),
                                  to: root.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        try SafetensorsFile.write(["conv_in.weight": Tensor(shape: Shape([4, 4, 3, 3]), repeating: 0.5), "conv_in.bias": Tensor(shape: Shape([4]), repeating: 0.5)],
                                  to: root.appendingPathComponent("unet/diffusion_pytorch_model.fp16.safetensors"))
        try write(#"{"_class_name": "AutoencoderKL"}"#, root.appendingPathComponent("vae/config.json"))
        try SafetensorsFile.write(tensors(["decoder.conv_out.weight": [3, 4, 3, 3]]),
                                  to: root.appendingPathComponent("vae/diffusion_pytorch_model.fp16.safetensors"))
        try write(#"{"architectures": ["CLIPTextModel"], "hidden_size": 4}"#, root.appendingPathComponent("text_encoder/config.json"))
        let first = ["text_model.embeddings.token_embedding.weight": [10, 4], "text_model.final_layer_norm.weight": [4]]
        let second = ["text_model.encoder.layers.0.mlp.fc1.weight": [8, 4]]
        try SafetensorsFile.write(tensors(first), to: root.appendingPathComponent("text_encoder/model-00001-of-00002.safetensors"))
        try SafetensorsFile.write(tensors(second), to: root.appendingPathComponent("text_encoder/model-00002-of-00002.safetensors"))
        var weightMap: [String: String] = [:]
        for name in first.keys { weightMap[name] = "model-00001-of-00002.safetensors" }
        for name in second.keys { weightMap[name] = "model-00002-of-00002.safetensors" }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": weightMap], options: [.sortedKeys])
        try write(String(decoding: index, as: UTF8.self), root.appendingPathComponent("text_encoder/model.safetensors.index.json"))
        try write(#"{"architectures": ["CLIPTextModelWithProjection"]}"#, root.appendingPathComponent("text_encoder_2/config.json"))
        try SafetensorsFile.write(tensors(["text_model.final_layer_norm.bias": [6], "text_projection.weight": [6, 6]]),
                                  to: root.appendingPathComponent("text_encoder_2/model.safetensors"))
        for tokenizer in ["tokenizer", "tokenizer_2"] {
            try write("{}", root.appendingPathComponent("\(tokenizer)/vocab.json"))
            try write("#version: 0.2\n", root.appendingPathComponent("\(tokenizer)/merges.txt"))
        }
        try write(#"{"_class_name": "EulerDiscreteScheduler", "prediction_type": "epsilon"}"#,
                  root.appendingPathComponent("scheduler/scheduler_config.json"))
    }

    @Test("a diffusers folder: components, classes, raw configs, single, sharded and variant weights, tokenizers, scheduler")
    func diffusersFolder() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeFolder(root)
        let checkpoint = try DiffusionCheckpoint(folder: root)
        #expect(checkpoint.pipelineClass == "StableDiffusionXLPipeline" && checkpoint.family == nil && checkpoint.unusedNames.isEmpty)
        #expect(checkpoint.components.keys.sorted() == ["text_encoder", "text_encoder_2", "unet", "vae"])
        for name in checkpoint.components.keys.sorted() {
            let component = try checkpoint.component(name)
            #expect(component.config == (try Data(contentsOf: root.appendingPathComponent("\(name)/config.json"))))
        }
        let unet = try checkpoint.component("unet")
        #expect(unet.className == "UNet2DConditionModel")
        #expect(try unet.weights.tensor("conv_in.bias").toArray() == TinyWeights.value("conv_in.bias", shape: [4]).toArray())
        #expect(try checkpoint.component("vae").weights.names == ["decoder.conv_out.weight"])
        // transformers 5 names CLIPTextModel's parameters without `text_model.`; the projection model keeps it.
        let text = try checkpoint.component("text_encoder")
        #expect(text.className == "CLIPTextModel")
        #expect(text.weights.names == ["embeddings.token_embedding.weight", "encoder.layers.0.mlp.fc1.weight", "final_layer_norm.weight"])
        #expect(try text.weights.tensor("encoder.layers.0.mlp.fc1.weight").toArray()
            == TinyWeights.value("text_model.encoder.layers.0.mlp.fc1.weight", shape: [8, 4]).toArray())
        let text2 = try checkpoint.component("text_encoder_2")
        #expect(text2.className == "CLIPTextModelWithProjection")
        #expect(text2.weights.names == ["text_model.final_layer_norm.bias", "text_projection.weight"])
        #expect(checkpoint.tokenizers == ["tokenizer": .folder(root.appendingPathComponent("tokenizer", isDirectory: true)),
                                          "tokenizer_2": .folder(root.appendingPathComponent("tokenizer_2", isDirectory: true))])
        #expect(checkpoint.scheduler?.className == "EulerDiscreteScheduler")
        #expect(checkpoint.scheduler?.config == (try Data(contentsOf: root.appendingPathComponent("scheduler/scheduler_config.json"))))

        #expect(try DiffusionCheckpoint(contentsOf: root).components.count == 4)
        #expect(try DiffusionCheckpoint(contentsOf: root, options: .init(family: .sdxl)).family == .sdxl)
        #expect(try DiffusionCheckpoint.family(unetConfig: Data(#"{"addition_embed_type": "text_time", "cross_attention_dim": 2048}"#.utf8)) == .sdxl)
        #expect(try DiffusionCheckpoint.family(unetConfig: Data(#"{"cross_attention_dim": 1024}"#.utf8)) == .sd2)
        #expect(try DiffusionCheckpoint.family(unetConfig: Data(#"{"cross_attention_dim": 768}"#.utf8)) == .sd1)
        let alone = try DiffusionCheckpoint.component(folder: root.appendingPathComponent("text_encoder_2"))
        #expect(alone.name == "text_encoder_2" && alone.className == "CLIPTextModelWithProjection" && alone.weights.names == text2.weights.names)

        let fp16 = try DiffusionCheckpoint(folder: root, variant: "fp16")
        #expect(try fp16.component("unet").weights.tensor("conv_in.bias").toArray() == [0.5, 0.5, 0.5, 0.5])
        #expect { try DiffusionCheckpoint(folder: root, variant: "bf16") } throws: {
            Self.message($0) == "vae/ has no diffusion_pytorch_model.safetensors or model.safetensors (nor a sharded index or the bf16 variant)"
        }
        #expect { try DiffusionCheckpoint(folder: root, variant: "../x") } throws: { Self.message($0).contains("not a plain name") }
    }

    @Test("folder errors name the missing component, file, configuration or tensor")
    func folderErrors() throws {
        func expectError(_ contains: String, _ damage: (URL) throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let root = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: root) }
            try Self.writeFolder(root)
            try damage(root)
            #expect(sourceLocation: sourceLocation) { try DiffusionCheckpoint(folder: root) } throws: {
                let message = Self.message($0)
                let ok = message.contains(contains)
                if !ok { Issue.record("\"\(message)\" lacks \"\(contains)\"", sourceLocation: sourceLocation) }
                return ok
            }
        }
        let fm = FileManager.default
        try expectError("has no readable model_index.json") { try fm.removeItem(at: $0.appendingPathComponent("model_index.json")) }
        try expectError("model_index.json is not a JSON object") { try Self.write("[1]", $0.appendingPathComponent("model_index.json")) }
        try expectError("lists vae (AutoencoderKL) but") { try fm.removeItem(at: $0.appendingPathComponent("vae")) }
        try expectError("lists tokenizer_2 (CLIPTokenizer) but") { try fm.removeItem(at: $0.appendingPathComponent("tokenizer_2")) }
        try expectError("unet/config.json is missing or unreadable") { try fm.removeItem(at: $0.appendingPathComponent("unet/config.json")) }
        try expectError("unet/config.json is not a JSON object") { try Self.write("{\"a\": ", $0.appendingPathComponent("unet/config.json")) }
        try expectError("scheduler/scheduler_config.json is missing") {
            try fm.removeItem(at: $0.appendingPathComponent("scheduler/scheduler_config.json"))
        }
        try expectError("only safetensors weights are read, not diffusion_pytorch_model.bin") {
            try fm.removeItem(at: $0.appendingPathComponent("vae/diffusion_pytorch_model.fp16.safetensors"))
            try Self.write("pickle", $0.appendingPathComponent("vae/diffusion_pytorch_model.bin"))
        }
        let index = "text_encoder/model.safetensors.index.json"
        try expectError("names model-00002-of-00002.safetensors, which text_encoder/ lacks") {
            try fm.removeItem(at: $0.appendingPathComponent("text_encoder/model-00002-of-00002.safetensors"))
        }
        try expectError("names the file \"../unet/diffusion_pytorch_model.safetensors\"") {
            try Self.write(#"{"weight_map": {"conv_in.bias": "../unet/diffusion_pytorch_model.safetensors"}}"#, $0.appendingPathComponent(index))
        }
        try expectError("puts tensor text_model.final_layer_norm.weight in model-00002-of-00002.safetensors, which lacks it") {
            try Self.write(#"{"weight_map": {"text_model.final_layer_norm.weight": "model-00002-of-00002.safetensors"}}"#,
                           $0.appendingPathComponent(index))
        }
        try expectError("has no weight_map") { try Self.write(#"{"metadata": {}}"#, $0.appendingPathComponent(index)) }
        try expectError("appears in more than one file") {
            try SafetensorsFile.write(Self.tensors(["text_model.final_layer_norm.weight": [4], "text_model.encoder.layers.0.mlp.fc1.weight": [8, 4]]),
                                      to: $0.appendingPathComponent("text_encoder/model-00002-of-00002.safetensors"))
        }
    }

    @Test("missing components and tensors are errors that name them")
    func missingNames() throws {
        let golden = try Golden("checkpoint_sd1.json")
        var shapes = golden.singleFile
        shapes["model.diffusion_model.input_blocks.1.0.in_layers.2.weight"] = nil
        let checkpoint = try DiffusionCheckpoint(singleFile: DiffusionWeights(component: "sd1.safetensors", tensors: TinyWeights.tensors(shapes)),
                                                 options: .init(configs: golden.configs))
        #expect { try checkpoint.component("text_encoder_2") } throws: {
            Self.message($0) == "the checkpoint has no text_encoder_2 component (it has text_encoder, unet, vae)"
        }
        #expect { try checkpoint.tokenizer("tokenizer_2") } throws: { Self.message($0).contains("no tokenizer_2") }
        #expect(try checkpoint.tokenizer("tokenizer") == .clipVocabulary(.endOfText))
        let unet = try checkpoint.component("unet").weights
        #expect { try unet.tensor("down_blocks.0.resnets.0.conv1.weight") } throws: {
            Self.message($0) == "unet: missing tensor down_blocks.0.resnets.0.conv1.weight"
        }
        #expect { try unet.tensor("conv_in.weight", shape: [1]) } throws: { Self.message($0).contains("unet: tensor conv_in.weight has shape") }

        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect { try DiffusionCheckpoint(singleFile: directory.appendingPathComponent("model.ckpt")) } throws: {
            Self.message($0).contains("model.ckpt is a pickled checkpoint")
        }
        #expect { try DiffusionCheckpoint(singleFile: directory.appendingPathComponent("absent.safetensors")) } throws: {
            ($0 as? ModelFormatError)?.code == .io && Self.message($0).contains("absent.safetensors")
        }
    }
}
