"""Writes Tests/DiffusionTests/Goldens/text_encoders.json: transformers' CLIP text encoders on small configurations.

Two models, every weight `tiny_weights.value(name, shape)` under its checkpoint name (the Swift
test rebuilds them from the recorded `name -> shape` table):

- `clip_l`: `CLIPTextModel`, `quick_gelu`, `eos_token_id` 2 (the legacy value SD 1.x checkpoints
  carry, which pools at the largest token id), padded with the end token as SD 1.x tokenizers do.
- `open_clip`: `CLIPTextModelWithProjection`, `gelu`, `eos_token_id` inside the vocabulary (pools
  at its first occurrence; the sequences hold a larger id before it, so the two rules differ),
  padded with 0 as OpenCLIP tokenizers do.

Checkpoint names are those of diffusers folders, `text_model.`-prefixed (transformers 5 drops that
prefix from `CLIPTextModel`'s own parameter names and strips it from old checkpoints when loading).
Outputs: `last_hidden_state`, `hidden_states[-2]` and `[-3]` (SDXL's prompt embeddings without
and with `clip_skip=1`), `final_layer_norm(hidden_states[-2])` (diffusers' SD pipeline with
`clip_skip=1`) and the pooled output (`pooler_output`, or `text_embeds` after the projection).
Run with the pinned venv (README.md); the output is byte for byte the same on every run.
"""
import json
import pathlib

import numpy as np
import torch
import transformers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

import tiny_weights

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/text_encoders.json"

VOCAB = 1000
BOS, END = 998, 999
LENGTH = 12

CLIP_L = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=72, projection_dim=16, num_hidden_layers=3,
              num_attention_heads=4, max_position_embeddings=LENGTH, hidden_act="quick_gelu", layer_norm_eps=1e-5,
              bos_token_id=0, eos_token_id=2, pad_token_id=1)
OPEN_CLIP = dict(vocab_size=VOCAB, hidden_size=40, intermediate_size=96, projection_dim=24, num_hidden_layers=3,
                 num_attention_heads=5, max_position_embeddings=16, hidden_act="gelu", layer_norm_eps=1e-5,
                 bos_token_id=BOS, eos_token_id=500, pad_token_id=1)

# SD 1.x style: BOS, words, END, END padding; the second prompt fills every position.
CLIP_L_TOKENS = [[BOS, 320, 125, 539, 17, END] + [END] * (LENGTH - 6),
                 [BOS] + [(37 * k + 11) % 990 for k in range(1, LENGTH - 1)] + [END]]
# OpenCLIP style: BOS, words (one above the end id), END, 0 padding.
OPEN_CLIP_TOKENS = [[BOS, 320, 777, 41, 500] + [0] * (LENGTH - 5),
                    [BOS, 900, 12, 13, 14, 15, 16, 17, 18, 500, 0, 0]]


def floats(tensor):
    return [float(np.float32(v)) for v in tensor.detach().numpy().astype(np.float32).reshape(-1)]


def run(cls, config, tokens):
    model = cls(CLIPTextConfig(**config)).eval()
    # Fill under checkpoint names so the recorded table is what a diffusers folder holds.
    prefix = "text_model." if cls is CLIPTextModel else ""
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            tensor.copy_(torch.from_numpy(tiny_weights.value(prefix + name, tuple(tensor.shape))))
    shapes = {prefix + name: list(t.shape) for name, t in model.named_parameters()}
    ids = torch.tensor(tokens, dtype=torch.long)
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        text = model if cls is CLIPTextModel else model.text_model
        clip_skip_1 = text.final_layer_norm(out.hidden_states[-2])
    pooled = out.pooler_output if cls is CLIPTextModel else out.text_embeds
    return {"class": cls.__name__, "config": config, "weights": dict(sorted(shapes.items())), "tokens": tokens,
            "last_hidden_state": floats(out.last_hidden_state),
            "hidden_states": {str(k): floats(out.hidden_states[k]) for k in (-2, -3)},
            "clip_skip_1": floats(clip_skip_1),
            "pooled": floats(pooled), "pooled_shape": list(pooled.shape)}


def main():
    torch.set_num_threads(1)
    models = {"clip_l": run(CLIPTextModel, CLIP_L, CLIP_L_TOKENS),
              "open_clip": run(CLIPTextModelWithProjection, OPEN_CLIP, OPEN_CLIP_TOKENS)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"transformers": transformers.__version__, "models": models},
                              separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
