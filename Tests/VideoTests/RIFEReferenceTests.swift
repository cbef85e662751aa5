import Foundation
import Kernels
@testable import Models
import Tensor
import Testing

/// RIFE against an independent NumPy implementation of the same IFNet (PyTorch semantics
/// written out: convolutions, ConvTranspose2d in its own weight layout, `interpolate(bilinear,
/// align_corners=False, scale_factor)`, `grid_sample(border, align_corners=True)`), with the
/// same generated weights. Runs where `python3` has NumPy.
/// Whether `python3` with NumPy is installed.
enum NumPy {
    static let isAvailable: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()
}

@Suite("RIFE against a NumPy reference", .enabled(if: NumPy.isAvailable))
struct RIFEReferenceTests {
    static let script = #"""
import json, sys
import numpy as np
d = sys.argv[1]
meta = json.load(open(d + "/meta.json"))
P = {n: np.fromfile(d + "/" + n, "<f4").astype(np.float64).reshape(s) for n, s in meta["params"]}
h, w, t = meta["h"], meta["w"], meta["t"]
img0 = np.fromfile(d + "/img0", "<f4").astype(np.float64).reshape(3, h, w)
img1 = np.fromfile(d + "/img1", "<f4").astype(np.float64).reshape(3, h, w)

def conv(x, wt, b, stride):
    c, H, W = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ho, wo = (H - 1) // stride + 1, (W - 1) // stride + 1
    cols = np.stack([xp[:, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
                     for ky in range(3) for kx in range(3)], axis=1)
    y = wt.reshape(wt.shape[0], -1) @ cols.reshape(c * 9, ho * wo) + b[:, None]
    y = y.reshape(-1, ho, wo)
    return np.where(y < 0, 0.2 * y, y)

def deconv(x, wt, b):  # ConvTranspose2d(k=4, s=2, p=1), weight (in, out, 4, 4)
    c, H, W = x.shape
    o = wt.shape[1]
    full = np.zeros((o, 2 * H + 2, 2 * W + 2))
    for ky in range(4):
        for kx in range(4):
            full[:, ky:ky + 2 * H:2, kx:kx + 2 * W:2] += np.einsum("io,ihw->ohw", wt[:, :, ky, kx], x)
    return full[:, 1:2 * H + 1, 1:2 * W + 1] + b[:, None, None]

def resize(x, s):  # interpolate(scale_factor=s, bilinear, align_corners=False)
    c, H, W = x.shape
    def axis(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) / s - 0.5, 0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0
    y0, y1, ly = axis(H, int(H * s))
    x0, x1, lx = axis(W, int(W * s))
    rows = x[:, y0, :] * (1 - ly)[None, :, None] + x[:, y1, :] * ly[None, :, None]
    return rows[:, :, x0] * (1 - lx) + rows[:, :, x1] * lx

def warp(img, flow):
    c, H, W = img.shape
    gy, gx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    sx = np.clip(gx + flow[0], 0, W - 1)
    sy = np.clip(gy + flow[1], 0, H - 1)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    ax, ay = sx - x0, sy - y0
    top = img[:, y0, x0] * (1 - ax) + img[:, y0, x1] * ax
    bottom = img[:, y1, x0] * (1 - ax) + img[:, y1, x1] * ax
    return top * (1 - ay) + bottom * ay

def block(b, x, flow, scale):
    x = resize(x, 1 / scale) if scale != 1 else x
    if flow is not None:
        f = resize(flow, 1 / scale) if scale != 1 else flow
        x = np.concatenate([x, f / scale])
    k = "block%d." % b
    x = conv(x, P[k + "conv0.0.0.weight"], P[k + "conv0.0.0.bias"], 2)
    x = conv(x, P[k + "conv0.1.0.weight"], P[k + "conv0.1.0.bias"], 2)
    y = x
    for i in range(8):
        y = conv(y, P[k + "convblock.%d.0.weight" % i], P[k + "convblock.%d.0.bias" % i], 1)
    tmp = resize(deconv(y + x, P[k + "lastconv.weight"], P[k + "lastconv.bias"]), scale * 2)
    return tmp[:4] * scale * 2, tmp[4:5]

ph, pw = (h + 31) // 32 * 32, (w + 31) // 32 * 32
a = np.zeros((3, ph, pw)); a[:, :h, :w] = img0
b = np.zeros((3, ph, pw)); b[:, :h, :w] = img1
ts = np.full((1, ph, pw), t)
flow = mask = None
wa, wb = a, b
for i, scale in enumerate([4, 2, 1]):
    if flow is None:
        flow, mask = block(i, np.concatenate([a, b, ts]), None, scale)
    else:
        df, dm = block(i, np.concatenate([wa, wb, ts, mask]), flow, scale)
        flow, mask = flow + df, mask + dm
    wa, wb = warp(a, flow[:2]), warp(b, flow[2:4])
m = 1 / (1 + np.exp(-mask))
out = (wa * m + wb * (1 - m))[:, :h, :w]
out.astype("<f4").tofile(d + "/out")
"""#

    @Test("the Swift IFNet matches the NumPy IFNet on generated weights and flows that are not zero")
    func matchesReference() throws {
        let (w, h, t): (Int, Int, Float) = (44, 36, 0.3)
        // Larger heads than the default so the flows move pixels by several units.
        var weights = RIFETests.weights(seed: 5)
        for (b, (_, c)) in RIFE.blockShapes.enumerated() {
            weights["block\(b).lastconv.weight"] = Tensor(shape: Shape([c, 5, 4, 4]), values: RIFETests.values(c * 80, seed: 77 &+ UInt64(b), amplitude: 0.2))
        }
        let a = RIFETests.image(width: w, height: h, seed: 21), b = RIFETests.image(width: w, height: h, seed: 22)
        let out = try RIFE(weights: weights, pool: ComputePool(threads: 2)).interpolate(a, b, timestep: t)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rife-ref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func dump(_ t: Tensor, _ name: String) throws {
            try t.toArray().withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent(name))
        }
        var params: [[Any]] = []
        for (name, shape) in RIFE.parameterShapes {
            try dump(weights[name]!, name)
            params.append([name, shape])
        }
        try dump(a, "img0")
        try dump(b, "img1")
        let meta: [String: Any] = ["params": params, "h": h, "w": w, "t": Double(t)]
        try JSONSerialization.data(withJSONObject: meta).write(to: dir.appendingPathComponent("meta.json"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", Self.script, dir.path]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        let data = try Data(contentsOf: dir.appendingPathComponent("out"))
        let reference = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let ours = out.toArray()
        try #require(reference.count == ours.count)
        let worst = zip(ours, reference).map { abs($0 - $1) }.max() ?? .infinity
        // The mean over the two frames would differ by ~0.2; a wrong layout or resize far more.
        let meanDiff = zip(zip(a.toArray(), b.toArray()).map { ($0 + $1) / 2 }, reference).map { abs($0 - $1) }.max() ?? 0
        #expect(meanDiff > 0.05, "the flows must move pixels for the comparison to mean anything")
        #expect(worst < 1e-4, "max |swift - numpy| = \(worst)")
    }
}
