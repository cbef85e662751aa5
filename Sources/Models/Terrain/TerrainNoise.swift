import Foundation

/// The noise source of the terrain sampler: SplitMix64 (Steele, Lea and Flood, 2014) feeding the
/// Box–Muller transform. It is written out here rather than borrowed from a library so that a
/// seed names the same heightmap on every machine and in every release: the sequence depends
/// only on this file (and on the platform's `log`, `sin` and `cos`, used in `Double`). It does
/// not reproduce numpy's generator, so a seed here and the same seed in the Python package give
/// different (equally distributed) terrains.
public struct TerrainNoise: Sendable {
    private var state: UInt64

    /// Starts the stream at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 uniformly distributed bits (SplitMix64).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// `count` standard normal samples: each pair (u1, u2) gives two values,
    /// `r·cos(2πu2)` then `r·sin(2πu2)` with `r = sqrt(-2 ln(1 - u1))` (1 - u1 lies in (0, 1],
    /// so the logarithm is finite).
    public mutating func normals(count: Int) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(count + 1)
        while out.count < count {
            let r = (-2 * Foundation.log(1 - unit())).squareRoot()
            let angle = 2 * Double.pi * unit()
            out.append(Float(r * Foundation.cos(angle)))
            out.append(Float(r * Foundation.sin(angle)))
        }
        return Array(out.prefix(count))
    }
}
