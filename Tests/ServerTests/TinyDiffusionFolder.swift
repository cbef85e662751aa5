import Foundation
import ModelFormats
@testable import Models
import Tensor

/// A tiny SD 1.x-shaped diffusers folder written for a test: the UNet, VAE and text encoder of
/// the checkpoint goldens (`Tests/DiffusionTests/Goldens/checkpoint_sd1.json`, made by
/// `scripts/diffusion/make_checkpoint_goldens.py`), with the text encoder widened to CLIP's
/// 49,408-token vocabulary and 77 positions and the UNet's cross-attention set to its width, so
/// that the pieces fit together as a pipeline; a byte-level CLIP tokenizer folder; an Euler
/// scheduler. Weights are deterministic and small (`Tensor(uniform:)`, norms near 1).
enum TinyDiffusionFolder {
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DiffusionTests/Goldens", isDirectory: true)

    /// Writes the folder at `root`.
    static func write(_ root: URL) throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent("checkpoint_sd1.json"))) as! [String: Any]
        var configs = golden["configs"] as! [String: [String: Any]]
        let components = golden["components"] as! [String: [String: [Any]]]
        let textWidth = configs["text_encoder"]!["hidden_size"] as! Int
        configs["unet"]!["cross_attention_dim"] = textWidth
        configs["text_encoder"]!["vocab_size"] = 49_408
        configs["text_encoder"]!["max_position_embeddings"] = 77
        configs["text_encoder"]!["bos_token_id"] = 49_406
        configs["text_encoder"]!["eos_token_id"] = 49_407
        configs["text_encoder"]!["pad_token_id"] = 49_407
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let index: [String: Any] = [
            "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
            "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"], "safety_checker": [NSNull(), NSNull()],
            "feature_extractor": [NSNull(), NSNull()], "requires_safety_checker": false,
        ]
        try json(index, root.appendingPathComponent("model_index.json"))
        var seed: UInt64 = 1
        for (name, file) in [("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"), ("text_encoder", "model")] {
            let folder = root.appendingPathComponent(name, isDirectory: true)
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try json(configs[name]!, folder.appendingPathComponent("config.json"))
            var tensors: [String: Tensor] = [:]
            for (tensor, fingerprint) in components[name]! {
                var shape = fingerprint[0] as! [Int]
                if name == "unet", tensor.contains("attn2.to_k.") || tensor.contains("attn2.to_v."), shape.count == 2 { shape[1] = textWidth }
                if tensor == "embeddings.token_embedding.weight" { shape[0] = 49_408 }
                if tensor == "embeddings.position_embedding.weight" { shape[0] = 77 }
                seed += 1
                tensors[tensor] = shape.count == 1 && tensor.hasSuffix(".weight")
                    ? Tensor(shape: Shape(shape), repeating: 1)
                    : Tensor(uniform: Shape(shape), bound: shape.count == 1 ? 0.05 : Float((3.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()), seed: seed)
            }
            try SafetensorsFile.write(tensors, to: folder.appendingPathComponent("\(file).safetensors"))
        }
        let tokenizer = root.appendingPathComponent("tokenizer", isDirectory: true)
        try fm.createDirectory(at: tokenizer, withIntermediateDirectories: true)
        // Bytes only, no merges: every prompt is spelt out byte by byte, ids within the vocabulary.
        var vocabulary: [String: Int] = [:]
        let bytes = CLIPTokenizer.byteSymbolsInVocabularyOrder
        for (id, token) in (bytes + bytes.map { $0 + "</w>" }).enumerated() { vocabulary[token] = id }
        vocabulary["<|startoftext|>"] = 49_406
        vocabulary["<|endoftext|>"] = 49_407
        try json(vocabulary, tokenizer.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: tokenizer.appendingPathComponent("merges.txt"))
        try json(["pad_token": "<|endoftext|>", "model_max_length": 77], tokenizer.appendingPathComponent("tokenizer_config.json"))
        let scheduler = root.appendingPathComponent("scheduler", isDirectory: true)
        try fm.createDirectory(at: scheduler, withIntermediateDirectories: true)
        try json([
            "_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000, "prediction_type": "epsilon", "timestep_spacing": "leading", "steps_offset": 1,
        ], scheduler.appendingPathComponent("scheduler_config.json"))
    }

    /// An original-layout single file with the tensor names and shapes of a checkpoint golden
    /// (zeros: the family is detected from names and shapes alone).
    static func writeSingleFile(golden name: String, to url: URL) throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent(name))) as! [String: Any]
        let shapes = golden["single_file"] as! [String: [Int]]
        try SafetensorsFile.write(shapes.mapValues { Tensor(zeros: Shape($0)) }, to: url)
    }

    /// A TAESD component folder with the tiny configuration of the autoencoder goldens.
    static func writePreviewDecoder(_ folder: URL) throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent("autoencoders.json"))) as! [String: Any]
        let tiny = (golden["tiny"] as! [[String: Any]])[0]
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try json(tiny["config"]!, folder.appendingPathComponent("config.json"))
        var seed: UInt64 = 1_000
        let tensors = (tiny["weights"] as! [String: [Int]]).mapValues { shape -> Tensor in
            seed += 1
            return Tensor(uniform: Shape(shape), bound: shape.count == 1 ? 0.05 : Float((3.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()), seed: seed)
        }
        try SafetensorsFile.write(tensors, to: folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
    }

    /// Adds a `safety_checker` (the small configuration and weight table of
    /// `safety_checker.json`, made by `scripts/diffusion/make_safety_goldens.py`) and its
    /// `feature_extractor` to a folder `write(_:)` made. Every concept threshold is `threshold`:
    /// below -1 every image is flagged, above 1 none is.
    static func writeSafetyChecker(_ root: URL, threshold: Float) throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent("safety_checker.json"))) as! [String: Any]
        let indexURL = root.appendingPathComponent("model_index.json")
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
        index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
        index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
        index["requires_safety_checker"] = true
        try json(index, indexURL)
        let checker = root.appendingPathComponent("safety_checker", isDirectory: true)
        let extractor = root.appendingPathComponent("feature_extractor", isDirectory: true)
        try FileManager.default.createDirectory(at: checker, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: extractor, withIntermediateDirectories: true)
        try json(golden["config"]!, checker.appendingPathComponent("config.json"))
        try json(golden["preprocessor"]!, extractor.appendingPathComponent("preprocessor_config.json"))
        var seed: UInt64 = 2_000
        var tensors = (golden["weights"] as! [String: [Int]]).mapValues { shape -> Tensor in
            seed += 1
            return Tensor(uniform: Shape(shape), bound: shape.count == 1 ? 0.05 : Float((3.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()), seed: seed)
        }
        tensors["concept_embeds_weights"] = Tensor(shape: Shape([17]), repeating: threshold)
        tensors["special_care_embeds_weights"] = Tensor(shape: Shape([3]), repeating: threshold)
        try SafetensorsFile.write(tensors, to: checker.appendingPathComponent("model.safetensors"))
    }

    private static func json(_ object: Any, _ url: URL) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-sd-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
