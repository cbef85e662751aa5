"""Builds a PyTorch module from an ncnn .param/.bin pair (the upscalers' layer vocabulary).

realesr-animevideov3 is Real-ESRGAN's SRVGGNetCompact: conv 3->64 + PReLU, 16 x (conv 64->64 3x3
+ PReLU), conv 64->(3*r*r), PixelShuffle(r), plus the nearest-upsampled input (the x2/x3 files
run the x4 body and resize its output down). The x4plus models are RRDBNets (convolutions with
fused leaky ReLU, dense concatenations, scaled residual sums, nearest upsampling). Rather than
one hand-written class per architecture, this walks the .param layer list, which is already in
topological order, so the module is exactly the network ncnn and Peregrine run, with the same
weights; tracing it (torch.jit / OpenVINO's converter) unrolls the walk into a plain graph.

Weights are read the way Sources/ModelFormats/NCNN/NCNNWeightReader.swift reads them: each
convolution's weight array starts with a 4-byte tag (0 or 0x0002C056: fp32, 0x01306B47: fp16,
anything else: a 256-entry fp32 codebook plus uint8 indices); biases and PReLU slopes are raw fp32.
"""
import struct

import numpy as np
import torch
import torch.nn.functional as F

FP16_TAG = 0x01306B47
INT8_TAG = 0x000D4B38
FP32_TAG = 0x0002C056
MAGIC = 7767517


class Layer:
    def __init__(self, kind, name, inputs, outputs, params):
        self.kind, self.name, self.inputs, self.outputs, self.params = kind, name, inputs, outputs, params

    def int(self, key, default):
        return int(self.params.get(key, default))

    def float(self, key, default):
        return float(self.params.get(key, default))

    def floats(self, key):
        v = self.params.get(-23300 - key)
        return [float(x) for x in v] if v is not None else []


def parse_param(text):
    """Parses .param text into Layer records (array keys are stored as -23300 - id, like ncnn)."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if int(lines[0][0]) != MAGIC:
        raise ValueError("not an ncnn .param file (bad magic)")
    layers = []
    for fields in lines[2:]:
        kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        inputs = fields[4:4 + n_in]
        outputs = fields[4 + n_in:4 + n_in + n_out]
        params = {}
        for kv in fields[4 + n_in + n_out:]:
            k, v = kv.split("=", 1)
            k = int(k)
            if k <= -23300:
                params[k] = v.split(",")[1:]  # first entry is the count
            else:
                params[k] = v
        layers.append(Layer(kind, name, inputs, outputs, params))
    return layers


class WeightReader:
    """Reads an ncnn .bin front to back in the order the layers ask for their weights."""

    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, n, what):
        if self.offset + n > len(self.data):
            raise ValueError(f"{what}: needs {n} bytes at offset {self.offset}, file has {len(self.data)}")
        b = self.data[self.offset:self.offset + n]
        self.offset += n
        return b

    def raw(self, count, what):
        return np.frombuffer(self.take(count * 4, what), dtype="<f4").astype(np.float32)

    def tagged(self, count, what):
        (tag,) = struct.unpack("<I", self.take(4, what))
        if tag == FP16_TAG:
            b = self.take((count * 2 + 3) // 4 * 4, what)
            return np.frombuffer(b[:count * 2], dtype="<f2").astype(np.float32)
        if tag == INT8_TAG:
            raise ValueError(f"{what}: int8 weights are not supported")
        if tag in (0, FP32_TAG):
            return self.raw(count, what)
        table = self.raw(256, what)
        idx = np.frombuffer(self.take((count + 3) // 4 * 4, what)[:count], dtype=np.uint8)
        return table[idx]

    def finish(self):
        if self.offset != len(self.data):
            raise ValueError(f"{len(self.data) - self.offset} bytes left after the last layer: .bin does not match .param")


class NCNNModule(torch.nn.Module):
    """The network of one .param/.bin pair as a torch module (input: N x 3 x H x W float)."""

    def __init__(self, param_path, bin_path):
        super().__init__()
        with open(param_path) as f:
            self.layers = parse_param(f.read())
        with open(bin_path, "rb") as f:
            reader = WeightReader(f.read())
        self.convs = torch.nn.ModuleDict()
        self.slopes = torch.nn.ParameterDict()
        consumed, produced = set(), []
        for layer in self.layers:
            consumed.update(layer.inputs)
            produced.extend(layer.outputs)
            if layer.kind == "Convolution":
                out, k = layer.int(0, 0), layer.int(1, 0)
                kh = layer.int(11, k)
                size = layer.int(6, 0)
                if layer.int(8, 0) != 0:
                    raise ValueError(f"{layer.name}: int8 convolution is not supported")
                cin = size // (out * k * kh)
                pad_w, pad_h = layer.int(4, 0), layer.int(14, layer.int(4, 0))
                if pad_w < 0 or layer.int(15, pad_w) != pad_w or layer.int(16, pad_h) != pad_h:
                    raise ValueError(f"{layer.name}: only symmetric explicit padding is supported")
                conv = torch.nn.Conv2d(cin, out, (kh, k), stride=(layer.int(13, layer.int(3, 1)), layer.int(3, 1)),
                                       padding=(pad_h, pad_w),
                                       dilation=(layer.int(12, layer.int(2, 1)), layer.int(2, 1)),
                                       bias=layer.int(5, 0) != 0)
                w = reader.tagged(size, layer.name).reshape(out, cin, kh, k)
                conv.weight.data = torch.from_numpy(w.copy())
                if conv.bias is not None:
                    conv.bias.data = torch.from_numpy(reader.raw(out, layer.name).copy())
                self.convs[layer.name] = conv
            elif layer.kind == "PReLU":
                self.slopes[layer.name] = torch.nn.Parameter(torch.from_numpy(reader.raw(layer.int(0, 0), layer.name).copy()))
            elif layer.kind not in ("Input", "Split", "PixelShuffle", "Interp", "BinaryOp", "Eltwise", "Concat", "ReLU"):
                raise ValueError(f"{layer.name}: layer type {layer.kind} is not supported")
        reader.finish()
        self.input_blob = next(l.outputs[0] for l in self.layers if l.kind == "Input")
        self.output_blob = [b for b in produced if b not in consumed][0]
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def activation(layer, x):
        kind = layer.int(9, 0)
        if kind == 0:
            return x
        if kind == 1:
            return F.relu(x)
        if kind == 2:
            return F.leaky_relu(x, layer.floats(10)[0])
        raise ValueError(f"{layer.name}: activation type {kind} is not supported")

    def forward(self, x):
        blobs = {}
        for layer in self.layers:
            ins = [blobs[b] for b in layer.inputs]
            k = layer.kind
            if k == "Input":
                out = [x]
            elif k == "Split":
                out = ins * len(layer.outputs)
            elif k == "Convolution":
                out = [self.activation(layer, self.convs[layer.name](ins[0]))]
            elif k == "PReLU":
                out = [F.prelu(ins[0], self.slopes[layer.name])]
            elif k == "ReLU":
                slope = layer.float(0, 0)
                out = [F.relu(ins[0]) if slope == 0 else F.leaky_relu(ins[0], slope)]
            elif k == "PixelShuffle":
                if layer.int(1, 0) != 0:
                    raise ValueError(f"{layer.name}: only PyTorch-order pixel shuffle")
                out = [F.pixel_shuffle(ins[0], layer.int(0, 1))]
            elif k == "Interp":
                if layer.int(3, 0) or layer.int(4, 0) or layer.int(6, 0):
                    raise ValueError(f"{layer.name}: only scale-factor Interp without align_corner")
                mode = {1: "nearest", 2: "bilinear", 3: "bicubic"}[layer.int(0, 0)]
                scale = (layer.float(1, 1), layer.float(2, 1))
                kwargs = {} if mode == "nearest" else {"align_corners": False}
                out = [F.interpolate(ins[0], scale_factor=scale, mode=mode, **kwargs)]
            elif k == "BinaryOp":
                if layer.int(1, 0) != 0 or layer.int(0, 0) != 0:
                    raise ValueError(f"{layer.name}: only blob + blob BinaryOp")
                out = [ins[0] + ins[1]]
            elif k == "Eltwise":
                if layer.int(0, 1) != 1:
                    raise ValueError(f"{layer.name}: only Eltwise sum")
                coeffs = layer.floats(1) or [1.0] * len(ins)
                acc = ins[0] * coeffs[0]
                for c, t in zip(coeffs[1:], ins[1:]):
                    acc = acc + t * c
                out = [acc]
            elif k == "Concat":
                out = [torch.cat(ins, dim=1)]
            for name, t in zip(layer.outputs, out):
                blobs[name] = t
        return blobs[self.output_blob]
