"""Writes Tests/DiffusionTests/Goldens/lora.json: a small SD 1.x pipeline with LoRAs, end to end.

The base is make_pipeline_goldens.py's `sd1_euler_cfg` pipeline. A PEFT LoRA on the UNet
(attention projections, the 1x1 proj_in convolution, the feed-forward output) and the text
encoder (q and v projections), with weights from tiny_weights, is saved with diffusers'
`save_lora_weights` (PEFT layout with adapter metadata) and, under kohya-ss names with `.alpha`
tensors, as a second file (UNet layers only). Each is loaded into a fresh pipeline with diffusers'
`load_lora_weights` and run at scale 0.7; the golden records the LoRA tensors' shapes (the Swift
test rebuilds them), both layouts' key lists and the uint8 images of both runs.

    make_lora_goldens.py BPE_GZ

Run with the pinned venv (README.md); the output is byte for byte the same on every run.
"""
import json
import pathlib
import sys
import tempfile

import diffusers
import numpy as np
import peft
import safetensors.torch
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict

import make_pipeline_goldens as base
import tiny_weights

assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert peft.__version__ == "0.22.0", peft.__version__
torch.set_num_threads(1)

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/lora.json"
CASE = base.CASES["sd1_euler_cfg"] | dict(images=1, steps=2, seed=13)
SCALE = 0.7


def tokenizers(bpe):
    import gzip
    merges = gzip.decompress(pathlib.Path(bpe).read_bytes()).decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    tmp = tempfile.mkdtemp()
    out = {}
    for flavour, pad in [("sd1", "<|endoftext|>"), ("sd2", "!")]:
        folder = pathlib.Path(tmp) / flavour
        folder.mkdir()
        base.write_folder(folder, merges, pad)
        out[flavour] = base.CLIPTokenizer.from_pretrained(folder)
    return out


def run(pipe):
    with torch.no_grad():
        images = pipe(prompt=CASE["prompt"], negative_prompt=CASE["negative_prompt"], width=CASE["width"],
                      height=CASE["height"], num_inference_steps=CASE["steps"], guidance_scale=CASE["guidance"],
                      num_images_per_prompt=CASE["images"], generator=torch.Generator().manual_seed(CASE["seed"]),
                      output_type="np", cross_attention_kwargs={"scale": SCALE}).images
    return (images * 255).round().clip(0, 255).astype(np.uint8).reshape(-1).tolist()


def kohya_name(component, key):
    """PEFT `unet.<module>.lora_A.weight` → kohya `lora_unet_<module_underscored>.lora_down.weight`."""
    module, kind = key.rsplit(".lora_", 1)
    prefix = {"unet": "lora_unet_", "text_encoder": "lora_te_"}[component]
    module = module[len(component) + 1:]
    if component == "text_encoder" and not module.startswith("text_model."):
        module = "text_model." + module
    suffix = {"A.weight": "lora_down.weight", "B.weight": "lora_up.weight"}[kind]
    return prefix + module.replace(".", "_") + "." + suffix, prefix + module.replace(".", "_") + ".alpha"


def ordered(config):
    """The adapter config with its sets (target modules) sorted, so the file is the same every run."""
    return {k: sorted(v) if isinstance(v, set) else v for k, v in config.to_dict().items()}


def main():
    toks = tokenizers(sys.argv[1])
    pipe, _, _ = base.build(CASE, toks)
    unet_config = LoraConfig(r=4, lora_alpha=8, target_modules=["to_q", "to_k", "to_v", "to_out.0", "proj_in", "ff.net.2"])
    text_config = LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj", "v_proj"])
    pipe.unet.add_adapter(unet_config)
    pipe.text_encoder.add_adapter(text_config)
    layers = {}
    for component, module in [("unet", pipe.unet), ("text_encoder", pipe.text_encoder)]:
        state = get_peft_model_state_dict(module)
        filled = {f"{component}.{k}": torch.from_numpy(tiny_weights.value(f"lora.{component}.{k}", tuple(v.shape)))
                  for k, v in state.items()}
        layers[component] = filled
    shapes = {k: list(v.shape) for c in layers.values() for k, v in c.items()}
    with tempfile.TemporaryDirectory() as tmp:
        diffusers.StableDiffusionPipeline.save_lora_weights(
            tmp, unet_lora_layers={k[len("unet."):]: v for k, v in layers["unet"].items()},
            text_encoder_lora_layers={k[len("text_encoder."):]: v for k, v in layers["text_encoder"].items()},
            unet_lora_adapter_metadata=ordered(unet_config), text_encoder_lora_adapter_metadata=ordered(text_config))
        peft_file = pathlib.Path(tmp) / "pytorch_lora_weights.safetensors"
        peft_keys = sorted(safetensors.torch.load_file(peft_file).keys())
        with open(peft_file, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        metadata = header.get("__metadata__", {})
        fresh, _, _ = base.build(CASE, toks)
        fresh.load_lora_weights(tmp)
        peft_pixels = run(fresh)

        kohya = {}
        # UNet layers only: diffusers 0.42.1 cannot load kohya text-encoder layers into
        # transformers 5's CLIPTextModel (its state-dict type inference fails).
        for component, tensors in [("unet", layers["unet"])]:
            alpha = {"unet": 8.0, "text_encoder": 2.0}[component]
            for key, value in tensors.items():
                name, alpha_name = kohya_name(component, key)
                kohya[name] = value.contiguous()
                kohya[alpha_name] = torch.tensor(alpha)
        kohya_file = pathlib.Path(tmp) / "kohya.safetensors"
        safetensors.torch.save_file(kohya, kohya_file)
        fresh, _, _ = base.build(CASE, toks)
        fresh.load_lora_weights(tmp, weight_name="kohya.safetensors")
        kohya_pixels = run(fresh)
        base_pixels = run(base.build(CASE, toks)[0])
    OUT.write_text(json.dumps({
        "case": CASE, "scale": SCALE, "shapes": shapes, "peft_keys": peft_keys, "metadata": metadata,
        "kohya_keys": sorted(kohya.keys()), "peft_pixels": peft_pixels, "kohya_pixels": kohya_pixels,
        "base_differs": base_pixels != peft_pixels,
    }, sort_keys=True, separators=(",", ":")) + "\n")
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
