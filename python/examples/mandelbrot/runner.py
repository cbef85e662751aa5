"""Renders the Mandelbrot set with numpy: an example model served through a runner process.

Escape-time iteration with smooth (continuous) colouring, computed in bands of rows so that
progress is reported and cancellation is honoured between bands.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from peregrine_runner import Runner, RunnerError, serve  # noqa: E402
from peregrine_runner.png import encode_rgb  # noqa: E402


class Mandelbrot(Runner):
    def setup(self):
        # The palette is the model's only "weight": a 256-entry cosine gradient.
        t = np.linspace(0.0, 1.0, 256)[:, None]
        phase = np.array([0.0, 0.33, 0.67])[None, :]
        self.palette = (255 * (0.5 + 0.5 * np.cos(2 * np.pi * (t + phase)))).astype(np.uint8)
        return {"memory_bytes": int(self.palette.nbytes)}

    def predict(self, input, ctx):
        width = int(input.get("width", 256))
        height = int(input.get("height", 256))
        iterations = int(input.get("max_iterations", 200))
        cx = float(input.get("center_x", -0.5))
        cy = float(input.get("center_y", 0.0))
        zoom = float(input.get("zoom", 1.0))
        if zoom <= 0:
            raise RunnerError("zoom must be positive", field=["body", "zoom"])
        span = 3.0 / zoom
        xs = cx + (np.arange(width) - width / 2) * (span / width)
        ys = cy + (np.arange(height) - height / 2) * (span / width)
        image = np.zeros((height, width, 3), dtype=np.uint8)
        inside = 0
        band = max(1, height // 16)
        bands = (height + band - 1) // band
        for b in range(bands):
            ctx.check_cancelled()
            rows = slice(b * band, min(height, (b + 1) * band))
            c = xs[None, :] + 1j * ys[rows, None]
            z = np.zeros_like(c)
            escaped = np.full(c.shape, float(iterations))
            alive = np.ones(c.shape, dtype=bool)
            for i in range(iterations):
                z[alive] = z[alive] * z[alive] + c[alive]
                mag = np.abs(z)
                out = alive & (mag > 4.0)
                # Continuous escape count: i + 1 - log2(log|z|) removes the colour banding.
                escaped[out] = i + 1 - np.log2(np.log(mag[out]))
                alive &= ~out
                if not alive.any():
                    break
            inside += int(alive.sum())
            index = (np.sqrt(np.maximum(escaped, 0) / iterations) * 255).astype(np.int64) % 256
            colours = self.palette[index]
            colours[alive] = 0
            image[rows] = colours
            ctx.progress(fraction=(b + 1) / bands, step=b + 1, total=bands, message="rows %d-%d" % (rows.start, rows.stop - 1))
        ctx.log("rendered %dx%d, %d iterations" % (width, height, iterations))
        png = encode_rgb(image.tobytes(), width, height)
        return {
            "image": ctx.output_file("mandelbrot.png", png, "image/png", width=width, height=height),
            "inside_fraction": inside / float(width * height),
        }


if __name__ == "__main__":
    serve(Mandelbrot())
