import Dispatch
import Foundation

/// Row-major single-precision matrix multiply used by MatMul, Gemm, Einsum and the
/// convolutions: `C[m, n] (+)= sum_k A[m, k] * B[k, n]`.
///
/// A portable reference implementation in Swift: rows of C are split across threads, and each
/// thread walks B row by row so the innermost loop is contiguous and vectorizes.
enum ONNXGemm {
    /// Pointers that the worker threads read and write. `@unchecked Sendable` because each worker
    /// writes only its own disjoint rows of `c`; `a` and `b` are only read.
    struct Operands: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let b: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>
    }

    /// Multiplies `a` (`m×k`, row stride `lda`) by `b` (`k×n`, row stride `ldb`) into `c`
    /// (`m×n`, row stride `ldc`).
    /// - Parameter accumulate: add to `c` instead of overwriting it.
    static func multiply(m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool = false) {
        guard m > 0, n > 0 else { return }
        let ops = Operands(a: a, b: b, c: c)
        let work = m * n * max(k, 1)
        let threads = work < 1 << 16 ? 1 : min(ONNXThreads.count, m)
        let rowsPer = (m + threads - 1) / threads
        let kBlock = 256, nBlock = 1024
        let body: @Sendable (Int) -> Void = { t in
            let r0 = t * rowsPer, r1 = min(m, r0 + rowsPer)
            guard r0 < r1 else { return }
            if !accumulate {
                for i in r0..<r1 { (ops.c + i * ldc).update(repeating: 0, count: n) }
            }
            var j0 = 0
            while j0 < n {
                let jn = min(nBlock, n - j0)
                var p0 = 0
                while p0 < k {
                    let pk = min(kBlock, k - p0)
                    var i = r0
                    // Four rows of C at a time: each row of B is loaded once for four FMAs.
                    while i + 4 <= r1 {
                        let c0 = ops.c + i * ldc + j0, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
                        let a0 = ops.a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
                        for p in p0..<(p0 + pk) {
                            let bp = ops.b + p * ldb + j0
                            let x0 = a0[p], x1 = a1[p], x2 = a2[p], x3 = a3[p]
                            for j in 0..<jn {
                                let bv = bp[j]
                                c0[j] += x0 * bv
                                c1[j] += x1 * bv
                                c2[j] += x2 * bv
                                c3[j] += x3 * bv
                            }
                        }
                        i += 4
                    }
                    while i < r1 {
                        let c0 = ops.c + i * ldc + j0
                        let a0 = ops.a + i * lda
                        for p in p0..<(p0 + pk) {
                            let bp = ops.b + p * ldb + j0
                            let x0 = a0[p]
                            for j in 0..<jn { c0[j] += x0 * bp[j] }
                        }
                        i += 1
                    }
                    p0 += pk
                }
                j0 += jn
            }
        }
        if threads == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: body) }
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
