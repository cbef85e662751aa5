// PyTorch's CPU random generator (ATen `CPUGeneratorImpl`: MT19937, `normal_fill` Box–Muller), reproduced bit for bit.
import Foundation

/// The random numbers of `torch.Generator().manual_seed(seed)` on the CPU, bit for bit, so that a
/// seed gives the same initial latents and ancestral-sampling noise as diffusers with a CPU
/// generator.
///
/// The stream is MT19937 seeded with the seed's low 32 bits. `randn` follows ATen's
/// `normal_kernel` for contiguous float32 tensors: with 16 or more elements every element first
/// gets a 24-bit uniform, then each block of 16 becomes 8 Box–Muller pairs (cosines in the first
/// eight, sines in the last eight), and a ragged tail redraws 16 fresh uniforms for the last 16
/// elements. That block transform is torch's AVX2 kernel (`avx_mathfun.h`'s Cephes-style `log`
/// and `sincos` in float32, with the fused multiply-adds its compiler forms), which torch uses on
/// every x86 CPU with AVX2, AVX-512 included. Fewer than 16 elements take the double-precision
/// scalar path, which caches the second value of each pair across calls, as torch does.
public struct TorchGenerator: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624
    private var cachedNormal: Double?

    /// Seeds the generator as `torch.Generator().manual_seed(seed)` does (a negative Python
    /// seed is its two's complement here).
    public init(seed: UInt64) {
        state[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<624 {
            let previous = state[i - 1]
            state[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
        }
    }

    /// The next 32 bits of the MT19937 stream (`CPUGeneratorImpl::random`).
    public mutating func next32() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// 64 bits from two draws, the first one high (`CPUGeneratorImpl::random64`).
    public mutating func next64() -> UInt64 {
        let high = UInt64(next32())
        return high << 32 | UInt64(next32())
    }

    private mutating func twist() {
        for k in 0..<624 {
            let y = (state[k] & 0x8000_0000) | (state[(k + 1) % 624] & 0x7FFF_FFFF)
            state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0x9908_B0DF)
        }
        index = 0
    }

    /// A float32 uniform in [0, 1) with 24 random bits (`uniform_real_distribution<float>`).
    public mutating func uniformFloat() -> Float {
        Float(next32() & 0xFF_FFFF) * 0x1p-24
    }

    /// A double uniform in [0, 1) with 53 random bits (`uniform_real_distribution<double>`).
    public mutating func uniformDouble() -> Double {
        Double(next64() & 0x1F_FFFF_FFFF_FFFF) * 0x1p-53
    }

    /// `torch.rand(count, generator=g)` in float32.
    public mutating func rand(count: Int) -> [Float] {
        (0..<max(0, count)).map { _ in uniformFloat() }
    }

    /// `torch.randn(shape, generator=g)` in float32 for a tensor of `count` elements (the shape
    /// matters only through its element count).
    public mutating func randn(count: Int) -> [Float] {
        guard count >= 16 else { return (0..<max(0, count)).map { _ in Float(normalDouble()) } }
        var data = [Float](repeating: 0, count: count)
        for i in 0..<count { data[i] = uniformFloat() }
        data.withUnsafeMutableBufferPointer { buffer in
            var i = 0
            while i + 16 <= count {
                Self.boxMuller16(buffer.baseAddress! + i)
                i += 16
            }
            if count % 16 != 0 {
                let tail = buffer.baseAddress! + count - 16
                for j in 0..<16 { tail[j] = uniformFloat() }
                Self.boxMuller16(tail)
            }
        }
        return data
    }

    /// One standard normal from the double-precision scalar path (`normal_distribution<double>`),
    /// consuming the cached sine of the previous pair first.
    public mutating func normalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let r = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }

    /// Turns 16 uniforms into 16 normals in place: pair `j` is (`data[j]`, `data[j + 8]`).
    static func boxMuller16(_ data: UnsafeMutablePointer<Float>) {
        let twoPi = Float(2.0 * Double.pi)
        for j in 0..<8 {
            let u1 = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * cephesLog(u1)).squareRoot()
            let (sine, cosine) = cephesSinCos(twoPi * u2)
            data[j] = radius * cosine
            data[j + 8] = radius * sine
        }
    }

    /// avx_mathfun's `log256_ps` for one lane, with its multiply-adds fused as in torch's build.
    static func cephesLog(_ input: Float) -> Float {
        var x = max(input, Float(bitPattern: 0x0080_0000))
        let bits = Int32(bitPattern: x.bitPattern)
        var e = Float((bits >> 23) - 0x7F) + 1
        x = Float(bitPattern: (x.bitPattern & ~0x7F80_0000) | 0x3F00_0000)
        if x < 0.707106781186547524 {
            e -= 1
            x = (x - 1) + x
        } else {
            x -= 1
        }
        let z = x * x
        var y: Float = 7.0376836292E-2
        for p: Float in [-1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                         -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1] {
            y = p.addingProduct(y, x)
        }
        y *= x
        y = (e * -2.12194440e-4).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x += y
        x = x.addingProduct(e, 0.693359375)
        return input <= 0 ? .nan : x
    }

    /// avx_mathfun's `sincos256_ps` for one non-negative lane, fused as in torch's build.
    static func cephesSinCos(_ input: Float) -> (sin: Float, cos: Float) {
        let negative = input < 0
        var x = abs(input)
        var j = Int32(x * 1.27323954473516)
        j = (j + 1) & ~1
        let y = Float(j)
        let swapSine = j & 4 != 0
        let polynomialMask = j & 2 == 0
        let swapCosine = ~(j - 2) & 4 != 0
        x = x.addingProduct(y, -0.78515625)
        x = x.addingProduct(y, -2.4187564849853515625e-4)
        x = x.addingProduct(y, -3.77489497744594108e-8)
        let z = x * x
        var c: Float = (-1.388731625493765E-003 as Float).addingProduct(2.443315711809948E-005, z)
        c = (4.166664568298827E-002 as Float).addingProduct(c, z)
        c *= z
        c = (-(z * 0.5)).addingProduct(c, z)
        c += 1
        var s: Float = (8.3321608736E-3 as Float).addingProduct(-1.9515295891E-4, z)
        s = (-1.6666654611E-1 as Float).addingProduct(s, z)
        s *= z
        s = x.addingProduct(s, x)
        var sine = polynomialMask ? s : c
        var cosine = polynomialMask ? c : s
        if negative != swapSine { sine = -sine }
        if swapCosine { cosine = -cosine }
        return (sine, cosine)
    }
}
