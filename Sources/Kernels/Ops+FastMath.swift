import CKernels
import Tensor

/// Vectorized exp, sigmoid, SiLU and softmax rows on the C kernels of `vmath.h` (AVX-512 where the
/// CPU has it): the scalar libm `exp` costs several nanoseconds per element, which made these
/// the slowest ops of a UNet after its convolutions.
enum FastMath {
    /// Elements per parallel chunk: large enough to amortize waking a worker, small enough to
    /// stay in L2 alongside its output.
    static let chunk = 16384

    /// The vector kernel for `op`, or nil when it has none.
    static func kernel(_ op: UnaryOp) -> (@convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void)? {
        switch op {
        case .exp: return pg_vexp
        case .sigmoid: return pg_vsigmoid
        case .silu: return pg_vsilu
        default: return nil
        }
    }

    /// `dst[i] = f(src[i])` over `count` elements, split across the pool (`src` may equal `dst`).
    static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                    _ f: @convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void, pool: ComputePool) {
        let chunks = (count + chunk - 1) / chunk
        let io = GEMMOperands(a: src, b: src, c: dst)
        pool.parallelFor(chunks, minimumPerPart: 2) { r in
            let lo = r.lowerBound * chunk, hi = min(count, r.upperBound * chunk)
            f(io.a + lo, io.c + lo, hi - lo)
        }
    }

    /// Softmax over the contiguous rows of `len` elements of `count` values (`src` may equal `dst`).
    static func softmaxRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, len: Int, pool: ComputePool) {
        guard count > 0, len > 0 else { return }
        let rows = count / len
        let io = GEMMOperands(a: src, b: src, c: dst)
        pool.parallelFor(rows, minimumPerPart: max(1, 4096 / len)) { r in
            pg_softmax_rows(io.a + r.lowerBound * len, io.c + r.lowerBound * len, r.count, len)
        }
    }
}
