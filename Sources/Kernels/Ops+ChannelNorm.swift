import CKernels
import Tensor

extension Ops {
    /// Layer normalization over dimension 1 at each position of the dimensions after it: for
    /// `x [N, C, ...]`, every `x[n, :, p]` is normalized to zero mean and unit (biased) variance,
    /// then scaled by `gamma[c]` and shifted by `beta[c]`. A transformer block's LayerNorm when
    /// its tokens are columns (features as rows, the layout convolutions use), so the block
    /// runs without transposing to tokens-as-rows.
    /// - Parameters:
    ///   - output: `x`'s shape; may be `x`.
    ///   - portable: run the portable path even where AVX-512 is available (tests compare both).
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func channelNorm(_ x: Tensor, gamma: [Float]?, beta: [Float]?, epsilon: Float, into output: Tensor,
                                   portable: Bool = false, pool: ComputePool) throws {
        try checkF32(x, output, op: "channel_norm")
        let dims = x.shape.dims
        guard dims.count >= 2, output.count == x.count, gamma.map({ $0.count == dims[1] }) ?? true,
              beta.map({ $0.count == dims[1] }) ?? true else {
            throw KernelError(.shapeMismatch, "channel_norm: input \(x.shape), output \(output.shape), scale/bias for \(dims.count >= 2 ? dims[1] : 0) channels")
        }
        let n = dims[0], c = dims[1], p = dims.dropFirst(2).reduce(1, *)
        guard n * c * p > 0 else { return }
        let chunk = 256
        let chunks = (p + chunk - 1) / chunk
        let io = GEMMOperands(a: x.floatPointer, b: x.floatPointer, c: output.floatPointer)
        let run = { (g: UnsafePointer<Float>?, b: UnsafePointer<Float>?) in
            pool.parallelFor(n * chunks, minimumPerPart: max(1, 16384 / max(1, c * chunk))) { r in
                for u in r {
                    let image = u / chunks, p0 = (u % chunks) * chunk, p1 = min(p, p0 + chunk)
                    let offset = image * c * p
                    if portable {
                        pg_channel_norm_portable(io.a + offset, io.c + offset, Int32(c), p, p0, p1, epsilon, g, b)
                    } else {
                        pg_channel_norm(io.a + offset, io.c + offset, Int32(c), p, p0, p1, epsilon, g, b)
                    }
                }
            }
        }
        switch (gamma, beta) {
        case let (g?, b?): g.withUnsafeBufferPointer { gp in b.withUnsafeBufferPointer { bp in run(gp.baseAddress, bp.baseAddress) } }
        case let (g?, nil): g.withUnsafeBufferPointer { gp in run(gp.baseAddress, nil) }
        case let (nil, b?): b.withUnsafeBufferPointer { bp in run(nil, bp.baseAddress) }
        case (nil, nil): run(nil, nil)
        }
    }
}

extension Reference {
    /// ``Ops/channelNorm(_:gamma:beta:epsilon:into:portable:pool:)`` by definition (statistics in double).
    public static func channelNorm(_ x: Tensor, gamma: [Float]?, beta: [Float]?, epsilon: Float) -> Tensor {
        let dims = x.shape.dims, n = dims[0], c = dims[1], p = dims.dropFirst(2).reduce(1, *)
        let v = x.toArray()
        var out = v
        for i in 0..<n {
            for q in 0..<p {
                let column = (0..<c).map { Double(v[(i * c + $0) * p + q]) }
                let mean = column.reduce(0, +) / Double(c)
                let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
                let rstd = 1 / (variance + Double(epsilon)).squareRoot()
                for ch in 0..<c {
                    let y = (column[ch] - mean) * rstd * Double(gamma?[ch] ?? 1) + Double(beta?[ch] ?? 0)
                    out[(i * c + ch) * p + q] = Float(y)
                }
            }
        }
        return Tensor(shape: x.shape, values: out)
    }
}
