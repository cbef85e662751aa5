/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
/// the one seeded generator of the project, for test data, benchmark inputs and seeded model
/// noise.
///
/// It is written out here rather than taken from a library so that a seed names the same
/// sequence on every machine and in every release: the sequence depends only on this type. It is
/// not cryptographic.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's whole state: advanced by a fixed odd constant per draw.
    public private(set) var state: UInt64

    /// Starts the sequence at `seed` (any value, zero included).
    public init(seed: UInt64) { state = seed }

    /// The next 64 uniformly distributed bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) from the top 24 bits of the next draw (every value exact).
    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// A uniform double in [0, 1) from the top 53 bits of the next draw (every value exact).
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}
