// Benchmark driver: one denoising call of a full-size Stable Diffusion UNet (SD 1.5, SD 2.1 or
// SDXL architecture), or one decode of the Stable Diffusion VAE decoder (`vae-sd`), weights made
// up (speed does not depend on their values), on the engine, printing one JSON line with the CPU
// model and the kernel path. bench/diffusion/run.sh runs the PyTorch and OpenVINO peers on the
// same architecture and input shapes alongside.
//
//   DiffusionBench sd15|sd21|sdxl|vae-sd SIZE BATCH RUNS [--profile]
import Foundation
import Graph
import Kernels
import Models
import Tensor

@main
struct DiffusionBenchMain {
    static func main() throws {
        let args = CommandLine.arguments
        guard args.count >= 5, let size = Int(args[2]), let batch = Int(args[3]), let runs = Int(args[4]),
              UNetBenchConfigs.json[args[1]] != nil || args[1] == "vae-sd", size % 8 == 0, size > 0, batch >= 1, runs >= 1 else {
            print("usage: DiffusionBench sd15|sd21|sdxl|vae-sd SIZE BATCH RUNS [--profile]")
            exit(2)
        }
        let profile = args.contains("--profile")
        let threads = ProcessInfo.processInfo.environment["PEREGRINE_THREADS"].flatMap(Int.init) ?? 2
        let precision: ComputePrecision = ProcessInfo.processInfo.environment["PEREGRINE_PRECISION"] == "bf16" ? .bf16 : .fp32
        let pool = ComputePool(threads: threads)
        var result: [String: Any] = [
            "engine": "peregrine",
            "cpu": CPUFeatures.current.modelName,
            "kernel_path": KernelPath.current.summary(bf16Requested: precision == .bf16),
            "threads": threads,
            "size": size,
            "batch": batch,
        ]
        if args[1] == "vae-sd" {
            try benchDecoder(size: size, batch: batch, runs: runs, profile: profile, pool: pool, precision: precision, into: &result)
        } else {
            try benchUNet(args[1], size: size, batch: batch, runs: runs, profile: profile, pool: pool, precision: precision,
                          into: &result)
        }
        // Peak resident memory (weights, packed copies, activations and what loading held).
        result["peak_rss_bytes"] = statusBytes("VmHWM")
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// A `kB` field of /proc/self/status in bytes (0 where the file does not exist).
    static func statusBytes(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let digits = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { Int($0) } ?? 0
            return digits * 1024
        }
        return 0
    }

    /// Times `call` `runs + 1` times; the first call (which plans memory for the shape) is
    /// reported apart.
    static func time(runs: Int, _ call: () throws -> Void, into result: inout [String: Any]) rethrows {
        var times: [Double] = []
        for _ in 0...runs {
            let start = Date()
            try call()
            times.append(Date().timeIntervalSince(start))
        }
        result["first_call_s"] = times.removeFirst()
        result["run_s"] = times
        result["median_s"] = times.sorted()[times.count / 2]
    }

    /// The Stable Diffusion VAE decoder on `[batch, 4, size / 8, size / 8]` latents.
    static func benchDecoder(size: Int, batch: Int, runs: Int, profile: Bool, pool: ComputePool, precision: ComputePrecision,
                             into result: inout [String: Any]) throws {
        let loadStart = Date()
        let vae = try AutoencoderKL(configJSON: Data(UNetBenchConfigs.vaeSD.utf8), weights: .synthesized(component: "vae"),
                                    pool: pool, precision: precision, includeEncoder: false)
        result["load_s"] = Date().timeIntervalSince(loadStart)
        result["model"] = "vae-decoder-sd"
        let z = Tensor(uniform: Shape([batch, 4, size / 8, size / 8]), bound: 1, seed: 1)
        try time(runs: runs, { _ = try vae.runDecoder(z) }, into: &result)
        result["rss_bytes"] = statusBytes("VmRSS")
        result["weight_bytes"] = vae.decoderExecutor.weightBytes
        result["activation_bytes"] = vae.decoderExecutor.activationBytes
        if profile {
            let (_, nodes) = try vae.decoderExecutor.profile([z])
            result["per_op_s"] = nodes.reduce(into: [String: Double]()) { $0[$1.op, default: 0] += $1.seconds }
        }
    }

    /// One UNet call (classifier-free guidance's pair when `batch` is 2).
    static func benchUNet(_ family: String, size: Int, batch: Int, runs: Int, profile: Bool, pool: ComputePool,
                          precision: ComputePrecision, into result: inout [String: Any]) throws {
        let configJSON = UNetBenchConfigs.json[family]!
        let config = try UNet2DConditionConfig.decode(Data(configJSON.utf8))
        let loadStart = Date()
        let unet = try UNet2DConditionModel(config: config, weights: .synthesized(component: "unet"), pool: pool, precision: precision)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        result["rss_after_load_bytes"] = statusBytes("VmRSS")

        let latent = size / 8
        let sample = Tensor(uniform: Shape([batch, config.inChannels, latent, latent]), bound: 1, seed: 1)
        let crossDim = try config.blocks().last?.crossAttentionDim ?? 768
        let context = Tensor(uniform: Shape([batch, 77, crossDim]), bound: 1, seed: 2)
        var added: Tensor?
        if unet.takesAddedConditioning, let total = config.projectionClassEmbeddingsInputDim, let dim = config.additionTimeEmbedDim {
            let text = Tensor(uniform: Shape([batch, total - 6 * dim]), bound: 1, seed: 3)
            let ids = [Float(size), Float(size), 0, 0, Float(size), Float(size)]
            added = try unet.addedConditioning(textEmbeds: text, timeIDs: Array(repeating: ids, count: batch))
        }
        let timesteps = [Float](repeating: 500, count: batch)
        result["load_s"] = loadSeconds
        result["model"] = "unet-\(family)"
        try time(runs: runs, {
            _ = try unet(sample: sample, timesteps: timesteps, encoderHiddenStates: context, addedConditioning: added)
        }, into: &result)
        result["rss_bytes"] = statusBytes("VmRSS")
        result["weight_bytes"] = unet.executor.weightBytes
        result["activation_bytes"] = unet.executor.activationBytes
        if profile {
            var inputs = [sample, unet.timestepEmbedding(timesteps), context]
            if let added { inputs.append(added) }
            let (_, nodes) = try unet.executor.profile(inputs)
            result["per_op_s"] = nodes.reduce(into: [String: Double]()) { $0[$1.op, default: 0] += $1.seconds }
            // Where the time goes by layer kind: the node name without block and layer indices.
            result["per_layer_kind_s"] = nodes.reduce(into: [String: Double]()) { sums, node in
                let kind = node.name.split(separator: ".").filter { Int($0) == nil }.joined(separator: ".")
                sums["\(node.op) \(kind)", default: 0] += node.seconds
            }
        }
    }
}

/// The UNet configurations of the three generations' base models (diffusers' `unet/config.json`
/// of SD 1.5, SD 2.1 and SDXL 1.0, the fields that shape the network), and SD 1.5's
/// `vae/config.json` (the decoder SD 2.1 shares).
enum UNetBenchConfigs {
    static let vaeSD = #"""
        {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "latent_channels": 4, "norm_num_groups": 32,
         "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
         "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"], "sample_size": 512}
        """#

    static let json: [String: String] = [
        "sd15": #"{"cross_attention_dim": 768, "attention_head_dim": 8, "sample_size": 64}"#,
        "sd21": #"{"cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20], "use_linear_projection": true, "sample_size": 96}"#,
        "sdxl": #"""
            {"cross_attention_dim": 2048, "attention_head_dim": [5, 10, 20], "use_linear_projection": true, "sample_size": 128,
             "block_out_channels": [320, 640, 1280], "transformer_layers_per_block": [1, 2, 10],
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
             "addition_embed_type": "text_time", "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816}
            """#,
    ]
}
