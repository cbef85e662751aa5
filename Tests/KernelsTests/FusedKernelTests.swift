import Kernels
import Tensor
import Testing

/// The fused group norm tail, the whole-image convolutions and the extended element-wise set
/// against plain references on seeded random shapes. Tolerance: 1e-4 relative to
/// max(1, max |reference|) unless stated.
@Suite("Fused kernels, random shapes")
struct FusedKernelTests {
    @Test(arguments: 0..<30)
    func groupNormTailMatchesReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 31)
        let groups = Int.random(in: 1...4, using: &rng), perGroup = Int.random(in: 1...5, using: &rng)
        let n = Int.random(in: 1...2, using: &rng), c = groups * perGroup
        let spatial = [[Int.random(in: 1...17, using: &rng), Int.random(in: 1...19, using: &rng)], [Int.random(in: 1...40, using: &rng)], []][seed % 3]
        let x = randomTensor(Shape([n, c] + spatial), seed: UInt64(seed) + 1, in: -3...3)
        // Affine per channel, per (sample, channel), or none; activation none, SiLU or another op; residual or not.
        let affine = seed % 3 == 0 ? nil : (0..<(seed % 3 == 1 ? c : n * c)).map { _ in rng.nextFloat() * 2 - 1 }
        let shift = affine.map { a in a.map { $0 * 0.5 + 0.1 } }
        let activation: UnaryOp? = [nil, .silu, .gelu][seed % 3 == 0 ? 1 : (seed / 3) % 3]
        let residual = seed % 2 == 0 ? randomTensor(x.shape, seed: UInt64(seed) + 2) : nil
        let out = Tensor(uninitialized: x.shape)
        try Ops.groupNorm(x, groups: groups, epsilon: 1e-5, gamma: affine, beta: shift, activation: activation,
                          residual: residual, into: out, pool: testPool)
        expectClose(out, Reference.groupNorm(x, groups: groups, gamma: affine, beta: shift, epsilon: 1e-5,
                                              activation: activation, residual: residual))
    }

    @Test func groupNormRunsInPlace() throws {
        let x = randomTensor([2, 6, 5, 7], seed: 3)
        let want = Reference.groupNorm(x, groups: 3, gamma: nil, beta: nil, epsilon: 1e-5, activation: .silu)
        try Ops.groupNorm(x, groups: 3, epsilon: 1e-5, gamma: nil, beta: nil, activation: .silu, into: x, pool: testPool)
        expectClose(x, want)
    }

    @Test(arguments: 0..<40)
    func wholeImageConvolutionsMatchReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 7)
        let ic = Int.random(in: 1...40, using: &rng), oc = Int.random(in: 1...40, using: &rng)
        let k = [1, 3, 5][seed % 3], h = Int.random(in: 1...20, using: &rng), w = Int.random(in: 1...20, using: &rng)
        let strided = seed % 5 == 4
        let pads = (0..<4).map { _ in k == 1 && seed % 2 == 0 ? 0 : Int.random(in: 0...2, using: &rng) }
        let p = ConvolutionParameters(inputChannels: ic, outputChannels: oc, kernel: (k, k), stride: strided ? (2, 2) : (1, 1),
                                      dilation: seed % 7 == 6 ? (2, 2) : (1, 1),
                                      padding: Padding(top: pads[0], left: pads[1], bottom: pads[2], right: pads[3]))
        let (oh, ow) = p.convolutionOutputSize(height: h, width: w)
        guard oh > 0, ow > 0 else { return }
        let n = seed % 4 == 0 ? 2 : 1
        let x = randomTensor([n, ic, h, w], seed: UInt64(seed) + 1)
        let weights = randomTensor([oc, ic, k, k], seed: UInt64(seed) + 2), bias = randomTensor([oc], seed: UInt64(seed) + 3)
        let want = try Reference.conv2d(x, weights: weights, bias: bias, parameters: p)
        let residual = randomTensor(want.shape, seed: UInt64(seed) + 4)
        let summed = try Reference.binary(.add, want, residual)
        let gemm = try GEMMConvolution(weights: weights.toArray(), bias: bias.toArray(), parameters: p)
        // The packed forms give back exactly the weights they were made from (executors keep no other copy).
        #expect(gemm.weights == weights.toArray())
        if TapConvolution.accepts(p) {
            #expect(try TapConvolution(weights: weights.toArray(), bias: nil, parameters: p).weights == weights.toArray())
        }
        for accumulate in [false, true] {
            let out = accumulate ? residual.copy() : Tensor(shape: want.shape, repeating: .nan)
            try gemm(x, into: out, accumulate: accumulate, pool: testPool)
            expectClose(out, accumulate ? summed : want)
            guard TapConvolution.accepts(p) else { continue }
            let taps = try TapConvolution(weights: weights.toArray(), bias: bias.toArray(), parameters: p)
            let tapped = accumulate ? residual.copy() : Tensor(shape: want.shape, repeating: .nan)
            try taps(x, into: tapped, accumulate: accumulate, pool: testPool)
            expectClose(tapped, accumulate ? summed : want)
        }
    }

    @Test func tapConvolutionRefusesStrides() {
        let p = ConvolutionParameters(inputChannels: 2, outputChannels: 2, kernel: (3, 3), stride: (2, 2))
        #expect(!TapConvolution.accepts(p))
        #expect(throws: KernelError.self) { try TapConvolution(weights: [Float](repeating: 0, count: 36), bias: nil, parameters: p) }
    }

    static let broadcastPairs: [([Int], [Int])] = [
        ([1], [1]), ([17], [17]), ([3, 1], [1, 5]), ([2, 3, 4], [4]), ([2, 1, 4], [3, 1]), ([1, 33], [7, 1]),
        ([5, 1, 1, 3], [2, 1]), ([], [4, 3]), ([6, 1, 9], [6, 8, 9]),
    ]

    @Test(arguments: [BinaryOp.mod, .fmod, .equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .max, .min])
    func extendedBinaryOpsBroadcast(_ op: BinaryOp) throws {
        for (i, (sa, sb)) in Self.broadcastPairs.enumerated() {
            // Integers-valued halves make equality and exact remainders likely.
            let a = Tensor(shape: Shape(sa), values: randomTensor(Shape(sa), seed: UInt64(i), in: -6...6).toArray().map { ($0 * 2).rounded() / 2 })
            let b = Tensor(shape: Shape(sb), values: randomTensor(Shape(sb), seed: UInt64(i) + 50, in: 0.5...4).toArray().map {
                (i % 2 == 0 ? 1 : -1) * ($0 * 2).rounded() / 2
            })
            let got = try Ops.binary(op, a, b, pool: testPool), want = try Reference.binary(op, a, b)
            expectClose(got, want, relative: 0)
        }
    }

    @Test func maxAndMinPropagateNaN() throws {
        let a = Tensor(shape: [3], values: [.nan, 1, 2]), b = Tensor(shape: [3], values: [0, .nan, 1])
        for op in [BinaryOp.max, .min] {
            let v = try Ops.binary(op, a, b, pool: testPool).toArray()
            #expect(v[0].isNaN && v[1].isNaN && !v[2].isNaN)
        }
    }

    @Test func selectBroadcastsEveryOperand() throws {
        for (i, (sa, sb)) in Self.broadcastPairs.enumerated() {
            let condShape = i % 2 == 0 ? sa : [1]
            let c = Tensor(shape: Shape(condShape), values: randomTensor(Shape(condShape), seed: UInt64(i) + 9).toArray().map { $0 > 0 ? 1 : 0 })
            let a = randomTensor(Shape(sa), seed: UInt64(i) + 1), b = randomTensor(Shape(sb), seed: UInt64(i) + 2)
            expectClose(try Ops.select(c, a, b, pool: testPool), try Reference.select(c, a, b), relative: 0)
        }
        #expect(throws: KernelError.self) { try Ops.select(Tensor(zeros: [2]), Tensor(zeros: [3]), Tensor(zeros: [1]), pool: testPool) }
    }

    @Test(arguments: [(Float(-0.5), Float(0.5)), (-.infinity, 0), (0, .infinity)])
    func clipMatchesReference(lower: Float, upper: Float) throws {
        let x = randomTensor([3, 17, 5], seed: 12, in: -2...2)
        expectClose(try Ops.clip(x, lower: lower, upper: upper, pool: testPool), Reference.clip(x, lower: lower, upper: upper), relative: 0)
    }

    /// The vector kernels (exp, sigmoid, SiLU) over awkward lengths and extreme values; they are
    /// polynomial approximations, so within 1e-5 relative of libm here.
    @Test(arguments: [UnaryOp.exp, .sigmoid, .silu, .geluTanh, .gelu])
    func vectorUnaryOpsMatchLibm(_ op: UnaryOp) throws {
        for count in [1, 15, 16, 17, 1000, 16385] {
            let x = randomTensor(Shape([count]), seed: UInt64(count), in: op == .exp ? -80...80 : -20...20)
            let got = try Ops.unary(op, x, pool: testPool).toArray(), want = Reference.unary(op, x).toArray()
            for (g, w) in zip(got, want) {
                #expect(abs(g - w) <= 1e-5 * max(1, abs(w)), "\(op) \(count): \(g) vs \(w)")
            }
        }
    }

    @Test(arguments: [(Shape([3, 5]), [1]), (Shape([2, 3, 4]), [0, 2]), (Shape([1, 7, 1]), [1]), (Shape([4, 0, 2]), [1])])
    func productReductionMatchesReference(shape: Shape, axes: [Int]) throws {
        let x = randomTensor(shape, seed: 5, in: 0.5...1.5)
        expectClose(try Ops.reduce(.prod, x, axes: axes, pool: testPool), Reference.reduce(.prod, x, axes: axes))
    }
}
