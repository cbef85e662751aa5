import CKernels
import Kernels

/// `InstanceNormalization` (GroupNorm as PyTorch exports it: reshape to `[N, G, -1]`, normalize,
/// reshape back) followed by per-channel `Mul` / `Add` / `Sub` steps and optionally SiLU, run as
/// one step: every link of the chain is an affine map per (image, channel), so they compose into
/// one `alpha * x + beta` per channel plane. Two passes over the tensor (statistics, then the
/// fused map with SiLU while the plane is in cache) instead of one or two per step.
struct ONNXNormChain: Sendable {
    /// One per-channel link; its operand is the step input at `operand`.
    struct Link: Sendable {
        var kind: ONNXOp.BinaryKind
        /// Whether the chain value is the right operand (`operand - x` for `.sub`).
        var chainOnRight: Bool
        var operand: Int
    }

    var epsilon: Float
    /// Channels after the reshape (`groups` when there is none).
    var channels: Int
    var links: [Link]
    var silu: Bool

    /// Whether a value shaped `shape` broadcasts onto `[n, channels, ...]` (rank `rank`) with one
    /// value per image and channel at most.
    static func isPerChannel(_ shape: [Int], n: Int, channels: Int, rank: Int) -> Bool {
        guard shape.count <= rank else { return false }
        let padded = [Int](repeating: 1, count: rank - shape.count) + shape
        return padded.enumerated().allSatisfy { i, d in
            d == 1 || (i == 0 && d == n) || (i == 1 && d == channels)
        }
    }

    /// Runs the chain. `inputs` are the normalization's input, scale and bias, then the links'
    /// operands; `buffer`, when given, holds the input's values (taken out of `inputs[0]`, which
    /// then only gives the shape) and receives the result in place.
    func run(_ inputs: [ONNXTensor], reusing buffer: inout [Float]?, outputShape: [Int]) throws -> ONNXTensor {
        let x = inputs[0]
        guard x.shape.count >= 3, inputs.count >= 3 else { throw ONNXRuntimeError("normalization input \(x.shape)") }
        let n = x.shape[0], groups = x.shape[1], len = x.shape[2...].reduce(1, *)
        let scale = inputs[1].floats, bias = inputs[2].floats
        guard scale.count == groups, bias.count == groups, channels % groups == 0, len % (channels / groups) == 0,
              outputShape.count >= 2, outputShape[0] == n, outputShape[1] == channels,
              outputShape.reduce(1, *) == x.count else {
            throw ONNXRuntimeError("normalization chain: input \(x.shape), scale/bias \(scale.count)/\(bias.count), output \(outputShape)")
        }
        let perGroup = channels / groups, plane = len / perGroup, rows = n * groups
        let pool = ONNXAccelerated.pool
        // Compose the links into y = A * normalized + B per (image, channel); the statistics
        // come in per group below.
        var linkScale = [Float](repeating: 1, count: n * channels), linkShift = [Float](repeating: 0, count: n * channels)
        let rank = outputShape.count
        for link in links {
            let t = inputs[link.operand]
            guard Self.isPerChannel(t.shape, n: n, channels: channels, rank: rank) else {
                throw ONNXRuntimeError("operand \(t.shape) is not per channel of \(outputShape)")
            }
            let padded = [Int](repeating: 1, count: rank - t.shape.count) + t.shape
            let values = t.floats
            for img in 0..<n {
                for c in 0..<channels {
                    let v = values[(padded[0] == 1 ? 0 : img) * padded[1] + (padded[1] == 1 ? 0 : c)]
                    let i = img * channels + c
                    switch (link.kind, link.chainOnRight) {
                    case (.mul, _): linkScale[i] *= v; linkShift[i] *= v
                    case (.add, _): linkShift[i] += v
                    case (.sub, false): linkShift[i] -= v
                    case (.sub, true): linkScale[i] = -linkScale[i]; linkShift[i] = v - linkShift[i]
                    default: throw ONNXRuntimeError("link \(link.kind) is not affine")
                    }
                }
            }
        }
        // In place: `out` holds the only reference to the input's values. Otherwise a fresh output.
        var out: [Float]
        let separate: [Float]?
        if let b = buffer {
            out = b
            buffer = nil
            separate = nil
        } else {
            out = [Float](unsafeUninitializedCapacity: x.count) { _, k in k = x.count }
            separate = x.floats
        }
        guard (separate ?? out).count == x.count else { throw ONNXRuntimeError("normalization input has \((separate ?? out).count) values for \(x.shape)") }
        var alpha = [Float](repeating: 0, count: n * channels), beta = alpha
        // One pass on the pool, a group at a time: its statistics, then its channels mapped while
        // the group's values are still in cache (a group of a 64x128x128 map is 128 KiB).
        separate.withUnsafeBufferPointerOrNil { px in
            out.withUnsafeMutableBufferPointer { po in
                alpha.withUnsafeMutableBufferPointer { pa in
                    beta.withUnsafeMutableBufferPointer { pb in
                        linkScale.withUnsafeBufferPointer { ls in
                            linkShift.withUnsafeBufferPointer { lt in
                                let io = ONNXGemm.Operands(a: px ?? UnsafePointer(po.baseAddress!), b: ls.baseAddress!, c: po.baseAddress!)
                                let coefficients = ONNXGemm.Operands(a: lt.baseAddress!, b: lt.baseAddress!, c: pa.baseAddress!)
                                let betas = pb.baseAddress!
                                pool.parallelFor(rows, minimumPerPart: max(1, 16384 / max(1, len))) { r in
                                    for row in r {
                                        var mean: Float = 0, rstd: Float = 0
                                        pg_onnx_row_moments(io.a + row * len, 1, len, epsilon, &mean, &rstd)
                                        let img = row / groups, g = row % groups
                                        let a = rstd * scale[g], b = bias[g] - mean * a
                                        let c0 = img * channels + g * perGroup
                                        for i in c0..<(c0 + perGroup) {
                                            coefficients.c[i] = a * io.b[i]
                                            betas[i] = b * io.b[i] + coefficients.a[i]
                                        }
                                        pg_onnx_channel_affine(io.a, io.c, plane, coefficients.c, betas, Int32(c0),
                                                               Int32(c0 + perGroup), silu ? 1 : 0)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return ONNXTensor(shape: outputShape, floats: out, type: x.elementType)
    }
}
