import Foundation
import Kernels

/// Vectorized `exp` and the activations built on it (sigmoid, SiLU, softmax rows): the scalar
/// libm call costs several nanoseconds per element, which made these the slowest ops of a UNet.
///
/// `exp` uses range reduction `x = n ln2 + r` and a degree-6 polynomial for `e^r` (relative
/// error about 2 ulp over the float range), then scales by `2^n` through the exponent bits.
enum ONNXFastMath {
    typealias V = SIMD8<Float>

    @inline(__always)
    static func exp(_ x: V) -> V {
        // Mask-and-blend clamping: pointwiseMin/Max handle NaN lane by lane and do not vectorize.
        var xc = x.replacing(with: -87.3, where: x .< -87.3)
        xc = xc.replacing(with: 88.7, where: xc .> 88.7)
        // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
        let t = xc * 1.442_695_04 + 12_582_912.0
        let n = t - 12_582_912.0
        var r = xc - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * (r * r) + r + 1
        let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    /// `dst[i] = f(src[i])` over `count` elements, eight at a time, split across the pool.
    @inline(__always)
    static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                    _ vector: (V) -> V, _ scalar: (Float) -> Float) {
        let chunks = (count + 8191) / 8192
        let io = ONNXGemm.Operands(a: src, b: src, c: dst)
        ONNXAccelerated.pool.parallelFor(chunks, minimumPerPart: 4) { r in
            let lo = r.lowerBound * 8192, hi = min(count, r.upperBound * 8192)
            var i = lo
            let s = UnsafeRawPointer(io.a), d = UnsafeMutableRawPointer(io.c)
            while i + 8 <= hi {
                let v = s.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                d.storeBytes(of: vector(v), toByteOffset: i * 4, as: V.self)
                i += 8
            }
            while i < hi {
                io.c[i] = scalar(io.a[i])
                i += 1
            }
        }
    }

    static func sigmoid(_ x: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, n in
            x.withUnsafeBufferPointer { src in
                map(src.baseAddress!, out.baseAddress!, x.count,
                    { v in 1 / (1 + exp(-v)) }, { 1 / (1 + Foundation.exp(-$0)) })
            }
            n = x.count
        }
    }

    static func silu(_ x: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, n in
            x.withUnsafeBufferPointer { src in
                map(src.baseAddress!, out.baseAddress!, x.count,
                    { v in v / (1 + exp(-v)) }, { $0 / (1 + Foundation.exp(-$0)) })
            }
            n = x.count
        }
    }

    /// Softmax over contiguous rows of `len` elements.
    static func softmaxRows(_ x: [Float], len: Int) -> [Float] {
        let rows = len == 0 ? 0 : x.count / len
        return [Float](unsafeUninitializedCapacity: x.count) { out, n in
            x.withUnsafeBufferPointer { src in
                let io = ONNXGemm.Operands(a: src.baseAddress!, b: src.baseAddress!, c: out.baseAddress!)
                ONNXAccelerated.pool.parallelFor(rows, minimumPerPart: max(1, 4096 / max(len, 1))) { r in
                    for row in r {
                        let s = io.a + row * len, d = io.c + row * len
                        let sr = UnsafeRawPointer(s), dr = UnsafeMutableRawPointer(d)
                        var m = -Float.infinity
                        var vm = V(repeating: -.infinity)
                        var i = 0
                        while i + 8 <= len {
                            let v = sr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                            vm = vm.replacing(with: v, where: v .> vm)
                            i += 8
                        }
                        m = vm.max()
                        while i < len { m = Swift.max(m, s[i]); i += 1 }
                        var vs = V(repeating: 0)
                        var sum: Float = 0
                        i = 0
                        while i + 8 <= len {
                            let e = exp(sr.loadUnaligned(fromByteOffset: i * 4, as: V.self) - m)
                            dr.storeBytes(of: e, toByteOffset: i * 4, as: V.self)
                            vs += e
                            i += 8
                        }
                        while i < len { let e = Foundation.exp(s[i] - m); d[i] = e; sum += e; i += 1 }
                        sum += vs.sum()
                        let inv = 1 / sum
                        for j in 0..<len { d[j] *= inv }
                    }
                }
            }
            n = x.count
        }
    }
}
