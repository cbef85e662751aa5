import CKernels
import Foundation
import Testing

/// The vectorized exp, sigmoid, SiLU and row softmax of vmath.c against plain double-precision
/// references, on both the dispatched (AVX-512 here) and the portable path, over awkward lengths
/// (empty, single, below, at and past the vector width, odd tails).
@Suite struct VMathTests {
    static let lengths = [0, 1, 3, 15, 16, 17, 31, 32, 33, 47, 64, 100, 257, 1000, 4099]

    /// Deterministic values over [-range, range], plus the clamping edges.
    private static func values(_ n: Int, range: Float, seed: UInt64) -> [Float] {
        var state = seed
        var out = (0..<n).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * range
        }
        let edges: [Float] = [0, -0, 88.376, 88.7, -87.3, 100, -100, 1e-8, -1e-8]
        for (i, e) in edges.enumerated() where i < n { out[(i * 7919) % n] = e }
        return out
    }

    private typealias Kernel = (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void

    /// Max relative error (against max(|reference|, floor)) of `kernel` over the lengths.
    private func worst(_ kernel: Kernel, range: Float, floor: Double, reference: (Double) -> Double) -> Double {
        var worst = 0.0
        for n in Self.lengths {
            let x = Self.values(n, range: range, seed: UInt64(n) + 11)
            var y = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { src in y.withUnsafeMutableBufferPointer { kernel(src.baseAddress, $0.baseAddress, n) } }
            for (xi, yi) in zip(x, y) {
                let want = reference(Double(xi))
                worst = max(worst, abs(Double(yi) - want) / max(abs(want), floor))
            }
            // In place gives the same values.
            var z = x
            z.withUnsafeMutableBufferPointer { kernel($0.baseAddress, $0.baseAddress, n) }
            if z != y { return .infinity }
        }
        return worst
    }

    /// exp is clamped to the float range the way the kernels document.
    private static func clampedExp(_ x: Double) -> Double { Foundation.exp(min(max(x, Double(Float(-87.3))), Double(Float(88.3762626647949)))) }

    @Test(arguments: [true, false])
    func expMatchesReference(portable: Bool) {
        let e = worst(portable ? pg_vexp_portable : pg_vexp, range: 80, floor: 0, reference: Self.clampedExp)
        #expect(e <= 4e-7)
    }

    @Test(arguments: [true, false])
    func sigmoidMatchesReference(portable: Bool) {
        let e = worst(portable ? pg_vsigmoid_portable : pg_vsigmoid, range: 30, floor: 1e-30) { 1 / (1 + Self.clampedExp(-$0)) }
        #expect(e <= 5e-7)
    }

    @Test(arguments: [true, false])
    func siluMatchesReference(portable: Bool) {
        let e = worst(portable ? pg_vsilu_portable : pg_vsilu, range: 30, floor: 1e-30) { $0 / (1 + Self.clampedExp(-$0)) }
        #expect(e <= 5e-7)
    }

    @Test(arguments: [true, false])
    func softmaxRowsMatchReference(portable: Bool) {
        let kernel = portable ? pg_softmax_rows_portable : pg_softmax_rows
        for len in Self.lengths where len > 0 {
            for rows in [1, 3] {
                let x = Self.values(rows * len, range: 20, seed: UInt64(len * rows))
                var y = [Float](repeating: .nan, count: x.count)
                x.withUnsafeBufferPointer { s in y.withUnsafeMutableBufferPointer { kernel(s.baseAddress, $0.baseAddress, rows, len) } }
                var worst = 0.0
                for r in 0..<rows {
                    let row = x[(r * len)..<((r + 1) * len)].map(Double.init)
                    let m = row.max()!
                    let sum = row.reduce(0) { $0 + Foundation.exp($1 - m) }
                    for (j, v) in row.enumerated() {
                        worst = max(worst, abs(Double(y[r * len + j]) - Foundation.exp(v - m) / sum))
                    }
                }
                // Absolute error: probabilities are at most 1; float sums of `len` terms round.
                #expect(worst <= 2e-7 * Double(max(1, len).bitWidthLog), "len \(len) rows \(rows): \(worst)")
                var z = x
                z.withUnsafeMutableBufferPointer { kernel($0.baseAddress, $0.baseAddress, rows, len) }
                #expect(z == y)
            }
        }
    }

    @Test(arguments: [true, false])
    func normalizeRowsMatchReference(portable: Bool) {
        let kernel = portable ? pg_normalize_rows_portable : pg_normalize_rows
        for len in Self.lengths where len > 0 {
            for affine in [false, true] {
                let rows = 3
                // An offset mean makes the variance pass depend on subtracting the mean first.
                let x = Self.values(rows * len, range: 4, seed: UInt64(len) + 5).map { $0 + 100 }
                let scale: [Float] = [0.5, -2, 1], bias: [Float] = [0.25, 3, -1]
                var y = [Float](repeating: .nan, count: x.count)
                x.withUnsafeBufferPointer { s in
                    y.withUnsafeMutableBufferPointer { d in
                        if affine {
                            kernel(s.baseAddress, d.baseAddress, rows, len, 1e-5, scale, bias)
                        } else {
                            kernel(s.baseAddress, d.baseAddress, rows, len, 1e-5, nil, nil)
                        }
                    }
                }
                var worst = 0.0
                for r in 0..<rows {
                    let row = x[(r * len)..<((r + 1) * len)].map(Double.init)
                    let mean = row.reduce(0, +) / Double(len)
                    let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(len)
                    for (j, v) in row.enumerated() {
                        var want = (v - mean) / (variance + 1e-5).squareRoot()
                        if affine { want = want * Double(scale[r]) + Double(bias[r]) }
                        worst = max(worst, abs(Double(y[r * len + j]) - want))
                    }
                }
                // Inputs near 100 carry float rounding of ~4e-6 into values of unit scale.
                #expect(worst <= 2e-4, "len \(len) affine \(affine): \(worst)")
            }
        }
    }

    @Test func dispatchedAndPortablePathsAgree() {
        let x = Self.values(1000, range: 60, seed: 3)
        var a = [Float](repeating: 0, count: 1000), b = a
        x.withUnsafeBufferPointer { s in
            a.withUnsafeMutableBufferPointer { pg_vsilu(s.baseAddress, $0.baseAddress, 1000) }
            b.withUnsafeMutableBufferPointer { pg_vsilu_portable(s.baseAddress, $0.baseAddress, 1000) }
        }
        // Same algorithm; FMA contraction in the vector path moves at most a few ulp.
        for (p, q) in zip(a, b) { #expect(abs(p - q) <= 4 * max(abs(p), abs(q)) * Float.ulpOfOne + 1e-38) }
    }
}

private extension Int {
    /// ⌈log2(self)⌉ + 1: how many rounding steps a pairwise-or-vector sum of this many terms takes.
    var bitWidthLog: Int { Int.bitWidth - (self - 1).leadingZeroBitCount + 1 }
}
