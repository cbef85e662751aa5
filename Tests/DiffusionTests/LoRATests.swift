import Foundation
import Kernels
import Media
import ModelFormats
import ModelKit
import Tensor
import Testing
@testable import Models

/// LoRAs against diffusers' `load_lora_weights` (`scripts/diffusion/make_lora_goldens.py`): a PEFT
/// file (UNet and text encoder, with adapter metadata) and a kohya-ss file (UNet, `.alpha`
/// tensors) on the small SD 1.x pipeline, per request at scale 0.7, on one loaded base.
@Suite("LoRA")
struct LoRATests {
    struct Golden: Decodable {
        var scale: Float
        var shapes: [String: [Int]]
        var metadata: [String: String]
        var peftKeys: [String]
        var kohyaKeys: [String]
        var peftPixels: [Int]
        var kohyaPixels: [Int]
        enum CodingKeys: String, CodingKey {
            case scale, shapes, metadata, peftKeys = "peft_keys", kohyaKeys = "kohya_keys", peftPixels = "peft_pixels"
            case kohyaPixels = "kohya_pixels"
        }
    }

    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: DiffusionFixtures.golden("lora.json"))
    }

    /// The LoRA tensors by PEFT name (`unet.<module>.lora_A.weight`), as the script filled them.
    static func peftTensors(_ g: Golden) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for key in g.peftKeys { out[key] = TinyWeights.value("lora.\(key)", shape: g.shapes[key] ?? []) }
        return out
    }

    static func kohyaTensors(_ g: Golden) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, tensor) in peftTensors(g) where key.hasPrefix("unet.") {
            let module = key.dropFirst("unet.".count).components(separatedBy: ".lora_")[0].replacingOccurrences(of: ".", with: "_")
            out["lora_unet_\(module).\(key.hasSuffix("lora_A.weight") ? "lora_down" : "lora_up").weight"] = tensor
            out["lora_unet_\(module).alpha"] = Tensor(shape: Shape([]), values: [8])
        }
        return out
    }

    static func pixels(_ images: [Image]) -> [Int] {
        images.flatMap { image -> [Int] in
            guard case .uint8(let bytes) = image.samples else { return [] }
            return bytes.map(Int.init)
        }
    }

    static func expectClose(_ got: [Int], _ want: [Int], _ label: String) {
        #expect(got.count == want.count, "\(label): \(got.count) samples")
        let differences = zip(got, want).map { abs($0 - $1) }
        let worst = differences.max() ?? 0
        let mean = Double(differences.reduce(0, +)) / Double(max(1, differences.count))
        #expect(worst <= 2 && mean < 0.05, "\(label): max difference \(worst) levels, mean \(mean)")
    }

    @Test("PEFT and kohya-ss LoRAs per request match diffusers, and the base is left as it was")
    func matchesDiffusers() async throws {
        let g = try Self.golden()
        let c = try #require(StableDiffusionPipelineTests.cases["sd1_euler_cfg"])
        let pipeline = try await StableDiffusionPipelineTests.pipeline(c)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let peftURL = folder.appendingPathComponent("peft.safetensors"), kohyaURL = folder.appendingPathComponent("kohya.safetensors")
        try SafetensorsFile.write(Self.peftTensors(g), to: peftURL, metadata: g.metadata)
        try SafetensorsFile.write(Self.kohyaTensors(g), to: kohyaURL)
        #expect(Self.kohyaTensors(g).keys.sorted() == g.kohyaKeys)

        var request = DiffusionRequest(prompt: c.prompt, negativePrompt: c.negativePrompt, width: c.width, height: c.height,
                                       steps: 2, guidanceScale: c.guidance, seed: 13, imageCount: 1)
        let plain = try pipeline.generate(request)
        let peft = try LoRAAdapter(file: SafetensorsFile(contentsOf: peftURL), moduleNames: pipeline.loraModules)
        request.loras = [LoRAUse(adapter: peft, scale: g.scale, identity: "peft")]
        Self.expectClose(Self.pixels(try pipeline.generate(request)), g.peftPixels, "peft")
        let kohya = try LoRAAdapter(file: SafetensorsFile(contentsOf: kohyaURL), moduleNames: pipeline.loraModules)
        request.loras = [LoRAUse(adapter: kohya, scale: g.scale, identity: "kohya")]
        Self.expectClose(Self.pixels(try pipeline.generate(request)), g.kohyaPixels, "kohya")
        // The base model is untouched by the adapted variants.
        request.loras = []
        #expect(Self.pixels(try pipeline.generate(request)) == Self.pixels(plain))
    }

    @Test("files this reader cannot place are 422s naming the key")
    func rejectsUnknownKeys() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lora-bad-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: folder) }
        try SafetensorsFile.write(["lora_unet_no_such_module.lora_down.weight": Tensor(zeros: Shape([2, 4]))], to: folder)
        #expect(performing: {
            _ = try LoRAAdapter(file: SafetensorsFile(contentsOf: folder), moduleNames: ["unet": ["down_blocks.0.resnets.0.conv1"]])
        }, throws: { error in
            guard let e = error as? ModelError else { return false }
            return e.status == 422 && e.message.contains("lora_unet_no_such_module")
        })
    }
}
