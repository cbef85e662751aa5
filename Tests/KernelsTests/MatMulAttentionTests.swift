import Kernels
import Tensor
import Testing

/// numpy matmul, Gemm, packed weights and fused attention against their plain references on
/// seeded random shapes (1, odd, not multiples of 16, every kind of batch broadcasting).
/// Tolerance: 1e-4 relative to max(1, max |reference|) (float accumulation against double).
@Suite("Matmul and attention, random shapes")
struct MatMulAttentionTests {
    @Test(arguments: 0..<40)
    func matmulBroadcastsLikeNumpy(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 500)
        let m = Int.random(in: 1...37, using: &rng), k = Int.random(in: 1...70, using: &rng), n = Int.random(in: 1...300, using: &rng)
        // Batch shapes: none, equal, one side 1, broadcast inside, different ranks.
        let batches: [([Int], [Int])] = [([], []), ([3], [3]), ([1], [4]), ([2, 1], [1, 3]), ([5], []), ([], [2, 2]), ([2, 3], [3])]
        let (ba, bb) = batches[seed % batches.count]
        // Every fourth case a 1-D operand (numpy's row / column vectors).
        let aDims = seed % 8 == 3 ? [k] : ba + [m, k]
        let bDims = seed % 8 == 7 ? [k] : bb + [k, n]
        let a = randomTensor(Shape(aDims), seed: UInt64(seed) * 2), b = randomTensor(Shape(bDims), seed: UInt64(seed) * 2 + 1)
        let want = Reference.matmul(a, b)
        #expect(try Ops.matmulShape(a.shape, b.shape) == want.shape)
        expectClose(try Ops.matmul(a, b, pool: testPool), want)
    }

    @Test func matmulRejectsMismatchedShapes() {
        #expect(throws: KernelError.self) { try Ops.matmul(Tensor(zeros: [2, 3]), Tensor(zeros: [4, 5]), pool: testPool) }
        #expect(throws: KernelError.self) { try Ops.matmul(Tensor(zeros: [2, 2, 3]), Tensor(zeros: [3, 3, 5]), pool: testPool) }
    }

    @Test(arguments: 0..<24)
    func gemmMatchesReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 900)
        let m = Int.random(in: 1...33, using: &rng), k = Int.random(in: 1...90, using: &rng), n = Int.random(in: 1...70, using: &rng)
        let transA = seed % 2 == 1, transB = seed % 4 >= 2
        let a = randomTensor(Shape(transA ? [k, m] : [m, k]), seed: UInt64(seed) + 1)
        let b = randomTensor(Shape(transB ? [n, k] : [k, n]), seed: UInt64(seed) + 2)
        let cShapes: [[Int]?] = [nil, [n], [m, 1], [m, n], [1, n], []]
        let c = cShapes[seed % cShapes.count].map { randomTensor(Shape($0), seed: UInt64(seed) + 3) }
        let (alpha, beta): (Float, Float) = seed % 3 == 0 ? (1, 1) : (0.5, -2)
        expectClose(try Ops.gemm(a, b, c: c, alpha: alpha, beta: beta, transA: transA, transB: transB, pool: testPool),
                    try Reference.gemm(a, b, c: c, alpha: alpha, beta: beta, transA: transA, transB: transB))
    }

    @Test(arguments: 0..<16)
    func packedWeightsMatchMatmul(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 77)
        let k = Int.random(in: 1...150, using: &rng), n = Int.random(in: 1...130, using: &rng)
        let lead = [[1], [Int.random(in: 2...40, using: &rng)], [2, 3], [1, 1, 5]][seed % 4]
        let w = randomTensor(Shape([k, n]), seed: UInt64(seed) + 10), x = randomTensor(Shape(lead + [k]), seed: UInt64(seed) + 11)
        let weights = try MatMulWeights(w.toArray(), k: k, n: n)
        let y = Tensor(uninitialized: Shape(lead + [n]))
        try weights.multiply(x, into: y, pool: testPool)
        expectClose(y, Reference.matmul(x, w))
    }

    @Test(arguments: 0..<30)
    func attentionMatchesUnfusedReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 4242)
        let t = Int.random(in: 1...130, using: &rng), s = Int.random(in: 1...130, using: &rng)
        let d = Int.random(in: 1...40, using: &rng), dv = Int.random(in: 1...40, using: &rng)
        let batch = [[], [1], [3], [2, 2]][seed % 4]
        let q = randomTensor(Shape(batch + [t, d]), seed: UInt64(seed) + 1, in: -2...2)
        let k = randomTensor(Shape(batch + [s, d]), seed: UInt64(seed) + 2, in: -2...2)
        let v = randomTensor(Shape(batch + [s, dv]), seed: UInt64(seed) + 3)
        let scale = seed % 2 == 0 ? 1 : 1 / Float(d).squareRoot()
        let out = Tensor(uninitialized: Shape(batch + [t, dv]))
        try Ops.attention(q: q, k: k, v: v, scale: scale, into: out, pool: testPool)
        expectClose(out, try Reference.attention(q: q, k: k, v: v, scale: scale))
    }

    @Test func attentionRejectsMismatchedShapes() {
        let q = Tensor(zeros: [2, 5, 4]), k = Tensor(zeros: [2, 6, 3]), v = Tensor(zeros: [2, 6, 7])
        #expect(throws: KernelError.self) { try Ops.attention(q: q, k: k, v: v, scale: 1, into: Tensor(zeros: [2, 5, 7]), pool: testPool) }
    }
}
