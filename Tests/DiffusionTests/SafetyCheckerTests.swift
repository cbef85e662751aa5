import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
import Tensor
import Testing
@testable import Models

@Suite("SafetyChecker")
struct SafetyCheckerTests {
    /// `safety_checker.json` from `scripts/diffusion/make_safety_goldens.py`.
    struct Golden: Decodable {
        var config: SafetyCheckerConfiguration
        var weights: [String: [Int]]
        var recorded: [String: [Float]]
        var images: [String]
        var image_size: Int
        var image_embeds: [Float]
        var special_scores: [[Float]]
        var concept_scores: [[Float]]
        var has_nsfw_concepts: [Bool]
        var blacked: [Bool]
    }

    static let goldenData: Data = {
        do { return try DiffusionFixtures.golden("safety_checker.json") } catch { fatalError("safety_checker.json: \(error)") }
    }()
    static let golden: Golden = {
        do { return try JSONDecoder().decode(Golden.self, from: goldenData) } catch { fatalError("safety_checker.json: \(error)") }
    }()

    static let pool = ComputePool(threads: 2)

    /// The checkpoint's tensors: tiny weights, with the recorded embeddings and thresholds.
    static func tensors() -> [String: Tensor] {
        var tensors = TinyWeights.tensors(golden.weights)
        for (name, values) in golden.recorded { tensors[name] = Tensor(shape: Shape(golden.weights[name]!), values: values) }
        return tensors
    }

    static func preprocessing() throws -> CLIPImagePreprocessing {
        let object = try JSONSerialization.jsonObject(with: goldenData) as! [String: Any]
        return try CLIPImagePreprocessing(json: JSONSerialization.data(withJSONObject: object["preprocessor"]!))
    }

    static func checker(_ tensors: [String: Tensor] = tensors()) throws -> SafetyChecker {
        try SafetyChecker(configuration: golden.config, preprocessing: preprocessing(),
                          weights: DiffusionWeights(component: "safety_checker", tensors: tensors), pool: pool)
    }

    /// The golden's images: `floor((u + 1) · 128)` of the labelled uniform draws.
    static func images() throws -> [Image] {
        let side = golden.image_size
        return try golden.images.map { label in
            let samples = TinyWeights.uniform(label, count: side * side * 3).map { UInt8(((($0 + 1) * 128)).rounded(.down)) }
            return try Image(width: side, height: side, channels: 3, samples: .uint8(samples))
        }
    }

    @Test("matches diffusers: image embeddings, rounded special and concept scores, flags")
    func matchesDiffusers() throws {
        let checker = try Self.checker()
        let embeddings = try checker.embeddings(Self.images())
        #expect(embeddings.shape.dims == [Self.golden.images.count, Self.golden.config.projectionDimension])
        let expected = Self.golden.image_embeds
        let error = zip(embeddings.toArray(), expected).map { abs($0 - $1) }.max() ?? .infinity
        let scale = max(1, expected.map(abs).max() ?? 0)
        #expect(error <= 1e-4 * scale, "embeddings: max abs error \(error) at scale \(scale)")
        print("SafetyChecker golden embeddings: max abs error \(error), scale \(scale)")
        let scores = checker.scores(embeddings: embeddings)
        // Scores are multiples of 0.001; an embedding within tolerance can move one across a
        // rounding boundary only when it lies within 1e-4 of it, which the golden avoids.
        for (n, score) in scores.enumerated() {
            #expect(zip(score.special, Self.golden.special_scores[n]).allSatisfy { abs($0 - $1) < 1e-6 }, "image \(n): \(score.special)")
            #expect(zip(score.concepts, Self.golden.concept_scores[n]).allSatisfy { abs($0 - $1) < 1e-6 }, "image \(n): \(score.concepts)")
        }
        #expect(scores.map(\.flagged) == Self.golden.has_nsfw_concepts)
        #expect(try checker.check(Self.images()) == Self.golden.has_nsfw_concepts)
    }

    @Test("flagged images are replaced by black ones, the others are kept")
    func blackReplacement() throws {
        let images = try Self.images()
        let (checked, flags) = try Self.checker().filter(images)
        #expect(flags == Self.golden.has_nsfw_concepts)
        for (n, (before, after)) in zip(images, checked).enumerated() {
            #expect(after.width == before.width && after.height == before.height && after.channels == before.channels)
            if Self.golden.blacked[n] {
                #expect(after.samples == .uint8([UInt8](repeating: 0, count: before.samples.count)), "image \(n)")
            } else {
                #expect(after.samples == before.samples, "image \(n)")
            }
        }
    }

    @Test("a safety checker folder attaches to a checkpoint that has none and flags as diffusers does")
    func attachedFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-safety-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        let object = try JSONSerialization.jsonObject(with: Self.goldenData) as! [String: Any]
        var config = object["config"] as! [String: Any]
        config["architectures"] = ["StableDiffusionSafetyChecker"]
        let checkerFolder = root.appendingPathComponent("safety_checker"), extractor = root.appendingPathComponent("feature_extractor")
        try fm.createDirectory(at: checkerFolder, withIntermediateDirectories: true)
        try fm.createDirectory(at: extractor, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config).write(to: checkerFolder.appendingPathComponent("config.json"))
        try JSONSerialization.data(withJSONObject: object["preprocessor"]!).write(to: extractor.appendingPathComponent("preprocessor_config.json"))
        try SafetensorsFile.write(Self.tensors(), to: checkerFolder.appendingPathComponent("model.safetensors"))

        let bare = DiffusionCheckpoint(pipelineClass: "StableDiffusionPipeline", family: .sd1, components: [:], tokenizers: [:],
                                       scheduler: nil, unusedNames: [])
        // The pipeline folder and the component folder itself both work.
        for folder in [root, checkerFolder] {
            let checkpoint = try bare.withSafetyChecker(folder: folder)
            let component = try checkpoint.component("safety_checker")
            let preprocessing = try #require(checkpoint.featureExtractorConfig)
            let checker = try SafetyChecker(configuration: SafetyCheckerConfiguration(json: component.config),
                                            preprocessing: CLIPImagePreprocessing(json: preprocessing), weights: component.weights, pool: Self.pool)
            #expect(try checker.filter(Self.images()).nsfw == Self.golden.has_nsfw_concepts)
        }
        // Anything else is refused, naming the folder.
        #expect(performing: { try bare.withSafetyChecker(folder: extractor) }, throws: { error in
            (error as? ModelError)?.message.contains("feature_extractor") == true
        })
        try JSONSerialization.data(withJSONObject: ["_class_name": "AutoencoderTiny"]).write(to: checkerFolder.appendingPathComponent("config.json"))
        #expect(performing: { try bare.withSafetyChecker(folder: root) }, throws: { error in
            (error as? ModelError)?.message.contains("not a StableDiffusionSafetyChecker") == true
        })
    }

    @Test("the special-care adjustment of 0.01 decides an image that is 0.005 under a concept's threshold")
    func specialCareAdjustment() {
        #expect(SafetyChecker.score(0.5, 0.505, 0) == -0.005)
        #expect(SafetyChecker.score(0.5, 0.505, 0.01) == 0.005)
        // Rounded to three decimals first: 0.0004 over the threshold is not over it.
        #expect(SafetyChecker.score(0.5004, 0.5, 0) == 0)
    }

    @Test("transformers 4 names (vision_model.vision_model.*) load the same model")
    func legacyNames() throws {
        var renamed: [String: Tensor] = [:]
        for (name, tensor) in Self.tensors() {
            renamed[name.hasPrefix("vision_model.") ? "vision_model." + name : name] = tensor
        }
        renamed["vision_model.vision_model.embeddings.position_ids"] = Tensor(zeros: Shape([1, 17]))
        #expect(try Self.checker(renamed).check(Self.images()) == Self.golden.has_nsfw_concepts)
    }

    @Test("a missing tensor is named; an unexpected one is refused")
    func missingTensor() throws {
        for name in ["concept_embeds", "visual_projection.weight", "vision_model.encoder.layers.1.mlp.fc2.weight"] {
            var tensors = Self.tensors()
            tensors[name] = nil
            #expect { try Self.checker(tensors) } throws: { "\($0)".contains("missing tensor \(name)") }
        }
        var extra = Self.tensors()
        extra["logit_scale"] = Tensor(zeros: Shape([1]))
        #expect { try Self.checker(extra) } throws: { "\($0)".contains("unexpected tensor logit_scale") }
    }

    @Test("preprocessing: the processor's defaults, a resize of the shorter side and a center crop")
    func preprocessing() throws {
        let p = try CLIPImagePreprocessing(json: Data("{}".utf8))
        #expect(p == CLIPImagePreprocessing())
        #expect(throws: ModelError.self) { try CLIPImagePreprocessing(json: Data(#"{"crop_size": {"height": 0, "width": 4}}"#.utf8)) }
        #expect(throws: ModelError.self) { try CLIPImagePreprocessing(json: Data(#"{"image_std": [1, 0, 1]}"#.utf8)) }
        let small = CLIPImagePreprocessing(shortestEdge: 8, cropHeight: 8, cropWidth: 8)
        let wide = try Image(width: 24, height: 12, channels: 3, samples: .uint8([UInt8](repeating: 200, count: 24 * 12 * 3)))
        let pixels = try small.pixels([wide])
        #expect(pixels.shape.dims == [1, 3, 8, 8])
        // A flat image stays flat through resize and crop: (200/255 - mean) / std.
        let expected = (Float(200) / 255 - small.mean[1]) / small.std[1]
        #expect(abs(pixels.toArray()[64 + 27] - expected) < 1e-5)
    }
}

extension SafetyCheckerTests {
    /// The small SD 1.x LCM pipeline of `pipelines.json` written as a diffusers folder with this
    /// golden's checker (thresholds replaced) and feature extractor.
    static func pipeline(thresholds: Float) async throws -> StableDiffusionPipeline {
        let c = try #require(StableDiffusionPipelineTests.cases["sd1_lcm"])
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("sd-safety-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: folder) }
        try StableDiffusionPipelineTests.writeFolder(c, to: folder)
        let indexURL = folder.appendingPathComponent("model_index.json")
        var index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any])
        index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
        index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        let checker = folder.appendingPathComponent("safety_checker"), extractor = folder.appendingPathComponent("feature_extractor")
        try fm.createDirectory(at: checker, withIntermediateDirectories: true)
        try fm.createDirectory(at: extractor, withIntermediateDirectories: true)
        let object = try #require(try JSONSerialization.jsonObject(with: goldenData) as? [String: Any])
        try JSONSerialization.data(withJSONObject: try #require(object["config"])).write(to: checker.appendingPathComponent("config.json"))
        try JSONSerialization.data(withJSONObject: try #require(object["preprocessor"]))
            .write(to: extractor.appendingPathComponent("preprocessor_config.json"))
        var weights = tensors()
        weights["concept_embeds_weights"] = Tensor(shape: Shape([17]), repeating: thresholds)
        weights["special_care_embeds_weights"] = Tensor(shape: Shape([3]), repeating: thresholds)
        try SafetensorsFile.write(weights, to: checker.appendingPathComponent("model.safetensors"))
        let checkpoint = try DiffusionCheckpoint(folder: folder)
        #expect(checkpoint.featureExtractorConfig != nil)
        return try StableDiffusionPipeline(checkpoint: checkpoint, pool: pool, clipVocabulary: try await CLIPVocabulary.shared.url())
    }

    @Test("the pipeline runs the checkpoint's checker when the request asks: flagged images black, the flags returned")
    func pipelineIntegration() async throws {
        let c = try #require(StableDiffusionPipelineTests.cases["sd1_lcm"])
        var request = try StableDiffusionPipelineTests.request(c)
        // Thresholds below any cosine flag everything; above any, nothing.
        let strict = try await Self.pipeline(thresholds: -2)
        #expect(strict.hasSafetyChecker)
        let unchecked = try strict.generateChecked(request)
        #expect(unchecked.nsfw == Array(repeating: false, count: c.images))
        request.checkSafety = true
        let checked = try strict.generateChecked(request)
        #expect(checked.nsfw == Array(repeating: true, count: c.images))
        for image in checked.images {
            #expect(image.width == c.width && image.height == c.height)
            #expect(image.samples == .uint8([UInt8](repeating: 0, count: image.samples.count)))
        }
        let lenient = try await Self.pipeline(thresholds: 2)
        let passed = try lenient.generateChecked(request)
        #expect(passed.nsfw == Array(repeating: false, count: c.images))
        #expect(passed.images.map(\.samples) == unchecked.images.map(\.samples))
    }
}

extension SafetyCheckerTests {
    @Test("config.json: transformers' CLIPVisionConfig defaults and bounded, named errors")
    func configuration() throws {
        let defaults = try SafetyCheckerConfiguration(json: Data("{}".utf8))
        #expect(defaults == SafetyCheckerConfiguration())
        #expect(defaults.vision.hiddenSize == 768 && defaults.vision.patchSize == 32 && defaults.vision.imageSize == 224)
        #expect(defaults.vision.activation == .quickGELU && defaults.projectionDimension == 512)
        let sd = try SafetyCheckerConfiguration(json: Data(#"{"projection_dim": 768, "vision_config": {"hidden_size": 1024, "patch_size": 14, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}}"#.utf8))
        #expect(sd.vision.tokens == 257 && sd.projectionDimension == 768)
        #expect { try SafetyCheckerConfiguration(json: Data(#"{"vision_config": {"hidden_size": 10, "num_attention_heads": 3}}"#.utf8)) } throws: {
            "\($0)".contains("num_attention_heads")
        }
        #expect { try SafetyCheckerConfiguration(json: Data(#"{"vision_config": {"hidden_act": "relu"}}"#.utf8)) } throws: { "\($0)".contains("relu") }
        #expect { try SafetyCheckerConfiguration(json: Data(#"{"vision_config": {"image_size": -4}}"#.utf8)) } throws: { "\($0)".contains("image_size") }
        // The feature extractor's crop must be the tower's input size.
        #expect {
            try SafetyChecker(configuration: Self.golden.config, preprocessing: CLIPImagePreprocessing(),
                              weights: DiffusionWeights(component: "safety_checker", tensors: Self.tensors()), pool: Self.pool)
        } throws: { "\($0)".contains("image_size 32") }
    }

    @Test("an image elongated beyond the resize bound is refused, not resized")
    func elongatedImage() throws {
        let thin = try Image(width: 1, height: 600, channels: 3, bitDepth: .eight)
        #expect { try CLIPImagePreprocessing().pixels([thin]) } throws: { ($0 as? ModelError)?.code == .invalidInput }
    }

    @Test("a folder's safety checker with only pickled weights is left out; its feature extractor is read")
    func pickledCheckerLeftOut() throws {
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("sd-pickled-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: folder) }
        for name in ["safety_checker", "feature_extractor"] {
            try fm.createDirectory(at: folder.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try Data(#"{"_class_name": "StableDiffusionPipeline", "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"], "feature_extractor": ["transformers", "CLIPImageProcessor"]}"#.utf8)
            .write(to: folder.appendingPathComponent("model_index.json"))
        try Data("{}".utf8).write(to: folder.appendingPathComponent("safety_checker/config.json"))
        try Data("not a pickle".utf8).write(to: folder.appendingPathComponent("safety_checker/pytorch_model.bin"))
        try Data(#"{"crop_size": 224}"#.utf8).write(to: folder.appendingPathComponent("feature_extractor/preprocessor_config.json"))
        let checkpoint = try DiffusionCheckpoint(folder: folder)
        #expect(checkpoint.components["safety_checker"] == nil)
        let preprocessing = try CLIPImagePreprocessing(json: try #require(checkpoint.featureExtractorConfig))
        #expect(preprocessing.cropWidth == 224 && preprocessing.cropHeight == 224)
    }
}
