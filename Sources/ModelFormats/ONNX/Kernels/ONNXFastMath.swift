import CKernels
import Foundation
import Kernels

/// Vectorized sigmoid, SiLU and softmax rows on the C kernels of `vmath.h` (AVX-512 where the
/// CPU has it): the scalar libm `exp` costs several nanoseconds per element, which made these
/// the slowest ops of a UNet after its convolutions.
enum ONNXFastMath {
    /// Which element-wise kernel `map` runs.
    enum Function: Sendable {
        case sigmoid, silu

        func callAsFunction(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
            switch self {
            case .sigmoid: pg_vsigmoid(src, dst, count)
            case .silu: pg_vsilu(src, dst, count)
            }
        }
    }

    /// Elements per parallel chunk: large enough to amortize waking a worker, small enough to
    /// stay in L2 alongside its output.
    static let chunk = 16384

    /// `dst[i] = f(src[i])` over `count` elements, split across the pool (`src` may equal `dst`).
    static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ f: Function) {
        let chunks = (count + chunk - 1) / chunk
        let io = ONNXGemm.Operands(a: src, b: src, c: dst)
        ONNXAccelerated.pool.parallelFor(chunks, minimumPerPart: 2) { r in
            let lo = r.lowerBound * chunk, hi = min(count, r.upperBound * chunk)
            f(io.a + lo, io.c + lo, hi - lo)
        }
    }

    static func apply(_ f: Function, _ x: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, n in
            x.withUnsafeBufferPointer { src in
                if !x.isEmpty { map(src.baseAddress!, out.baseAddress!, x.count, f) }
            }
            n = x.count
        }
    }

    static func sigmoid(_ x: [Float]) -> [Float] { apply(.sigmoid, x) }

    static func silu(_ x: [Float]) -> [Float] { apply(.silu, x) }

    /// Softmax over contiguous rows of `len` elements.
    static func softmaxRows(_ x: [Float], len: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, n in
            x.withUnsafeBufferPointer { src in
                if !x.isEmpty, len > 0 { softmaxRows(src.baseAddress!, out.baseAddress!, count: x.count, len: len) }
            }
            n = x.count
        }
    }

    /// Softmax over the contiguous rows of `len` elements of `count` values (`src` may equal `dst`).
    static func softmaxRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, len: Int) {
        let rows = count / len
        let io = ONNXGemm.Operands(a: src, b: src, c: dst)
        ONNXAccelerated.pool.parallelFor(rows, minimumPerPart: max(1, 4096 / len)) { r in
            pg_softmax_rows(io.a + r.lowerBound * len, io.c + r.lowerBound * len, r.count, len)
        }
    }
}
