"""Writes Tests/DiffusionTests/Goldens/checkpoint_{sd1,sd2,sdxl}.json: original single-file layouts.

For each family it builds the tiny diffusers components of a Stable Diffusion pipeline
(UNet2DConditionModel, AutoencoderKL, CLIPTextModel / CLIPTextModelWithProjection), lists their
tensors under the names an original (CompVis / Stability) single-file checkpoint gives them
(`model.diffusion_model.…`, `first_stage_model.…`, `cond_stage_model.…`, `conditioner.embedders.N.…`,
written here as the inverse of diffusers' conversion), fills every single-file tensor with
`tiny_weights.value(single_file_name, shape)`, and converts the checkpoint back with diffusers' own
`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint` and
`convert_open_clip_checkpoint`. It checks that the result loads strictly into the diffusers
modules and that the inverse map gives back the single-file tensors exactly.

The golden records each component's diffusers config, the single-file `name -> shape` table
(the Swift test rebuilds the file from it with TinyWeights), diffusers' family detection
(`infer_diffusers_model_type`) and prediction type, and for each diffusers tensor its shape and a
fingerprint: the sum, a position-weighted sum (sum of v[i] * (i % 7 + 1), which a transpose or a
misplaced chunk changes) and the first two values, each to nine significant digits. Run with the pinned venv (README.md); the
output is byte for byte the same on every run.
"""
import json
import pathlib
import re

import diffusers
import numpy as np
import torch
import transformers
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from diffusers.loaders import single_file_utils as sfu
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

import tiny_weights

assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__

GOLDENS = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens"

# ---------------------------------------------------------------------------------------------
# Tiny configurations. SD2's cross-attention width is SD 2.x's 1024 and SDXL's OpenCLIP encoder has
# ten layers, so diffusers' detection keys (an attn2.to_k of width 1024, resblocks.9) are present.

VAE = dict(in_channels=3, out_channels=3, block_out_channels=(8, 16, 16), layers_per_block=1,
           down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
           latent_channels=4, norm_num_groups=4, sample_size=32)
UNET_COMMON = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32, 32),
                   layers_per_block=2, norm_num_groups=8)
CLIP_COMMON = dict(vocab_size=64, max_position_embeddings=10, bos_token_id=0, eos_token_id=2, pad_token_id=1)

FAMILIES = {
    "sd1": dict(
        unet=dict(UNET_COMMON, layers_per_block=1, cross_attention_dim=24, attention_head_dim=4,
                  down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")),
        vae=dict(VAE),
        text=[("text_encoder", "clip", "cond_stage_model.transformer.",
               dict(CLIP_COMMON, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
                    projection_dim=16, hidden_act="quick_gelu"))],
    ),
    "sd2": dict(
        unet=dict(UNET_COMMON, cross_attention_dim=1024, attention_head_dim=(2, 4, 4), use_linear_projection=True,
                  upcast_attention=True,
                  down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")),
        vae=dict(VAE),
        text=[("text_encoder", "open_clip", "cond_stage_model.model.",
               dict(CLIP_COMMON, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                    projection_dim=8, hidden_act="gelu"))],
    ),
    "sdxl": dict(
        unet=dict(UNET_COMMON, layers_per_block=1, cross_attention_dim=40, attention_head_dim=(2, 4, 4), use_linear_projection=True,
                  transformer_layers_per_block=(1, 1, 2), addition_embed_type="text_time",
                  addition_time_embed_dim=8, projection_class_embeddings_input_dim=24 + 6 * 8,
                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                  up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")),
        vae=dict(VAE, scaling_factor=0.13025),
        text=[("text_encoder", "clip", "conditioner.embedders.0.transformer.",
               dict(CLIP_COMMON, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
                    projection_dim=16, hidden_act="quick_gelu")),
              ("text_encoder_2", "open_clip_projection", "conditioner.embedders.1.model.",
               dict(CLIP_COMMON, hidden_size=24, intermediate_size=32, num_hidden_layers=10, num_attention_heads=2,
                    projection_dim=24, hidden_act="gelu"))],
    ),
}

# ---------------------------------------------------------------------------------------------
# The inverse maps: diffusers name -> (single-file name, how the single-file tensor is stored).

UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
               "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
UNET_TOP = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
            "time_embedding.linear_2": "time_embed.2", "conv_norm_out": "out.0", "conv_out": "out.2",
            "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
            "class_embedding.linear_1": "label_emb.0.0", "class_embedding.linear_2": "label_emb.0.2"}


def unet_to_ldm(name, config):
    per = config["layers_per_block"] + 1
    for new, old in UNET_TOP.items():
        if name.startswith(new + "."):
            return old + name[len(new):]
    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(\w+)", name):
        b, l, part, p = int(m[1]), int(m[2]), m[3], m[4]
        return f"input_blocks.{1 + b * per + l}.0.{UNET_RESNET[part]}.{p}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", name):
        return f"input_blocks.{1 + int(m[1]) * per + int(m[2])}.1.{m[3]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(\w+)", name):
        return f"input_blocks.{1 + int(m[1]) * per + per - 1}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(\w+)\.(\w+)", name):
        return f"middle_block.{2 * int(m[1])}.{UNET_RESNET[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", name):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(\w+)", name):
        b, l = int(m[1]), int(m[2])
        return f"output_blocks.{b * per + l}.0.{UNET_RESNET[m[3]]}.{m[4]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", name):
        return f"output_blocks.{int(m[1]) * per + int(m[2])}.1.{m[3]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(\w+)", name):
        b = int(m[1])
        slot = 2 if config["up_block_types"][b].startswith("CrossAttn") else 1
        return f"output_blocks.{b * per + per - 1}.{slot}.conv.{m[2]}"
    raise KeyError(name)


VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(name, config):
    blocks = len(config["up_block_types"])
    for side in ("encoder", "decoder"):
        if name.startswith(side + ".conv_norm_out."):
            return f"{side}.norm_out.{name.split('.')[-1]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(\w+)", name):
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}.{m[4]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(\w+)", name):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(\w+)", name):
        return f"decoder.up.{blocks - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}.{m[4]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(\w+)", name):
        return f"decoder.up.{blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(\w+)\.(\w+)", name):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}.{m[4]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(\w+)", name):
        return f"{m[1]}.mid.attn_1.{VAE_ATTENTION[m[2]]}.{m[3]}"
    return name  # conv_in, conv_out, quant_conv, post_quant_conv keep their names


OPEN_CLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                   "self_attn.out_proj": "attn.out_proj"}


def open_clip_to_ldm(name):
    """`name` with the `text_model.` prefix; returns (single-file name, qkv part or None)."""
    fixed = {"text_model.embeddings.position_embedding.weight": "positional_embedding",
             "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
             "text_model.final_layer_norm.weight": "ln_final.weight",
             "text_model.final_layer_norm.bias": "ln_final.bias", "text_projection.weight": "text_projection"}
    if name in fixed:
        return fixed[name], None
    m = re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", name)
    layer, module, kind = m[1], m[2], m[3]
    if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        return f"transformer.resblocks.{layer}.attn.in_proj_{kind}", "qkv".index(module[-6])
    return f"transformer.resblocks.{layer}.{OPEN_CLIP_LAYER[module]}.{kind}", None


# ---------------------------------------------------------------------------------------------

def round9(x):
    return float(f"{float(x):.9g}")


def fingerprint(tensor):
    v = tensor.detach().numpy().astype(np.float64).reshape(-1)
    weights = (np.arange(v.size) % 7 + 1).astype(np.float64)
    return [list(tensor.shape), round9(v.sum()), round9((v * weights).sum()), [round9(x) for x in v[:2]]]


def diffusers_config(model):
    config = {k: v for k, v in json.loads(model.to_json_string()).items() if k != "_diffusers_version"}
    return config


def transformers_config(model):
    config = model.config.to_dict()
    for key in ("transformers_version", "dtype", "torch_dtype", "_name_or_path", "output_attentions",
                "output_hidden_states", "return_dict", "id2label", "label2id", "problem_type", "chunk_size_feed_forward",
                "tie_word_embeddings", "is_encoder_decoder", "architectures", "_attn_implementation_autoset"):
        config.pop(key, None)
    config["architectures"] = [type(model).__name__]
    return config


def build(family, spec):
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**spec["unet"]).eval()
    vae = AutoencoderKL(**spec["vae"]).eval()
    unet_config, vae_config = dict(unet.config), dict(vae.config)

    shapes = {}      # single-file name -> shape
    assembled = {}   # single-file name -> list of (diffusers component, name, part) it holds
    components = {"unet": unet, "vae": vae}
    configs = {"unet": diffusers_config(unet), "vae": diffusers_config(vae)}

    def add(ldm, component, name, shape, part=None, parts=1, transpose=False):
        if transpose:
            shape = shape[::-1]
        if parts > 1:
            shape = (shape[0] * parts,) + tuple(shape[1:])
        shapes.setdefault(ldm, tuple(shape))
        assert shapes[ldm] == tuple(shape), (ldm, shapes[ldm], shape)
        assembled.setdefault(ldm, []).append((component, name, part))

    for name, t in unet.state_dict().items():
        add("model.diffusion_model." + unet_to_ldm(name, unet_config), "unet", name, tuple(t.shape))
    for name, t in vae.state_dict().items():
        shape = tuple(t.shape)
        ldm = vae_to_ldm(name, vae_config)
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and len(shape) == 2:
            shape = shape + (1, 1)  # stored as 1x1 convolutions
        add("first_stage_model." + ldm, "vae", name, shape)

    texts = []
    for component, kind, prefix, config in spec["text"]:
        cls = CLIPTextModelWithProjection if kind == "open_clip_projection" else CLIPTextModel
        model = cls(CLIPTextConfig(**config)).eval()
        components[component] = model
        configs[component] = transformers_config(model)
        texts.append((component, kind, prefix, model))
        for name, t in model.state_dict().items():
            if name.endswith("position_ids"):
                continue
            full = name if name.startswith(("text_model.", "text_projection")) else "text_model." + name
            if kind == "clip":
                add(prefix + full, component, name, tuple(t.shape))
            else:
                ldm, part = open_clip_to_ldm(full)
                add(prefix + ldm, component, name, tuple(t.shape), part=part, parts=3 if part is not None else 1,
                    transpose=ldm == "text_projection")
        if kind == "open_clip":
            # SD 2.x files also hold OpenCLIP's projection, which the diffusers text encoder drops.
            add(prefix + "text_projection", None, None, (config["hidden_size"], config["projection_dim"]))

    checkpoint = {name: torch.from_numpy(tiny_weights.value(name, shape)) for name, shape in sorted(shapes.items())}

    # diffusers' conversion of the single-file checkpoint.
    converted = {"unet": sfu.convert_ldm_unet_checkpoint(checkpoint, unet_config),
                 "vae": sfu.convert_ldm_vae_checkpoint(checkpoint, vae_config)}
    for component, kind, prefix, model in texts:
        if kind == "clip":
            state = sfu.convert_ldm_clip_checkpoint(checkpoint)
        else:
            state = sfu.convert_open_clip_checkpoint(model, checkpoint, prefix=prefix)
        if not hasattr(model, "text_model"):
            state = {k.removeprefix("text_model."): v for k, v in state.items()}
        converted[component] = state

    for component, model in components.items():
        state = converted[component]
        expected = {k for k in model.state_dict() if not k.endswith("position_ids")}
        assert set(state) == expected, (family, component, sorted(set(state) ^ expected)[:10])
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected and all(k.endswith("position_ids") for k in missing), (component, missing, unexpected)

    # The inverse map gives back every single-file tensor exactly.
    for ldm, holders in assembled.items():
        parts = []
        for component, name, part in holders:
            if component is None:
                continue
            t = converted[component][name]
            if ldm.endswith("text_projection"):
                t = t.T
            if ldm.split(".")[-1] in ("weight",) and ".mid.attn_1." in ldm and t.dim() == 2:
                t = t[:, :, None, None]
            parts.append((part or 0, t))
        if not parts:
            continue
        rebuilt = torch.cat([t for _, t in sorted(parts, key=lambda p: p[0])], dim=0)
        assert torch.equal(rebuilt, checkpoint[ldm]), ldm

    model_type = sfu.infer_diffusers_model_type(checkpoint)
    scheduler = sfu._legacy_load_scheduler(EulerDiscreteScheduler, checkpoint, "scheduler")
    return {
        "diffusers": diffusers.__version__,
        "model_type": model_type,
        "prediction_type": scheduler.config.prediction_type,
        "configs": configs,
        "single_file": {name: list(shape) for name, shape in sorted(shapes.items())},
        "components": {c: {k: fingerprint(v) for k, v in sorted(converted[c].items())} for c in sorted(converted)},
    }


def main():
    for family, spec in FAMILIES.items():
        golden = build(family, spec)
        out = GOLDENS / f"checkpoint_{family}.json"
        out.write_text(json.dumps(golden, separators=(",", ":"), sort_keys=True) + "\n")
        print(out.name, golden["model_type"], golden["prediction_type"], len(golden["single_file"]), out.stat().st_size)


if __name__ == "__main__":
    main()
