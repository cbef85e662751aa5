extension Tensor {
    /// A tensor of values uniform in `[-bound, bound)` from SplitMix64 seeded with `seed`
    /// (deterministic; for benchmarks and tests that need plausible weights of any size).
    public init(uniform shape: Shape, bound: Float, seed: UInt64) {
        self.init(uninitialized: shape)
        var rng = SplitMix64(seed: seed)
        let p = floatPointer
        let k = 2 * bound / Float(1 << 24)
        for i in 0..<shape.count { p[i] = Float(rng.next() >> 40) * k - bound }
    }
}
