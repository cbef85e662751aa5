"""Writes Tests/DiffusionTests/Goldens/pipelines.json: diffusers' pipelines end to end on small models.

Each case builds a small Stable Diffusion 1.x or SDXL pipeline (UNet, autoencoder, CLIP text
encoder(s) with CLIP's full 49,408-token vocabulary, a scheduler) with weights from
tiny_weights, runs it with a CPU generator, and records the uint8 images. The Swift test
writes the same pipeline as a diffusers folder, opens it with DiffusionCheckpoint and runs
StableDiffusionPipeline with the same request.

    make_pipeline_goldens.py BPE_GZ   # CLIP's bpe_simple_vocab_16e6.txt.gz (open_clip_torch 3.3.0)

Run with the pinned venv (README.md); the output is byte for byte the same on every run.
"""
import gzip
import json
import pathlib
import sys
import tempfile

import diffusers
import numpy as np
import torch
import transformers
from diffusers import (AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, LCMScheduler,
                       StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline, StableDiffusionPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel)
from PIL import Image
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

import tiny_weights
from make_tokenizer_goldens import write_folder

assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__
torch.set_num_threads(1)

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/pipelines.json"
SD_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    steps_offset=1, set_alpha_to_one=False, clip_sample=False, prediction_type="epsilon")
TEXT = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=77, bos_token_id=49406, eos_token_id=2, pad_token_id=1, hidden_act="quick_gelu")
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[32, 64], layers_per_block=1,
           norm_num_groups=16, down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
UNET_SD = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=[32, 64], layers_per_block=1, norm_num_groups=8,
               down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
               cross_attention_dim=32, attention_head_dim=2)
UNET_XL = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=[32, 64], layers_per_block=1, norm_num_groups=16,
               down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"], up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
               cross_attention_dim=64, attention_head_dim=[2, 4], transformer_layers_per_block=[1, 2], use_linear_projection=True,
               addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=16 + 6 * 8)


def filled(module):
    tiny_weights.fill(module.eval())
    return module


def init_image(width, height):
    values = (tiny_weights.uniform("pipeline.init_image", width * height * 3) + 1) * 127.5
    return Image.fromarray(np.floor(values).clip(0, 255).astype(np.uint8).reshape(height, width, 3))


def mask_image(width, height):
    """Repaint a striped region right of the first quarter; RGB, so the grey conversion counts."""
    v = np.array([[255 if (x + 2 * y) % 7 < 4 and x >= width // 4 else 0 for x in range(width)] for y in range(height)],
                 dtype=np.uint8)
    return Image.fromarray(np.stack([v, v, (v.astype(np.int32) * 3 // 4).astype(np.uint8)], axis=-1))


def build(case, tokenizers):
    vae = filled(AutoencoderKL(**VAE))
    sched_cls = {"euler": EulerDiscreteScheduler, "dpm": DPMSolverMultistepScheduler, "ddim": DDIMScheduler,
                 "lcm": LCMScheduler}[case["scheduler"]]
    scheduler = sched_cls.from_config(SD_SCHEDULER)
    if case["family"] == "sdxl":
        unet = filled(UNet2DConditionModel(**UNET_XL))
        te1 = filled(CLIPTextModel(CLIPTextConfig(**TEXT)))
        te2 = filled(CLIPTextModelWithProjection(CLIPTextConfig(**(TEXT | dict(hidden_act="gelu", projection_dim=16,
                                                                                 eos_token_id=49407)))))
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tokenizers["sd1"],
                                         tokenizer_2=tokenizers["sd2"], unet=unet, scheduler=scheduler)
        components = {"text_encoder": te1, "text_encoder_2": te2}
    else:
        config = UNET_SD | ({"time_cond_proj_dim": 8} if case["scheduler"] == "lcm" else {})
        config |= {"in_channels": case.get("unet_channels", 4)}
        unet = filled(UNet2DConditionModel(**config))
        te1 = filled(CLIPTextModel(CLIPTextConfig(**TEXT)))
        cls = (StableDiffusionInpaintPipeline if case.get("mask") else
               StableDiffusionImg2ImgPipeline if case.get("strength") else StableDiffusionPipeline)
        pipe = cls(vae=vae, text_encoder=te1, tokenizer=tokenizers["sd1"], unet=unet, scheduler=scheduler,
                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        components = {"text_encoder": te1}
    components |= {"unet": unet, "vae": vae}
    return pipe, components, scheduler


CASES = {
    "sd1_euler_cfg": dict(family="sd1", scheduler="euler", prompt="a photo of an astronaut riding a horse on mars",
                          negative_prompt="blurry, low quality", width=48, height=32, steps=3, guidance=7.5, seed=7, images=2),
    "sd1_img2img_ddim": dict(family="sd1", scheduler="ddim", prompt="an oil painting of a castle", negative_prompt="",
                             width=48, height=32, steps=5, guidance=4.0, seed=11, images=1, strength=0.6),
    # An image that is not a multiple of the small autoencoder's factor (2): diffusers' image processor sizes it to 48x32
    # with Pillow's Lanczos before encoding.
    "sd1_img2img_resized": dict(family="sd1", scheduler="euler", prompt="a lighthouse at dusk", negative_prompt="",
                                width=48, height=32, image_width=49, image_height=33, steps=3, guidance=5.0, seed=13,
                                images=1, strength=0.7),
    "sd1_lcm": dict(family="sd1", scheduler="lcm", prompt="neon city at night", negative_prompt="", width=32, height=32,
                    steps=2, guidance=8.0, seed=3, images=1),
    "sd1_inpaint_euler": dict(family="sd1", scheduler="euler", prompt="a red door", negative_prompt="", width=48, height=32,
                              steps=3, guidance=6.0, seed=5, images=2, strength=1.0, mask=True),
    "sd1_inpaint9_ddim": dict(family="sd1", scheduler="ddim", prompt="a red door", negative_prompt="dark", width=48,
                              height=32, steps=4, guidance=3.0, seed=9, images=1, strength=0.75, mask=True, unet_channels=9),
    "sdxl_dpm": dict(family="sdxl", scheduler="dpm", prompt="a watercolor fox, highly detailed!", negative_prompt="",
                     width=32, height=48, steps=3, guidance=5.0, seed=21, images=1),
}


def main():
    merges = gzip.decompress(pathlib.Path(sys.argv[1]).read_bytes()).decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tokenizers = {}
        for flavour, pad in [("sd1", "<|endoftext|>"), ("sd2", "!")]:
            folder = pathlib.Path(tmp) / flavour
            folder.mkdir()
            write_folder(folder, merges, pad)
            tokenizers[flavour] = CLIPTokenizer.from_pretrained(folder)
        for name, case in CASES.items():
            pipe, components, scheduler = build(case, tokenizers)
            kwargs = dict(prompt=case["prompt"], num_inference_steps=case["steps"], guidance_scale=case["guidance"],
                          num_images_per_prompt=case["images"], generator=torch.Generator().manual_seed(case["seed"]),
                          output_type="np")
            if case["negative_prompt"]:
                kwargs["negative_prompt"] = case["negative_prompt"]
            if case.get("mask"):
                kwargs |= dict(image=init_image(case["width"], case["height"]), strength=case["strength"],
                               mask_image=mask_image(case["width"], case["height"]), width=case["width"],
                               height=case["height"])
            elif case.get("strength"):
                kwargs |= dict(image=init_image(case.get("image_width", case["width"]), case.get("image_height", case["height"])),
                               strength=case["strength"])
            else:
                kwargs |= dict(width=case["width"], height=case["height"])
            with torch.no_grad():
                images = pipe(**kwargs).images
            pixels = (images * 255).round().clip(0, 255).astype(np.uint8)
            out[name] = case | {
                "configs": {k: (dict(v.config) if not hasattr(v.config, "to_dict") else v.config.to_dict())
                            for k, v in components.items()},
                "scheduler_config": dict(scheduler.config),
                "weights": {k: {n: list(t.shape) for n, t in v.state_dict().items()} for k, v in components.items()},
                "pixels": pixels.reshape(-1).tolist(),
                "shape": list(pixels.shape),
            }
    def clean(value):
        if isinstance(value, dict):
            # Non-finite values (DPM-Solver's lambda_min_clipped = -inf) are left to their defaults.
            return {str(k): clean(v) for k, v in value.items() if not str(k).startswith("_")
                    and not (isinstance(v, float) and not np.isfinite(v))}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, (np.integer,)):
            return int(value)
        if isinstance(value, (np.floating,)):
            return float(value)
        if isinstance(value, torch.dtype):
            return str(value).replace("torch.", "")
        return value
    OUT.write_text(json.dumps(clean(out), sort_keys=True, separators=(",", ":")) + "\n")
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
