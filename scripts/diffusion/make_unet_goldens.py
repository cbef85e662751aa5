"""Writes Tests/DiffusionTests/Goldens/unet.json: diffusers' UNet2DConditionModel on small configs.

Three configurations cover the three generations' UNet features: SD 1.x (1x1-convolution
projections, heads from `attention_head_dim`), SD 2.x (linear projections, per-block heads,
cross-attention in every block) and SDXL with LCM's guidance projection (`text_time` added
conditioning, two transformer layers per block, no attention in the first block). Weights come
from tiny_weights (rebuilt bit for bit by the Swift test); the golden holds each config, the
weight shape table, the inputs' labels and shapes, and the model's output.
Run with the pinned venv (README.md); the output is byte for byte the same on every run.
"""
import json
import pathlib

import diffusers
import numpy as np
import torch
from diffusers import UNet2DConditionModel

import tiny_weights

assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__
torch.set_num_threads(1)

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/unet.json"

CASES = {
    "sd1": dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=[32, 64], layers_per_block=1,
                down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                cross_attention_dim=24, attention_head_dim=2, norm_num_groups=8),
    "sd2": dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=[32, 48], layers_per_block=1,
                down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=40,
                attention_head_dim=[2, 4], use_linear_projection=True, norm_num_groups=8, flip_sin_to_cos=True),
    "sdxl_lcm": dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=[32, 64], layers_per_block=2,
                     down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"], up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
                     cross_attention_dim=32, attention_head_dim=[2, 4], transformer_layers_per_block=[1, 2],
                     use_linear_projection=True, norm_num_groups=16, addition_embed_type="text_time",
                     addition_time_embed_dim=8, projection_class_embeddings_input_dim=16 + 6 * 8, time_cond_proj_dim=8),
}
# Latent sizes other than 8x12: odd sizes (not a multiple of 2^levels), where diffusers
# upsamples to the skip connection's size instead of by 2.
SIZES = {"sd1_odd": (7, 5)}
CASES["sd1_odd"] = CASES["sd1"]


def main():
    cases = {}
    for name, config in CASES.items():
        model = UNet2DConditionModel(**config).eval()
        tiny_weights.fill(model)
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        batch, (height, width) = 2, SIZES.get(name, (8, 12))
        seq = 5
        inputs = {
            "sample": ([batch, 4, height, width], 1.0),
            "encoder_hidden_states": ([batch, seq, config["cross_attention_dim"]], 1.0),
        }
        arrays = {k: tiny_weights.tensor_input(f"{name}.{k}", s, scale) for k, (s, scale) in inputs.items()}
        timesteps = [981.0, 1.5]
        kwargs = {}
        record = {}
        if config.get("addition_embed_type") == "text_time":
            text = tiny_weights.tensor_input(f"{name}.text_embeds", [batch, 16])
            time_ids = [[1024.0, 768.0, 0.0, 16.0, 512.0, 640.0], [64.0, 64.0, 0.0, 0.0, 64.0, 96.0]]
            kwargs["added_cond_kwargs"] = {"text_embeds": torch.from_numpy(text),
                                           "time_ids": torch.tensor(time_ids, dtype=torch.float32)}
            record["text_embeds"] = [batch, 16]
            record["time_ids"] = time_ids
        if config.get("time_cond_proj_dim"):
            cond = tiny_weights.tensor_input(f"{name}.timestep_cond", [batch, config["time_cond_proj_dim"]])
            kwargs["timestep_cond"] = torch.from_numpy(cond)
            record["timestep_cond"] = [batch, config["time_cond_proj_dim"]]
        with torch.no_grad():
            out = model(torch.from_numpy(arrays["sample"]), torch.tensor(timesteps),
                        torch.from_numpy(arrays["encoder_hidden_states"]), **kwargs).sample.numpy()
        cases[name] = {
            "config": config,
            "weights": shapes,
            "inputs": {k: s for k, (s, _) in inputs.items()} | record,
            "timesteps": timesteps,
            "output_shape": list(out.shape),
            "output": [float(f"{v:.7g}") for v in out.reshape(-1).tolist()],
        }
    OUT.write_text(json.dumps(cases, sort_keys=True, separators=(",", ":")) + "\n")
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
