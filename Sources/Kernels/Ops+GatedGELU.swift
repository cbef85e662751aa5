import CKernels
import Tensor

extension Ops {
    /// GEGLU (diffusers' `GEGLU`, Shazeer, "GLU Variants Improve Transformer"):
    /// `a · gelu(b)` where `a` and `b` are the first and second halves of `x`'s last dimension,
    /// with the exact (erf) GELU. One pass over `x`: neither half is copied out.
    /// - Parameters:
    ///   - x: `[..., 2n]`.
    ///   - output: `[..., n]`; must not overlap `x`.
    ///   - portable: run the portable path even where AVX-512 is available (tests compare both).
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func gatedGELU(_ x: Tensor, into output: Tensor, portable: Bool = false, pool: ComputePool) throws {
        try checkF32(x, output, op: "gated_gelu")
        let dims = x.shape.dims
        guard let last = dims.last, last % 2 == 0, output.shape.dims == Array(dims.dropLast()) + [last / 2] else {
            throw KernelError(.shapeMismatch, "gated_gelu: input \(x.shape) (even last extent) and output \(output.shape)")
        }
        let n = last / 2, rows = n == 0 ? 0 : x.count / last
        guard rows > 0 else { return }
        let io = GEMMOperands(a: x.floatPointer, b: x.floatPointer, c: output.floatPointer)
        let rowsPerChunk = max(1, FastMath.chunk / n)
        let chunks = (rows + rowsPerChunk - 1) / rowsPerChunk
        pool.parallelFor(chunks, minimumPerPart: 2) { r in
            let lo = r.lowerBound * rowsPerChunk, hi = min(rows, r.upperBound * rowsPerChunk)
            if portable {
                pg_geglu_rows_portable(io.a + lo * 2 * n, io.c + lo * n, hi - lo, n)
            } else {
                pg_geglu_rows(io.a + lo * 2 * n, io.c + lo * n, hi - lo, n)
            }
        }
    }
}

extension Reference {
    /// GEGLU by definition: the two halves sliced apart, `gelu` with libm's `erf`, multiplied.
    public static func gatedGELU(_ x: Tensor) -> Tensor {
        let dims = x.shape.dims, last = dims.last ?? 0, n = last / 2
        let rows = last == 0 ? 0 : x.count / last
        let src = x.toArray()
        var out = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows {
            for i in 0..<n {
                out[r * n + i] = src[r * last + i] * UnaryOp.gelu.apply(src[r * last + n + i])
            }
        }
        return Tensor(shape: Shape(Array(dims.dropLast()) + [n]), values: out)
    }
}
