#!/usr/bin/env python3
"""The peer side of the video benchmark: the same work as peregrine/video-upscale done with the
upstream runtime (the `ncnn` package) per frame plus the ffmpeg program.

  ncnn_video.py --param P --bin B --input clip.mp4 --output out.mp4 --scale 2 --threads 2 \
                --width W --height H --rate 12/1 --context 18 [--preset fast]

ffmpeg decodes to raw RGB on a pipe (a reader thread keeps up to 3 frames ready), ncnn runs each
frame padded by `context` replicated pixels on every side (the same window Peregrine's tiler
feeds for a one-tile frame), the core is cropped and written to a second ffmpeg that encodes
H.264 (yuv420p, +faststart, the audio stream copied) through a writer thread. Prints one JSON
line: frames, wall seconds, seconds inside ncnn's extract(), CPU seconds of this process and its
ffmpeg children (model loading included, as in Peregrine's count).
"""
import argparse
import json
import queue
import resource
import subprocess
import threading
import time

import ncnn
import numpy as np

p = argparse.ArgumentParser()
for name in ("param", "bin", "input", "output", "rate"):
    p.add_argument("--" + name, required=True)
for name in ("scale", "threads", "width", "height", "context"):
    p.add_argument("--" + name, type=int, required=True)
p.add_argument("--preset", default="fast")
a = p.parse_args()

net = ncnn.Net()
net.opt.use_vulkan_compute = False
net.opt.num_threads = a.threads
for opt in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
    setattr(net.opt, opt, False)
net.load_param(a.param)
net.load_model(a.bin)

start = time.perf_counter()
w, h, s, c = a.width, a.height, a.scale, a.context
decoder = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-i", a.input, "-map", "0:v:0", "-fps_mode", "passthrough",
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], stdout=subprocess.PIPE)
encoder = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                            "-video_size", f"{w * s}x{h * s}", "-framerate", a.rate, "-i", "pipe:0", "-i", a.input,
                            "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "libx264", "-preset", a.preset, "-crf", "18",
                            "-pix_fmt", "yuv420p", "-c:a", "copy", "-movflags", "+faststart", "-f", "mp4", a.output],
                           stdin=subprocess.PIPE)
frame_bytes = w * h * 3
decoded, encoded = queue.Queue(3), queue.Queue(3)


def read():
    while True:
        data = decoder.stdout.read(frame_bytes)
        if len(data) < frame_bytes:
            decoded.put(None)
            return
        decoded.put(data)


def write():
    while True:
        data = encoded.get()
        if data is None:
            encoder.stdin.close()
            return
        encoder.stdin.write(data)


threads = [threading.Thread(target=read), threading.Thread(target=write)]
for t in threads:
    t.start()
frames, inside = 0, 0.0
while True:
    data = decoded.get()
    if data is None:
        break
    rgb = np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
    x = np.pad(rgb, ((c, c), (c, c), (0, 0)), mode="edge").transpose(2, 0, 1).astype(np.float32) / 255
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(np.ascontiguousarray(x)))
    t0 = time.perf_counter()
    _, out = ex.extract("output")
    inside += time.perf_counter() - t0
    y = np.array(out)[:, c * s:(c + h) * s, c * s:(c + w) * s]
    encoded.put(np.clip(y.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8).tobytes())
    frames += 1
encoded.put(None)
for t in threads:
    t.join()
decoder.wait()
encoder.wait()
cpu = 0.0
for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
    usage = resource.getrusage(who)
    cpu += usage.ru_utime + usage.ru_stime
print(json.dumps({"frames": frames, "wall_seconds": time.perf_counter() - start, "ncnn_seconds": inside,
                  "cpu_seconds": cpu, "encoder_status": encoder.returncode}))
