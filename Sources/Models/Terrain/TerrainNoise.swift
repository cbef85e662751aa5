import Foundation
import Tensor

/// The noise source of the terrain sampler: the project's `SplitMix64` feeding the Box–Muller
/// transform, so that a seed names the same heightmap on every machine and in every release (the
/// sequence depends only on `SplitMix64` and on the platform's `log`, `sin` and `cos`, used in
/// `Double`). It does not reproduce numpy's generator, so a seed here and the same seed in the
/// Python package give different (equally distributed) terrains.
public struct TerrainNoise: Sendable {
    private var generator: SplitMix64

    /// Starts the stream at `seed`.
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// The next 64 uniformly distributed bits.
    public mutating func next() -> UInt64 { generator.next() }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { generator.nextDouble() }

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
