import CKernels
import Foundation

/// Row-major single-precision matrix multiply used by MatMul, Gemm, Einsum and the reference
/// convolutions: `C[m, n] (+)= sum_k A[m, k] * B[k, n]`, on the engine's packed SGEMM.
enum ONNXGemm {
    /// Pointers that the worker threads read and write. `@unchecked Sendable` because each worker
    /// writes only its own disjoint columns of `c`; `a` and `b` are only read.
    struct Operands: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let b: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>
    }

    /// Multiplies `a` (`m×k`, row stride `lda`) by `b` (`k×n`, row stride `ldb`) into `c`
    /// (`m×n`, row stride `ldc`): A is packed into panels once, then column blocks of B run in
    /// parallel through the engine's SGEMM.
    /// - Parameter accumulate: add to `c` instead of overwriting it.
    static func multiply(m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool = false) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let packedSize = pg_sgemm_packed_size(Int32(m), Int32(k))
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedSize)
        defer { packed.deallocate() }
        pg_sgemm_pack_a(a, lda, Int32(m), Int32(k), packed)
        let ops = Operands(a: UnsafePointer(packed), b: b, c: c)
        let block = 256
        let blocks = (n + block - 1) / block
        ONNXAccelerated.pool.parallelFor(blocks, minimumPerPart: max(1, (1 << 18) / max(1, m * k * block))) { r in
            for j in r {
                let n0 = j * block, nw = min(block, n - n0)
                pg_sgemm_packed(Int32(m), Int32(nw), Int32(k), ops.a, ops.b + n0, ldb, ops.c + n0, ldc,
                                nil, nil, accumulate ? 1 : 0)
            }
        }
    }

    /// `multiply` over `[Float]` matrices, optionally transposing either operand first.
    static func multiply(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int,
                         transA: Bool = false, transB: Bool = false) -> [Float] {
        let aa = transA ? ONNXLayout.transpose2D(a, rows: k, cols: m) : a
        let bb = transB ? ONNXLayout.transpose2D(b, rows: n, cols: k) : b
        var c = [Float](repeating: 0, count: m * n)
        aa.withUnsafeBufferPointer { pa in
            bb.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    multiply(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                             c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}

/// How many threads the ONNX kernels split work over: `PEREGRINE_THREADS`, or every active core.
enum ONNXThreads {
    static let count: Int = {
        if let s = ProcessInfo.processInfo.environment["PEREGRINE_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()
}
