import Kernels
import Tensor
import Testing

/// The fused ops the diffusion transformer blocks run (multi-head attention on interleaved heads,
/// GEGLU) against their plain references on seeded random shapes: single tokens and heads,
/// widths that are not multiples of the vector width or the attention's query block, both
/// kernel paths. Tolerance: 1e-4 relative to max(1, max |reference|).
@Suite("Diffusion fused ops, random shapes")
struct DiffusionFusedOpTests {
    @Test(arguments: 0..<30)
    func interleavedHeadAttentionMatchesReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 7171)
        let n = Int.random(in: 1...2, using: &rng), heads = [1, 2, 3, 8][seed % 4]
        let t = Int.random(in: 1...150, using: &rng), s = Int.random(in: 1...110, using: &rng)
        let d = Int.random(in: 1...41, using: &rng), dv = seed % 3 == 0 ? Int.random(in: 1...20, using: &rng) : d
        let q = randomTensor(Shape([n, t, heads * d]), seed: UInt64(seed) + 1, in: -2...2)
        let k = randomTensor(Shape([n, s, heads * d]), seed: UInt64(seed) + 2, in: -2...2)
        let v = randomTensor(Shape([n, s, heads * dv]), seed: UInt64(seed) + 3)
        let scale = seed % 2 == 0 ? 1 : 1 / Float(d).squareRoot()
        let out = Tensor(uninitialized: Shape([n, t, heads * dv]))
        try Ops.attentionHeads(q: q, k: k, v: v, heads: heads, scale: scale, into: out, pool: testPool)
        expectClose(out, try Reference.attentionHeads(q: q, k: k, v: v, heads: heads, scale: scale))
    }

    @Test func interleavedHeadAttentionRejectsMismatchedShapes() {
        let q = Tensor(zeros: [1, 5, 12]), k = Tensor(zeros: [1, 6, 12]), v = Tensor(zeros: [1, 6, 12])
        // 5 heads do not divide 12 features; keys with other features; an output of the wrong width.
        #expect(throws: KernelError.self) {
            try Ops.attentionHeads(q: q, k: k, v: v, heads: 5, scale: 1, into: Tensor(zeros: [1, 5, 12]), pool: testPool)
        }
        #expect(throws: KernelError.self) {
            try Ops.attentionHeads(q: q, k: Tensor(zeros: [1, 6, 8]), v: v, heads: 4, scale: 1, into: Tensor(zeros: [1, 5, 12]),
                                   pool: testPool)
        }
        #expect(throws: KernelError.self) {
            try Ops.attentionHeads(q: q, k: k, v: v, heads: 4, scale: 1, into: Tensor(zeros: [1, 5, 8]), pool: testPool)
        }
    }

    @Test(arguments: [true, false], 0..<12)
    func gatedGELUMatchesReference(portable: Bool, seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 313)
        let n = [1, 7, 16, 17, 33, Int.random(in: 1...300, using: &rng)][seed % 6]
        let lead = [[1], [3], [2, 5], [Int.random(in: 1...40, using: &rng)]][seed % 4]
        // Wide enough to reach the tails where erf saturates and GELU's negative side vanishes.
        let x = randomTensor(Shape(lead + [2 * n]), seed: UInt64(seed) + 9, in: -9...9)
        let out = Tensor(uninitialized: Shape(lead + [n]))
        try Ops.gatedGELU(x, into: out, portable: portable, pool: testPool)
        expectClose(out, Reference.gatedGELU(x), relative: 2e-6)
    }

    @Test func gatedGELUIsAccurateNearZeroAndInTheNegativeTail() throws {
        // The gate's GELU relative to libm's erf, where cancellation would show.
        let gates: [Float] = [-12, -8, -5, -3, -1, -1e-3, -1e-6, 0, 1e-6, 1e-3, 0.5, 1, 3, 8]
        let x = Tensor(shape: Shape([gates.count, 2]), values: gates.flatMap { [1, $0] })
        for portable in [true, false] {
            let out = Tensor(uninitialized: Shape([gates.count, 1]))
            try Ops.gatedGELU(x, into: out, portable: portable, pool: testPool)
            for (i, g) in gates.enumerated() {
                let want = UnaryOp.gelu.apply(g), got = out.toArray()[i]
                #expect(abs(got - want) <= 1e-6 * max(1, abs(want)) || abs(got - want) <= 1e-4 * abs(want), "gelu(\(g)) = \(got), want \(want)")
            }
        }
    }

    @Test func gatedGELURejectsOddWidthsAndWrongOutputs() {
        #expect(throws: KernelError.self) { try Ops.gatedGELU(Tensor(zeros: [2, 5]), into: Tensor(zeros: [2, 2]), pool: testPool) }
        #expect(throws: KernelError.self) { try Ops.gatedGELU(Tensor(zeros: [2, 6]), into: Tensor(zeros: [2, 6]), pool: testPool) }
    }
}

/// Layer normalization over the channels of features-as-rows values against its definition.
@Suite("Channel norm, random shapes")
struct ChannelNormTests {
    @Test(arguments: [true, false], 0..<12)
    func channelNormMatchesReference(portable: Bool, seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 5150)
        let n = Int.random(in: 1...3, using: &rng), c = [1, 2, 7, 64, 320, Int.random(in: 1...90, using: &rng)][seed % 6]
        // Positions: one, fewer than a block, not a multiple of the 64-column block or of the 256-column chunk.
        let rest = [[1], [5], [63, 1], [65], [17, 19], [300]][(seed / 2) % 6]
        // An offset mean, so a one-pass variance would lose digits.
        let x = randomTensor(Shape([n, c] + rest), seed: UInt64(seed) + 3, in: 2...6)
        let gamma = seed % 3 == 0 ? nil : randomTensor(Shape([c]), seed: UInt64(seed) + 4).toArray()
        let beta = seed % 4 == 1 ? nil : randomTensor(Shape([c]), seed: UInt64(seed) + 5).toArray()
        let out = Tensor(uninitialized: x.shape)
        try Ops.channelNorm(x, gamma: gamma, beta: beta, epsilon: 1e-5, into: out, portable: portable, pool: testPool)
        expectClose(out, Reference.channelNorm(x, gamma: gamma, beta: beta, epsilon: 1e-5))
        // In place.
        let inPlace = x.copy()
        try Ops.channelNorm(inPlace, gamma: gamma, beta: beta, epsilon: 1e-5, into: inPlace, portable: portable, pool: testPool)
        expectClose(inPlace, out, relative: 0)
    }

    @Test func channelNormRejectsMismatchedScales() {
        #expect(throws: KernelError.self) {
            try Ops.channelNorm(Tensor(zeros: [1, 4, 3]), gamma: [1, 1, 1], beta: nil, epsilon: 1e-5, into: Tensor(zeros: [1, 4, 3]),
                                pool: testPool)
        }
    }
}
