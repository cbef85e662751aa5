import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
import Tensor
import Testing
@testable import Models

/// Whole pipelines against diffusers: `scripts/diffusion/make_pipeline_goldens.py` ran small SD 1.x
/// and SDXL pipelines (text-to-image with guidance, image-to-image, LCM, DPM-Solver) with CPU
/// generators; the test writes the same pipeline as a diffusers folder, opens it with
/// DiffusionCheckpoint and generates the same images.
@Suite("StableDiffusionPipeline")
struct StableDiffusionPipelineTests {
    struct Case: Decodable {
        var family: String
        var scheduler: String
        var prompt: String
        var negativePrompt: String
        var width: Int
        var height: Int
        var steps: Int
        var guidance: Float
        var seed: UInt64
        var images: Int
        var strength: Float?
        /// The image-to-image input's size when it is not the output's.
        var imageWidth: Int?, imageHeight: Int?
        var mask: Bool?
        var configs: [String: JSONValue]
        var schedulerConfig: JSONValue
        var weights: [String: [String: [Int]]]
        var pixels: [Int]
        var shape: [Int]
        enum CodingKeys: String, CodingKey {
            case family, scheduler, prompt, negativePrompt = "negative_prompt", width, height, steps, guidance, seed, images
            case strength, mask, configs, schedulerConfig = "scheduler_config", weights, pixels, shape
            case imageWidth = "image_width", imageHeight = "image_height"
        }
    }

    static let cases: [String: Case] = {
        (try? JSONDecoder().decode([String: Case].self, from: DiffusionFixtures.golden("pipelines.json"))) ?? [:]
    }()

    static let classes: [String: (library: String, className: String, file: String)] = [
        "unet": ("diffusers", "UNet2DConditionModel", "diffusion_pytorch_model.safetensors"),
        "vae": ("diffusers", "AutoencoderKL", "diffusion_pytorch_model.safetensors"),
        "text_encoder": ("transformers", "CLIPTextModel", "model.safetensors"),
        "text_encoder_2": ("transformers", "CLIPTextModelWithProjection", "model.safetensors"),
    ]

    /// Writes the case's pipeline as a diffusers folder (no tokenizer folders: CLIP's vocabulary
    /// is used, padded as the family pads).
    static func writeFolder(_ c: Case, to folder: URL) throws {
        let fm = FileManager.default
        let scheduler = ["euler": "EulerDiscreteScheduler", "dpm": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler",
                         "lcm": "LCMScheduler"][c.scheduler]!
        var index: [String: Any] = ["_class_name": c.family == "sdxl" ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline",
                                    "scheduler": ["diffusers", scheduler]]
        for (name, config) in c.configs {
            let info = try #require(classes[name])
            index[name] = [info.library, info.className]
            let dir = folder.appendingPathComponent(name)
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            try config.encoded().write(to: dir.appendingPathComponent("config.json"))
            try SafetensorsFile.write(TinyWeights.tensors(try #require(c.weights[name])), to: dir.appendingPathComponent(info.file))
        }
        let schedulerDir = folder.appendingPathComponent("scheduler")
        try fm.createDirectory(at: schedulerDir, withIntermediateDirectories: true)
        try c.schedulerConfig.encoded().write(to: schedulerDir.appendingPathComponent("scheduler_config.json"))
        try JSONSerialization.data(withJSONObject: index).write(to: folder.appendingPathComponent("model_index.json"))
    }

    static func initImage(width: Int, height: Int) throws -> Image {
        let u = TinyWeights.uniform("pipeline.init_image", count: width * height * 3)
        let bytes = u.map { UInt8(Swift.min(255, Swift.max(0, (($0 + 1) * 127.5).rounded(.down)))) }
        return try Image(width: width, height: height, channels: 3, samples: .uint8(bytes))
    }

    /// The script's mask: a striped region right of the first quarter, in RGB.
    static func maskImage(width: Int, height: Int) throws -> Image {
        var bytes: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let v: UInt8 = (x + 2 * y) % 7 < 4 && x >= width / 4 ? 255 : 0
                bytes += [v, v, UInt8(Int(v) * 3 / 4)]
            }
        }
        return try Image(width: width, height: height, channels: 3, samples: .uint8(bytes))
    }

    static func pipeline(_ c: Case) async throws -> StableDiffusionPipeline {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sd-pipeline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try writeFolder(c, to: folder)
        let checkpoint = try DiffusionCheckpoint(folder: folder)
        return try StableDiffusionPipeline(checkpoint: checkpoint, pool: ComputePool(threads: 2),
                                           clipVocabulary: try await CLIPVocabulary.shared.url())
    }

    static func request(_ c: Case) throws -> DiffusionRequest {
        var request = DiffusionRequest(prompt: c.prompt, negativePrompt: c.negativePrompt, width: c.width, height: c.height,
                                       steps: c.steps, guidanceScale: c.guidance, seed: c.seed, imageCount: c.images)
        if let strength = c.strength {
            request.initImage = try initImage(width: c.imageWidth ?? c.width, height: c.imageHeight ?? c.height)
            request.strength = strength
        }
        if c.mask == true { request.mask = try maskImage(width: c.width, height: c.height) }
        return request
    }

    @Test("generates diffusers' images", arguments: ["sd1_euler_cfg", "sd1_img2img_ddim", "sd1_img2img_resized", "sd1_lcm", "sdxl_dpm", "sd1_inpaint_euler", "sd1_inpaint9_ddim"])
    func matchesDiffusers(_ name: String) async throws {
        let c = try #require(Self.cases[name])
        let pipeline = try await Self.pipeline(c)
        var steps: [Int] = []
        let images = try pipeline.generate(try Self.request(c), onStep: { steps.append($0.step) })
        #expect(steps == Array(1...(c.strength.map { Int(Float(c.steps) * $0) } ?? c.steps)))
        #expect(images.count == c.images)
        var got: [Int] = []
        for image in images {
            #expect(image.width == c.width && image.height == c.height)
            guard case .uint8(let bytes) = image.samples else { Issue.record("not 8-bit"); return }
            got += bytes.map(Int.init)
        }
        #expect(got.count == c.pixels.count)
        let differences = zip(got, c.pixels).map { abs($0 - $1) }
        let worst = differences.max() ?? 0
        let mean = Double(differences.reduce(0, +)) / Double(max(1, differences.count))
        #expect(worst <= 2 && mean < 0.05, "max difference \(worst) levels, mean \(mean)")
    }

    @Test("cancellation stops between steps")
    func cancellation() async throws {
        let c = try #require(Self.cases["sd1_euler_cfg"])
        let pipeline = try await Self.pipeline(c)
        var seen = 0
        #expect(throws: CancellationError.self) {
            _ = try pipeline.generate(try Self.request(c), onStep: { seen = $0.step }, isCancelled: { seen >= 1 })
        }
        #expect(seen == 1)
    }

    @Test("requests outside what the model and server can do are 422s naming the field")
    func validation() async throws {
        let c = try #require(Self.cases["sd1_lcm"])
        let pipeline = try await Self.pipeline(c)
        let base = try Self.request(c)
        let bad: [(String, (inout DiffusionRequest) -> Void)] = [
            ("width must be a multiple of 8", { $0.width = 50 }),
            ("height must be between", { $0.height = 4096 }),
            ("num_images", { $0.imageCount = 0 }),
            ("num_inference_steps", { $0.steps = 0 }),
            ("guidance_scale", { $0.guidanceScale = .nan }),
            ("pixels", { $0.width = 2048; $0.height = 2048; $0.imageCount = 2 }),
        ]
        for (field, change) in bad {
            var request = base
            change(&request)
            #expect(performing: { try pipeline.validate(request) }, throws: { error in
                guard let e = error as? ModelError else { return false }
                return e.status == 422 && e.message.contains(field)
            })
        }
    }
}
