import Kernels

/// `InstanceNormalization` (GroupNorm as PyTorch exports it: reshape to `[N, G, -1]`, normalize,
/// reshape back) followed by per-channel `Mul` / `Add` / `Sub` steps and optionally SiLU, run as
/// one step: every link of the chain is an affine map per (image, channel), so they compose into
/// one `gamma * x + beta` per channel plane, run by the engine's fused group normalization.
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
    func run(_ inputs: [ONNXTensor], reusing buffer: inout [Float]?, outputShape: [Int], pool: ComputePool) throws -> ONNXTensor {
        let x = inputs[0]
        guard x.shape.count >= 3, inputs.count >= 3 else { throw ONNXRuntimeError("normalization input \(x.shape)") }
        let n = x.shape[0], groups = x.shape[1], len = x.shape[2...].reduce(1, *)
        let scale = inputs[1].floats, bias = inputs[2].floats
        guard scale.count == groups, bias.count == groups, channels % groups == 0, len % (channels / groups) == 0,
              outputShape.count >= 2, outputShape[0] == n, outputShape[1] == channels,
              outputShape.reduce(1, *) == x.count else {
            throw ONNXRuntimeError("normalization chain: input \(x.shape), scale/bias \(scale.count)/\(bias.count), output \(outputShape)")
        }
        let perGroup = channels / groups
        // Compose the links into y = A * normalized + B per (image, channel).
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
        // The normalization's own per-group affine goes first: A (scale x + bias) + B per channel.
        let gamma = (0..<(n * channels)).map { linkScale[$0] * scale[($0 % channels) / perGroup] }
        let beta = (0..<(n * channels)).map { linkScale[$0] * bias[($0 % channels) / perGroup] + linkShift[$0] }
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
        let shape = [n, channels, x.count / max(1, n * channels)]
        try out.withMutableTensorView(shape: shape) { o in
            if let separate {
                try separate.withTensorView(shape: shape) { input in
                    try Ops.groupNorm(input, groups: groups, epsilon: epsilon, gamma: gamma, beta: beta,
                                      activation: silu ? .silu : nil, into: o, pool: pool)
                }
            } else {
                try Ops.groupNorm(o, groups: groups, epsilon: epsilon, gamma: gamma, beta: beta,
                                  activation: silu ? .silu : nil, into: o, pool: pool)
            }
        }
        return ONNXTensor(shape: outputShape, floats: out, type: x.elementType)
    }
}
