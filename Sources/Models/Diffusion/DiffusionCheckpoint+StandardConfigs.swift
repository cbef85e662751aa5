// The diffusers configurations of the reference pipelines each single-file family loads into
// (stable-diffusion-v1-5, stable-diffusion-2-1, stable-diffusion-xl-base-1.0), as their
// model_index.json and per-component config.json files give them.
import Foundation

extension DiffusionCheckpoint {
    /// The reference pipeline of a family: its class, components (class and config) and tokenizers.
    struct StandardPipeline {
        var pipelineClass: String
        var components: [(name: String, className: String, config: String)]
        var scheduler: (className: String, config: String)
        var tokenizers: [String: CLIPTokenizer.Padding]
    }

    static func standardPipeline(_ family: Family) -> StandardPipeline {
        switch family {
        case .sd1:
            return StandardPipeline(
                pipelineClass: "StableDiffusionPipeline",
                components: [("unet", "UNet2DConditionModel", sd1UNet), ("vae", "AutoencoderKL", vae(sampleSize: 512, scalingFactor: "0.18215")),
                             ("text_encoder", "CLIPTextModel", clipL)],
                scheduler: ("PNDMScheduler", pndmScheduler), tokenizers: ["tokenizer": .endOfText])
        case .sd2:
            return StandardPipeline(
                pipelineClass: "StableDiffusionPipeline",
                components: [("unet", "UNet2DConditionModel", sd2UNet), ("vae", "AutoencoderKL", vae(sampleSize: 768, scalingFactor: "0.18215")),
                             ("text_encoder", "CLIPTextModel", openCLIPH)],
                scheduler: ("DDIMScheduler", ddimScheduler), tokenizers: ["tokenizer": .exclamation])
        case .sdxl:
            return StandardPipeline(
                pipelineClass: "StableDiffusionXLPipeline",
                components: [("unet", "UNet2DConditionModel", sdxlUNet),
                             ("vae", "AutoencoderKL", vae(sampleSize: 1024, scalingFactor: "0.13025", forceUpcast: true)),
                             ("text_encoder", "CLIPTextModel", clipL), ("text_encoder_2", "CLIPTextModelWithProjection", openCLIPBigG)],
                scheduler: ("EulerDiscreteScheduler", eulerScheduler), tokenizers: ["tokenizer": .endOfText, "tokenizer_2": .exclamation])
        }
    }

    private static let sd1UNet = """
        {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
         "center_input_sample": false, "cross_attention_dim": 768,
         "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
         "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
         "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
         "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
        """

    private static let sd2UNet = """
        {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20],
         "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false, "cross_attention_dim": 1024,
         "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
         "downsample_padding": 1, "dual_cross_attention": false, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
         "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "num_class_embeds": null,
         "only_cross_attention": false, "out_channels": 4, "sample_size": 96,
         "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
         "upcast_attention": true, "use_linear_projection": true}
        """

    private static let sdxlUNet = """
        {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
         "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
         "block_out_channels": [320, 640, 1280], "center_input_sample": false, "class_embed_type": null,
         "class_embeddings_concat": false, "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": 2048,
         "cross_attention_norm": null, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
         "downsample_padding": 1, "dual_cross_attention": false, "encoder_hid_dim": null, "encoder_hid_dim_type": null,
         "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2, "mid_block_only_cross_attention": null,
         "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32,
         "num_attention_heads": null, "num_class_embeds": null, "only_cross_attention": false, "out_channels": 4,
         "projection_class_embeddings_input_dim": 2816, "resnet_out_scale_factor": 1.0, "resnet_skip_time_act": false,
         "resnet_time_scale_shift": "default", "sample_size": 128, "time_cond_proj_dim": null, "time_embedding_act_fn": null,
         "time_embedding_dim": null, "time_embedding_type": "positional", "timestep_post_act": null,
         "transformer_layers_per_block": [1, 2, 10], "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
         "upcast_attention": null, "use_linear_projection": true}
        """

    private static func vae(sampleSize: Int, scalingFactor: String, forceUpcast: Bool = false) -> String {
        """
        {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
         "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
         "force_upcast": \(forceUpcast), "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
         "out_channels": 3, "sample_size": \(sampleSize), "scaling_factor": \(scalingFactor),
         "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}
        """
    }

    private static func clipText(_ architecture: String, act: String, hidden: Int, intermediate: Int, heads: Int, layers: Int, projection: Int) -> String {
        """
        {"architectures": ["\(architecture)"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
         "hidden_act": "\(act)", "hidden_size": \(hidden), "initializer_factor": 1.0, "initializer_range": 0.02,
         "intermediate_size": \(intermediate), "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
         "num_attention_heads": \(heads), "num_hidden_layers": \(layers), "pad_token_id": 1, "projection_dim": \(projection),
         "vocab_size": 49408}
        """
    }

    /// OpenAI CLIP ViT-L/14's text tower (SD 1.x, SDXL's first encoder).
    private static let clipL = clipText("CLIPTextModel", act: "quick_gelu", hidden: 768, intermediate: 3072, heads: 12, layers: 12, projection: 768)
    /// OpenCLIP ViT-H/14 less its last layer (SD 2.x reads the penultimate layer, so diffusers drops the 24th).
    private static let openCLIPH = clipText("CLIPTextModel", act: "gelu", hidden: 1024, intermediate: 4096, heads: 16, layers: 23, projection: 512)
    /// OpenCLIP ViT-bigG/14 with its projection (SDXL's second encoder).
    private static let openCLIPBigG = clipText("CLIPTextModelWithProjection", act: "gelu", hidden: 1280, intermediate: 5120, heads: 20,
                                               layers: 32, projection: 1280)

    private static let pndmScheduler = """
        {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "clip_sample": false, "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": false,
         "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null}
        """

    private static let ddimScheduler = """
        {"_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "clip_sample": false, "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": false,
         "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null}
        """

    private static let eulerScheduler = """
        {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "clip_sample": false, "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
         "sample_max_value": 1.0, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
         "timestep_spacing": "leading", "trained_betas": null, "use_karras_sigmas": false}
        """
}
