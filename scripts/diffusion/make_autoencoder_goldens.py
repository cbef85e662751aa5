"""Writes Tests/DiffusionTests/Goldens/autoencoders.json: small diffusers autoencoders run the way
Stable Diffusion pipelines run them.

Two AutoencoderKL models (an SD-shaped one with mid-block attention and the quant convolutions,
and an SD3-shaped one with a shift factor, no attention and no quant convolutions) and one
AutoencoderTiny (TAESD-shaped). Every weight is `tiny_weights.fill`'s, every input
`tiny_weights.tensor_input(label, shape)`, so the golden holds only the configuration (as the
model's config.json), the `name -> shape` weight table, input labels and shapes, and outputs:

- decode: the pipeline's `vae.decode(latents / scaling_factor [+ shift_factor])` for latents
  as the denoiser leaves them, and (first case only) `VaeImageProcessor.postprocess(...,
  output_type="pil")` of it as RGB8 samples;
- encode: for an image in [-1, 1], AutoencoderKL's `latent_dist.mean`, `.logvar`, a sample
  `mean + std * noise` for a labelled noise tensor, and the pipeline's latents from the mean,
  `(mean [- shift_factor]) * scaling_factor`; AutoencoderTiny's `latents` and
  `latents * scaling_factor`.

Run with the pinned venv (README.md); the output is byte for byte the same on every run.
"""
import json
import pathlib

import diffusers
import numpy as np
import torch
from diffusers import AutoencoderKL, AutoencoderTiny
from diffusers.image_processor import VaeImageProcessor

import tiny_weights

assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/autoencoders.json"
torch.set_num_threads(1)

KL_CASES = [
    dict(name="sd",
         config=dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                     up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, norm_num_groups=8,
                     latent_channels=4, sample_size=16),
         decode=[[2, 4, 3, 5], [1, 4, 4, 4]],
         encode=[[1, 3, 6, 10], [1, 3, 7, 9]]),
    dict(name="sd3",
         config=dict(block_out_channels=(16, 32, 32), down_block_types=("DownEncoderBlock2D",) * 3,
                     up_block_types=("UpDecoderBlock2D",) * 3, layers_per_block=2, norm_num_groups=4,
                     latent_channels=16, sample_size=16, scaling_factor=1.5305, shift_factor=0.0609,
                     mid_block_add_attention=False, use_quant_conv=False, use_post_quant_conv=False),
         decode=[[1, 16, 3, 4]],
         encode=[[1, 3, 12, 16]]),
]

TINY_CASES = [
    dict(name="taesd",
         config=dict(encoder_block_out_channels=(16, 16, 16), decoder_block_out_channels=(16, 16, 16),
                     num_encoder_blocks=(1, 2, 1), num_decoder_blocks=(1, 2, 1), latent_channels=4),
         decode=[[1, 4, 3, 5], [2, 4, 2, 2]],
         encode=[[1, 3, 12, 20]]),
]


def floats(tensor):
    return [float(v) for v in tensor.detach().numpy().astype(np.float32).reshape(-1)]


def weight_table(model):
    return {name: list(t.shape) for name, t in model.state_dict().items()}


def config_json(model):
    config = json.loads(model.to_json_string())
    config.pop("_diffusers_version", None)
    return config


def pipeline_decode_input(model, latents):
    """What StableDiffusionPipeline / StableDiffusion3Pipeline pass to `vae.decode`."""
    latents = latents / model.config.scaling_factor
    shift = getattr(model.config, "shift_factor", None)
    return latents + shift if shift is not None else latents


def pipeline_encode_output(model, z):
    """The denoiser's latents from an encoded image (img2img's `prepare_latents`)."""
    shift = getattr(model.config, "shift_factor", None)
    return (z - shift) * model.config.scaling_factor if shift is not None else z * model.config.scaling_factor


def rgb8(decoded):
    images = VaeImageProcessor(vae_scale_factor=8).postprocess(decoded, output_type="pil")
    return [int(v) for image in images for v in np.asarray(image).reshape(-1)]


def run_kl(case):
    torch.manual_seed(0)
    model = AutoencoderKL(**case["config"]).eval()
    tiny_weights.fill(model)
    out = dict(name=case["name"], config=config_json(model), weights=weight_table(model), decode=[], encode=[])
    with torch.no_grad():
        for k, shape in enumerate(case["decode"]):
            label = f"vae.{case['name']}.latents.{k}"
            latents = torch.from_numpy(tiny_weights.tensor_input(label, shape))
            image = model.decode(pipeline_decode_input(model, latents)).sample
            entry = dict(input=label, shape=shape, output=floats(image))
            if k == 0:
                entry["rgb8"] = rgb8(image)
            out["decode"].append(entry)
        for k, shape in enumerate(case["encode"]):
            label = f"vae.{case['name']}.image.{k}"
            image = torch.from_numpy(tiny_weights.tensor_input(label, shape))
            dist = model.encode(image).latent_dist
            noise_label = f"vae.{case['name']}.noise.{k}"
            noise = torch.from_numpy(tiny_weights.tensor_input(noise_label, list(dist.mean.shape)))
            sample = dist.mean + dist.std * noise
            out["encode"].append(dict(input=label, shape=shape, mean=floats(dist.mean), logvar=floats(dist.logvar),
                                      noise=noise_label, sample=floats(sample),
                                      latents=floats(pipeline_encode_output(model, dist.mean))))
    return out


def run_tiny(case):
    model = AutoencoderTiny(**case["config"]).eval()
    tiny_weights.fill(model)
    out = dict(name=case["name"], config=config_json(model), weights=weight_table(model), decode=[], encode=[])
    with torch.no_grad():
        for k, shape in enumerate(case["decode"]):
            label = f"taesd.{case['name']}.latents.{k}"
            latents = torch.from_numpy(tiny_weights.tensor_input(label, shape))
            # StableDiffusionPipeline divides by the config's scaling factor (1.0 for TAESD) and
            # ignores shift_factor.
            image = model.decode(latents / model.config.scaling_factor).sample
            entry = dict(input=label, shape=shape, output=floats(image))
            if k == 0:
                entry["rgb8"] = rgb8(image)
            out["decode"].append(entry)
        for k, shape in enumerate(case["encode"]):
            label = f"taesd.{case['name']}.image.{k}"
            image = torch.from_numpy(tiny_weights.tensor_input(label, shape))
            z = model.encode(image).latents
            out["encode"].append(dict(input=label, shape=shape, mean=floats(z),
                                      latents=floats(z * model.config.scaling_factor)))
    return out


def main():
    golden = dict(kl=[run_kl(c) for c in KL_CASES], tiny=[run_tiny(c) for c in TINY_CASES])
    OUT.write_text(json.dumps(golden, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
