"""Writes Tests/DiffusionTests/Goldens/safety_checker.json: diffusers' StableDiffusionSafetyChecker on a small CLIP vision model.

The model is `StableDiffusionSafetyChecker(CLIPConfig(vision_config=..., projection_dim=16))` with
every weight `tiny_weights.value(name, shape)` (the Swift test rebuilds them from the recorded
`name -> shape` table), except the concept embeddings and thresholds, which are recorded: they
are set from the images' embeddings so that the four images cover the decision rule's cases
(flagged by a concept, not flagged, flagged only through the special-care adjustment of 0.01,
not flagged). Images are 32×32 RGB8 (the feature extractor's crop size, so the processor's
resize is the identity), pixel `floor((u + 1) · 128)` of `tiny_weights.uniform("safety.image.K")`.
Outputs: the image embeddings, the rounded special and concept scores, the flags, and which
images diffusers blacked out. Run with the pinned venv (README.md); same bytes on every run.
"""
import json
import pathlib

import numpy as np
import PIL.Image
import torch
import transformers
import diffusers
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker, cosine_distance
from transformers import CLIPConfig, CLIPImageProcessor

import tiny_weights

assert transformers.__version__ == "5.23.0", transformers.__version__
assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/safety_checker.json"

SIZE = 32
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=SIZE,
              patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5)
PROJECTION = 16
PREPROCESSOR = {"crop_size": {"height": SIZE, "width": SIZE}, "do_center_crop": True, "do_convert_rgb": True,
                "do_normalize": True, "do_rescale": True, "do_resize": True,
                "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": SIZE},
                "image_processor_type": "CLIPImageProcessor"}
IMAGES = 4


def floats(array):
    return [float(np.float32(v)) for v in np.asarray(array, dtype=np.float32).reshape(-1)]


def image(k):
    u = tiny_weights.uniform(f"safety.image.{k}", SIZE * SIZE * 3)
    return np.floor((u + 1) * 128).astype(np.uint8).reshape(SIZE, SIZE, 3)


def main():
    torch.set_num_threads(1)
    config = CLIPConfig(vision_config=VISION, projection_dim=PROJECTION)
    checker = StableDiffusionSafetyChecker(config).eval()
    tiny_weights.fill(checker)
    shapes = {name: list(t.shape) for name, t in checker.state_dict().items() if t.dtype.is_floating_point}

    images = [image(k) for k in range(IMAGES)]
    processor = CLIPImageProcessor(**{k: v for k, v in PREPROCESSOR.items() if k != "image_processor_type"})
    pixels = processor([PIL.Image.fromarray(i) for i in images], return_tensors="pt").pixel_values
    mean = np.array(PREPROCESSOR["image_mean"], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(PREPROCESSOR["image_std"], dtype=np.float32).reshape(1, 3, 1, 1)
    manual = (np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255 - mean) / std
    assert np.abs(pixels.numpy() - manual).max() < 1e-5, np.abs(pixels.numpy() - manual).max()

    with torch.no_grad():
        embeds = checker.visual_projection(checker.vision_model(pixels)[1])
        normalized = torch.nn.functional.normalize(embeds)
        # Concept 0 points at image 0, concept 1 and special-care concept 0 at image 2; the
        # thresholds put image 0 clearly over concept 0, image 2 over special-care concept 0
        # and 0.005 under concept 1 (over it only with the adjustment), every other pair under.
        checker.concept_embeds[0] = normalized[0]
        checker.concept_embeds[1] = normalized[2]
        checker.special_care_embeds[0] = normalized[2]
        cos = cosine_distance(embeds, checker.concept_embeds).numpy()
        special = cosine_distance(embeds, checker.special_care_embeds).numpy()
        concept_thresholds = cos.max(axis=0) + 0.05
        special_thresholds = special.max(axis=0) + 0.05
        concept_thresholds[0] = cos[0, 0] - 0.05
        concept_thresholds[1] = cos[2, 1] + 0.005
        special_thresholds[0] = special[2, 0] - 0.05
        others = [i for i in range(IMAGES) if i != 0]
        assert cos[others, 0].max() < concept_thresholds[0] - 0.05, cos[:, 0]
        others = [i for i in range(IMAGES) if i != 2]
        assert cos[others, 1].max() < concept_thresholds[1] - 0.05, cos[:, 1]
        assert special[others, 0].max() < special_thresholds[0] - 0.05, special[:, 0]
        checker.concept_embeds_weights.copy_(torch.from_numpy(concept_thresholds.astype(np.float32)))
        checker.special_care_embeds_weights.copy_(torch.from_numpy(special_thresholds.astype(np.float32)))

    # Scores as diffusers' forward computes them (float32 differences, Python round to 3 places).
    cos = cosine_distance(embeds, checker.concept_embeds).numpy()
    special = cosine_distance(embeds, checker.special_care_embeds).numpy()
    special_scores, concept_scores = [], []
    for i in range(IMAGES):
        adjustment = 0.0
        row = []
        for j in range(special.shape[1]):
            row.append(round(special[i][j] - checker.special_care_embeds_weights[j].item() + adjustment, 3))
            if row[-1] > 0:
                adjustment = 0.01
        special_scores.append(row)
        concept_scores.append([round(cos[i][j] - checker.concept_embeds_weights[j].item() + adjustment, 3)
                               for j in range(cos.shape[1])])
    outputs = [i.astype(np.float32) / 255 for i in images]
    checked, flags = checker(clip_input=pixels, images=outputs)
    assert flags == [True, False, True, False], flags
    assert flags == [any(s > 0 for s in row) for row in concept_scores]
    blacked = [bool(np.all(c == 0)) for c in checked]
    assert blacked == flags

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "config": {"projection_dim": PROJECTION, "vision_config": VISION}, "preprocessor": PREPROCESSOR,
        "weights": dict(sorted(shapes.items())),
        "recorded": {"concept_embeds": floats(checker.concept_embeds), "special_care_embeds": floats(checker.special_care_embeds),
                     "concept_embeds_weights": floats(checker.concept_embeds_weights),
                     "special_care_embeds_weights": floats(checker.special_care_embeds_weights)},
        "images": [f"safety.image.{k}" for k in range(IMAGES)], "image_size": SIZE,
        "image_embeds": floats(embeds), "special_scores": [floats(r) for r in special_scores],
        "concept_scores": [floats(r) for r in concept_scores], "has_nsfw_concepts": flags, "blacked": blacked,
    }, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
