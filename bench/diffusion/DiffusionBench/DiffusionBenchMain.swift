// Benchmark driver: one denoising call of a full-size Stable Diffusion UNet (SD 1.5, SD 2.1 or
// SDXL architecture, weights made up: speed does not depend on their values) on the engine,
// printing one JSON line with the CPU model and the kernel path. bench/diffusion/run.sh runs
// the PyTorch and OpenVINO peers on the same architecture and input shapes alongside.
//
//   DiffusionBench FAMILY SIZE BATCH RUNS [--profile]
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
              let configJSON = UNetBenchConfigs.json[args[1]], size % 8 == 0, batch >= 1, runs >= 1 else {
            print("usage: DiffusionBench sd15|sd21|sdxl SIZE BATCH RUNS [--profile]")
            exit(2)
        }
        let profile = args.contains("--profile")
        let threads = ProcessInfo.processInfo.environment["PEREGRINE_THREADS"].flatMap(Int.init) ?? 2
        let precision: ComputePrecision = ProcessInfo.processInfo.environment["PEREGRINE_PRECISION"] == "bf16" ? .bf16 : .fp32
        let config = try UNet2DConditionConfig.decode(Data(configJSON.utf8))
        let pool = ComputePool(threads: threads)
        let loadStart = Date()
        let unet = try UNet2DConditionModel(config: config, weights: .synthesized(component: "unet"), pool: pool, precision: precision)
        let loadSeconds = Date().timeIntervalSince(loadStart)

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
        var times: [Double] = []
        var perOp: [String: Double] = [:]
        for _ in 0...runs {
            let start = Date()
            _ = try unet(sample: sample, timesteps: timesteps, encoderHiddenStates: context, addedConditioning: added)
            // The first call plans memory for the shape; it is reported apart.
            times.append(Date().timeIntervalSince(start))
        }
        let first = times.removeFirst()
        if profile {
            var inputs = [sample, unet.timestepEmbedding(timesteps), context]
            if let added { inputs.append(added) }
            let (_, nodes) = try unet.executor.profile(inputs)
            perOp = nodes.reduce(into: [:]) { $0[$1.op, default: 0] += $1.seconds }
        }
        var result: [String: Any] = [
            "engine": "peregrine",
            "model": "unet-\(args[1])",
            "cpu": CPUFeatures.current.modelName,
            "kernel_path": KernelPath.current.summary(bf16Requested: precision == .bf16),
            "threads": threads,
            "size": size,
            "batch": batch,
            "load_s": loadSeconds,
            "first_call_s": first,
            "run_s": times,
            "median_s": times.sorted()[times.count / 2],
            "weight_bytes": unet.executor.weightBytes,
            "activation_bytes": unet.executor.activationBytes,
        ]
        if profile { result["per_op_s"] = perOp }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

/// The UNet configurations of the three generations' base models (diffusers' `unet/config.json`
/// of SD 1.5, SD 2.1 and SDXL 1.0, the fields that shape the network).
enum UNetBenchConfigs {
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
