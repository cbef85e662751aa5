import Kernels
import Tensor
import Testing

@Suite("Elementwise")
struct ElementwiseTests {
    static let shapePairs: [(Shape, Shape)] = [
        ([2, 3, 5, 7], [2, 3, 5, 7]),
        ([2, 3, 5, 7], [1, 3, 1, 1]),
        ([1, 3, 1, 1], [2, 3, 5, 7]),
        ([2, 3, 5, 7], [7]),
        ([4, 1, 6], [1, 5, 1]),
        ([2, 17, 1, 33], [2, 1, 9, 1]),
        ([1], [3, 4]),
        ([3, 1, 1], [2, 1, 1, 4]),
        ([2, 1, 5], [3, 1]),
    ]

    @Test(arguments: BinaryOp.allCases)
    func binaryBroadcastsLikeReference(_ op: BinaryOp) throws {
        for (i, (sa, sb)) in Self.shapePairs.enumerated() {
            let lo: Float = op == .pow ? 0.1 : -2
            let a = randomTensor(sa, seed: UInt64(i), in: lo...2)
            let b = randomTensor(sb, seed: UInt64(100 + i), in: op == .div ? 0.5...2 : -2...2)
            expectClose(try Ops.binary(op, a, b, pool: testPool), try Reference.binary(op, a, b))
        }
    }

    @Test func binaryRejectsIncompatibleShapes() {
        #expect(throws: KernelError.self) { try Ops.binary(.add, Tensor(zeros: [2, 3]), Tensor(zeros: [4]), pool: testPool) }
    }

    @Test func binaryWritesInPlace() throws {
        let a = randomTensor([3, 8, 8], seed: 5), b = randomTensor([8, 1], seed: 6)
        let expected = try Reference.binary(.mul, a, b)
        try Ops.binary(.mul, a, b, into: a, pool: testPool)
        expectClose(a, expected)
    }

    @Test(arguments: UnaryOp.allCases)
    func unaryMatchesReference(_ op: UnaryOp) throws {
        let positive: Set<UnaryOp> = [.sqrt, .rsqrt, .log]
        let x = randomTensor([2, 3, 17, 19], seed: 9, in: positive.contains(op) ? 0.1...3 : -3...3)
        expectClose(try Ops.unary(op, x, pool: testPool), Reference.unary(op, x))
    }

    @Test(arguments: [Activation.none, .relu, .leakyReLU(slope: 0.1), .prelu(slopes: [0.1, -0.2, 0.3]),
                      .sigmoid, .silu, .clip(min: -0.5, max: 0.5)])
    func activationMatchesReference(_ act: Activation) throws {
        let x = randomTensor([2, 3, 9, 11], seed: 4, in: -3...3)
        expectClose(try Ops.activation(x, act, pool: testPool), Reference.activation(x, act))
    }
}

@Suite("Layout ops")
struct LayoutOpsTests {
    @Test(arguments: [(Shape([1, 4, 3, 5]), 2), (Shape([2, 48, 7, 9]), 4), (Shape([1, 27, 1, 1]), 3), (Shape([1, 2, 4, 3]), 1)])
    func pixelShuffleMatchesReference(shape: Shape, factor: Int) throws {
        let x = randomTensor(shape, seed: 31)
        expectClose(try Ops.pixelShuffle(x, factor: factor, pool: testPool), Reference.pixelShuffle(x, factor: factor))
    }

    /// PyTorch's order: channel c*r*r + i*r + j goes to row offset i, column offset j.
    @Test func pixelShuffleUsesPyTorchChannelOrder() throws {
        let x = Tensor(shape: [1, 4, 1, 1], values: [0, 1, 2, 3])
        #expect(try Ops.pixelShuffle(x, factor: 2, pool: testPool).toArray() == [0, 1, 2, 3])
        let y = Tensor(shape: [1, 4, 1, 2], values: [0, 10, 1, 11, 2, 12, 3, 13])
        #expect(try Ops.pixelShuffle(y, factor: 2, pool: testPool).toArray() == [0, 1, 10, 11, 2, 3, 12, 13])
    }

    @Test(arguments: [0, 1, 2, 3, -1])
    func concatMatchesReference(axis: Int) throws {
        var dims: [[Int]] = [[2, 3, 4, 5], [2, 3, 4, 5], [2, 3, 4, 5]]
        let ax = axis < 0 ? 3 : axis
        dims[1][ax] = 2
        dims[2][ax] = 1
        let ts = dims.enumerated().map { randomTensor(Shape($1), seed: UInt64($0)) }
        expectClose(try Ops.concat(ts, axis: axis, pool: testPool), Reference.concat(ts, axis: axis))
        #expect(throws: KernelError.self) { try Ops.concat([ts[0], Tensor(zeros: [1, 1])], axis: 0, pool: testPool) }
    }

    @Test(arguments: [(1, 0, 3, 1), (2, 1, -1, 2), (3, -4, 100, 1), (0, 1, 2, 1), (3, 2, 2, 1)])
    func sliceMatchesReference(axis: Int, start: Int, end: Int, step: Int) throws {
        let x = randomTensor([2, 5, 6, 7], seed: 41)
        expectClose(try Ops.slice(x, axis: axis, start: start, end: end, step: step, pool: testPool),
                    Reference.slice(x, axis: axis, start: start, end: end, step: step))
    }

    @Test func cropMatchesReference() throws {
        let x = randomTensor([2, 3, 10, 12], seed: 42)
        expectClose(try Ops.crop(x, top: 2, left: 3, height: 5, width: 9, pool: testPool),
                    Reference.crop(x, top: 2, left: 3, height: 5, width: 9))
        #expect(throws: KernelError.self) { try Ops.crop(x, top: 6, left: 0, height: 5, width: 1, pool: testPool) }
    }
}

@Suite("Resize")
struct ResizeTests {
    static let cases: [(ResizeOptions, Int, Int)] = [
        (ResizeOptions(mode: .nearest), 32, 20),
        (ResizeOptions(mode: .nearest), 5, 3),
        (ResizeOptions(mode: .nearest, coordinates: .halfPixel), 17, 41),
        (ResizeOptions(mode: .bilinear), 30, 17),
        (ResizeOptions(mode: .bilinear), 4, 3),
        (ResizeOptions(mode: .bilinear, coordinates: .alignCorners), 23, 9),
        (ResizeOptions(mode: .bicubic), 31, 50),
        (ResizeOptions(mode: .bicubic), 6, 7),
        (ResizeOptions(mode: .bicubic, scale: (y: 1 / 0.75, x: 1 / 0.75)), 8, 15),
        (ResizeOptions(mode: .bicubic, coordinates: .alignCorners), 19, 26),
        (ResizeOptions(mode: .bilinear, coordinates: .asymmetric), 11, 40),
    ]

    @Test(arguments: 0..<cases.count)
    func resizeMatchesReference(_ i: Int) throws {
        let (options, oh, ow) = Self.cases[i]
        let x = randomTensor([2, 3, 11, 20], seed: 51)
        expectClose(try Ops.resize(x, height: oh, width: ow, options: options, pool: testPool),
                    Reference.resize(x, height: oh, width: ow, options: options))
    }

    /// Values PyTorch gives for `interpolate([0, 1], size=4, mode="bilinear", align_corners=False)`
    /// and nearest x2: the clamped borders and the half-pixel mapping.
    @Test func bilinearAndNearestKnownValues() throws {
        let x = Tensor(shape: [1, 1, 1, 2], values: [0, 1])
        let bl = try Ops.resize(x, height: 1, width: 4, options: ResizeOptions(mode: .bilinear), pool: testPool)
        #expect(bl.toArray() == [0, 0.25, 0.75, 1])
        let nn = try Ops.resize(x, height: 2, width: 4, options: ResizeOptions(mode: .nearest), pool: testPool)
        #expect(nn.toArray() == [0, 0, 1, 1, 0, 0, 1, 1])
    }

    /// Bicubic with A = -0.75 (PyTorch's kernel) on a ramp upsampled x2: half-pixel centers put
    /// samples at t = 0.25 / 0.75 between source pixels, where the weights (-0.10546875,
    /// 0.87890625, 0.26171875, -0.03515625) give i + 0.296875 (not the linear i + 0.25; only
    /// A = -0.5 reproduces ramps). A constant image stays constant.
    @Test func bicubicKnownValues() throws {
        let ramp = Tensor(shape: [1, 1, 1, 8], values: (0..<8).map(Float.init))
        let y = try Ops.resize(ramp, height: 1, width: 16, options: ResizeOptions(mode: .bicubic), pool: testPool).toArray()
        for ox in 4..<12 {
            let src = (Float(ox) + 0.5) / 2 - 0.5
            let i = src.rounded(.down)
            let expected = i + (src - i == 0.25 ? 0.296875 : 0.703125)
            #expect(abs(y[ox] - expected) < 1e-5, "x \(ox)")
        }
        let flat = Tensor(shape: [1, 1, 5, 5], repeating: 3)
        let z = try Ops.resize(flat, height: 7, width: 3, options: ResizeOptions(mode: .bicubic), pool: testPool)
        #expect(z.toArray().allSatisfy { abs($0 - 3) < 1e-5 })
    }
}

@Suite("Pooling and reductions")
struct PoolingTests {
    @Test(arguments: [
        PoolingParameters(kind: .max, kernel: (2, 2)),
        PoolingParameters(kind: .max, kernel: (3, 3), stride: (2, 2), padding: Padding(1)),
        PoolingParameters(kind: .max, kernel: (3, 2), stride: (2, 3), padding: Padding(top: 1, left: 0, bottom: 0, right: 1), ceilMode: true),
        PoolingParameters(kind: .average, kernel: (2, 2)),
        PoolingParameters(kind: .average, kernel: (3, 3), stride: (2, 2), padding: Padding(1)),
        PoolingParameters(kind: .average, kernel: (3, 3), stride: (2, 2), padding: Padding(1), countIncludePad: false),
        PoolingParameters(kind: .average, kernel: (3, 3), stride: (2, 2), padding: Padding(1), ceilMode: true),
    ])
    func pool2dMatchesReference(_ p: PoolingParameters) throws {
        for shape: Shape in [[2, 3, 9, 11], [1, 17, 4, 5], [1, 1, 3, 3]] {
            let x = randomTensor(shape, seed: 61)
            expectClose(try Ops.pool2d(x, p, pool: testPool), Reference.pool2d(x, p))
        }
    }

    @Test(arguments: [PoolingParameters.Kind.max, .average])
    func globalPoolMatchesReference(_ kind: PoolingParameters.Kind) throws {
        let x = randomTensor([2, 19, 7, 13], seed: 62)
        expectClose(try Ops.globalPool(x, kind: kind, pool: testPool), Reference.globalPool(x, kind: kind))
    }

    @Test(arguments: [0, 1, 2, -1])
    func softmaxMatchesReference(axis: Int) throws {
        let x = randomTensor([3, 5, 7], seed: 63, in: -10...10)
        expectClose(try Ops.softmax(x, axis: axis, pool: testPool), Reference.softmax(x, axis: axis))
    }

    @Test(arguments: [1, 2, 4, 12])
    func groupNormMatchesReference(groups: Int) throws {
        let x = randomTensor([2, 12, 5, 7], seed: 64, in: -3...5)
        let g = randomTensor([12], seed: 65).toArray(), b = randomTensor([12], seed: 66).toArray()
        expectClose(try Ops.groupNorm(x, groups: groups, gamma: g, beta: b, epsilon: 1e-5, pool: testPool),
                    Reference.groupNorm(x, groups: groups, gamma: g, beta: b, epsilon: 1e-5))
        expectClose(try Ops.instanceNorm(x, gamma: nil, beta: nil, epsilon: 1e-5, pool: testPool),
                    Reference.groupNorm(x, groups: 12, gamma: nil, beta: nil, epsilon: 1e-5))
    }

    @Test(arguments: [7, 35, 1])
    func layerNormMatchesReference(count: Int) throws {
        let x = randomTensor([4, 5, 7], seed: 67, in: -2...6)
        let g = randomTensor([count], seed: 68).toArray(), b = randomTensor([count], seed: 69).toArray()
        expectClose(try Ops.layerNorm(x, normalizedCount: count, gamma: g, beta: b, epsilon: 1e-5, pool: testPool),
                    Reference.layerNorm(x, normalizedCount: count, gamma: g, beta: b, epsilon: 1e-5))
    }
}

@Suite("Matrix products")
struct MatrixTests {
    @Test(arguments: [(1, 1, 1), (7, 13, 5), (64, 576, 100), (9, 300, 49), (33, 17, 200)])
    func matmulMatchesReference(m: Int, k: Int, n: Int) throws {
        let a = randomTensor([m, k], seed: 71), b = randomTensor([k, n], seed: 72)
        expectClose(try Ops.matmul(a, b, pool: testPool), Reference.matmul(a, b))
    }

    @Test func batchedMatmulBroadcastsASharedMatrix() throws {
        let a = randomTensor([3, 4, 6], seed: 73), b = randomTensor([6, 5], seed: 74)
        expectClose(try Ops.matmul(a, b, pool: testPool), Reference.matmul(a, b))
        let c = randomTensor([3, 6, 5], seed: 75)
        expectClose(try Ops.matmul(a, c, pool: testPool), Reference.matmul(a, c))
        #expect(throws: KernelError.self) { try Ops.matmul(a, randomTensor([2, 6, 5], seed: 1), pool: testPool) }
    }

    @Test(arguments: [(1, 10, 3), (5, 64, 17), (2, 1000, 33)])
    func innerProductMatchesReference(rows: Int, inputs: Int, outputs: Int) throws {
        let x = randomTensor([rows, inputs], seed: 76), w = randomTensor([outputs, inputs], seed: 77)
        let b = randomTensor([outputs], seed: 78)
        let ip = try InnerProduct(weights: w, bias: b, outputs: outputs, activation: .relu)
        expectClose(try ip(x, pool: testPool), Reference.innerProduct(x, weights: w, bias: b, outputs: outputs, activation: .relu))
    }
}

@Suite("Transpose and reduce")
struct TransposeReduceTests {
    @Test(arguments: [[0, 1, 2, 3], [0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 3, 2], [0, 3, 1, 2]])
    func transposeMatchesReference(_ permutation: [Int]) throws {
        let x = randomTensor([2, 3, 5, 7], seed: 81)
        expectClose(try Ops.transpose(x, permutation: permutation, pool: testPool),
                    Reference.transpose(x, permutation: permutation))
        #expect(throws: KernelError.self) { try Ops.transpose(x, permutation: [0, 0, 1, 2], pool: testPool) }
    }

    @Test(arguments: ReduceOp.allCases)
    func reduceMatchesReference(_ op: ReduceOp) throws {
        let x = randomTensor([2, 3, 5, 7], seed: 82)
        for axes in [[3], [1], [0, 2], [-1, -2], [0, 1, 2, 3]] {
            for keep in [true, false] {
                expectClose(try Ops.reduce(op, x, axes: axes, keepDimensions: keep, pool: testPool),
                            Reference.reduce(op, x, axes: axes, keepDimensions: keep))
            }
        }
    }
}
