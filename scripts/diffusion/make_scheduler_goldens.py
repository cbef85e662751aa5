"""Writes Tests/DiffusionTests/Goldens/schedulers.json: diffusers' schedulers on a fixed model-output sequence.

For each case (scheduler class, configuration, step count) it records the timesteps, the sigmas
(for the sigma-parameterized schedulers), `init_noise_sigma`, and the sample after every step of
this loop, which is diffusers' pipeline loop with a stand-in for the UNet:

    g = torch.Generator().manual_seed(seed)           # the pipeline's generator
    latents = randn(shape, generator=g) * init_noise_sigma
    gm = torch.Generator().manual_seed(seed + 1000)   # the stand-in model's
    for t in timesteps:
        x = scale_model_input(latents, t)
        model_output = 0.5 * x + 0.5 * randn(shape, generator=gm)
        latents = step(model_output, t, latents, generator=g).prev_sample

Every random number comes from torch's CPU generator, which TorchGenerator reproduces bit for
bit, so the Swift test replays the same loop. Also records `alphas_cumprod` of the SD schedule
as float32 bit patterns. Run with the pinned venv (README.md); the output is byte for byte the
same on every run.
"""
import json
import pathlib

import diffusers
import numpy as np
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, LCMScheduler)

assert diffusers.__version__ == "0.42.1", diffusers.__version__
assert torch.__version__ == "2.13.0+cpu", torch.__version__

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/DiffusionTests/Goldens/schedulers.json"
SHAPE = (1, 4, 3, 2)  # 24 elements: one full Box-Muller block and a ragged tail
SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
          steps_offset=1, set_alpha_to_one=False, clip_sample=False, prediction_type="epsilon")
CLASSES = {"euler": EulerDiscreteScheduler, "euler_ancestral": EulerAncestralDiscreteScheduler,
           "dpmsolver++2m": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "lcm": LCMScheduler}

# (scheduler, timestep_spacing, prediction_type, karras, steps)
CASES = [
    ("euler", "leading", "epsilon", False, 10), ("euler", "trailing", "epsilon", False, 1),
    ("euler", "trailing", "epsilon", False, 4), ("euler", "linspace", "v_prediction", False, 8),
    ("euler", "trailing", "v_prediction", False, 3), ("euler", "leading", "epsilon", True, 6),
    ("euler", "linspace", "epsilon", False, 25),
    ("euler_ancestral", "leading", "epsilon", False, 8), ("euler_ancestral", "trailing", "epsilon", False, 1),
    ("euler_ancestral", "trailing", "v_prediction", False, 4), ("euler_ancestral", "linspace", "epsilon", False, 7),
    ("dpmsolver++2m", "linspace", "epsilon", False, 10), ("dpmsolver++2m", "leading", "epsilon", False, 20),
    ("dpmsolver++2m", "trailing", "epsilon", False, 4), ("dpmsolver++2m", "linspace", "epsilon", True, 10),
    ("dpmsolver++2m", "leading", "v_prediction", True, 7), ("dpmsolver++2m", "linspace", "epsilon", True, 1),
    ("dpmsolver++2m", "trailing", "v_prediction", False, 3),
    ("ddim", "leading", "epsilon", False, 10), ("ddim", "trailing", "epsilon", False, 4),
    ("ddim", "leading", "v_prediction", False, 6), ("ddim", "linspace", "epsilon", False, 5),
    ("ddim", "trailing", "epsilon", False, 3), ("ddim", "leading", "epsilon", False, 1),
    ("lcm", "leading", "epsilon", False, 4), ("lcm", "leading", "epsilon", False, 1),
    ("lcm", "leading", "epsilon", False, 8), ("lcm", "leading", "v_prediction", False, 2),
    ("lcm", "trailing", "epsilon", False, 6),
]


def floats(tensor):
    return [float(np.float32(v)) for v in np.asarray(tensor, dtype=np.float32).reshape(-1)]


def run(name, spacing, prediction, karras, steps, seed):
    config = dict(SD, timestep_spacing=spacing, prediction_type=prediction)
    if name in ("euler", "dpmsolver++2m"):
        config["use_karras_sigmas"] = karras
    if name == "dpmsolver++2m":
        config.update(algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint", lower_order_final=True)
    # from_config, as pipelines load SD scheduler configs: keys a class does not take are ignored.
    scheduler = CLASSES[name].from_config(config)
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    gm = torch.Generator().manual_seed(seed + 1000)
    init = float(scheduler.init_noise_sigma)
    latents = torch.randn(SHAPE, generator=g, dtype=torch.float32) * scheduler.init_noise_sigma
    samples = []
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(latents, t)
        model_output = 0.5 * x + 0.5 * torch.randn(SHAPE, generator=gm, dtype=torch.float32)
        latents = scheduler.step(model_output, t, latents, generator=g).prev_sample
        samples.append(floats(latents))
    case = {"scheduler": name, "spacing": spacing, "prediction": prediction, "karras": karras, "steps": steps,
            "seed": seed, "timesteps": [float(t) for t in scheduler.timesteps.float()], "init_noise_sigma": init,
            "samples": samples}
    if hasattr(scheduler, "sigmas") and name not in ("ddim", "lcm"):
        case["sigmas"] = floats(scheduler.sigmas)
    return case


def main():
    cases = [run(*case, seed=k) for k, case in enumerate(CASES)]
    alphas = EulerDiscreteScheduler.from_config(SD).alphas_cumprod.numpy().astype("<f4").view("<u4")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"diffusers": diffusers.__version__, "shape": list(SHAPE),
                               "alphas_cumprod_bits": [int(v) for v in alphas], "cases": cases},
                              separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
