import CKernels
@testable import Kernels
import Tensor
import Testing

/// One convolution case: input (n, c, h, w) and geometry.
struct ConvCase: Sendable, CustomTestStringConvertible {
    var n = 1
    var c: Int
    var h: Int
    var w: Int
    var oc: Int
    var k: (Int, Int) = (3, 3)
    var stride: (Int, Int) = (1, 1)
    var dilation: (Int, Int) = (1, 1)
    var pad = Padding(1)
    var groups = 1
    var activation: Activation = .none

    var parameters: ConvolutionParameters {
        ConvolutionParameters(inputChannels: c, outputChannels: oc, kernel: k, stride: stride, dilation: dilation,
                              padding: pad, groups: groups)
    }
    var testDescription: String {
        "n\(n) \(c)->\(oc) \(h)x\(w) k\(k.0)x\(k.1) s\(stride.0)x\(stride.1) d\(dilation.0) p\(pad.top),\(pad.left),\(pad.bottom),\(pad.right) g\(groups) \(activation)"
    }
}

let convCases: [ConvCase] = [
    // Winograd path (3x3 stride 1, >= 8 channels): odd sizes, tile edges, channel counts off 16.
    ConvCase(c: 64, h: 20, w: 37, oc: 64, activation: .prelu(slopes: (0..<64).map { Float($0) / 64 })),
    ConvCase(c: 8, h: 1, w: 1, oc: 8),
    ConvCase(n: 2, c: 17, h: 9, w: 13, oc: 24, activation: .relu),
    ConvCase(c: 12, h: 5, w: 211, oc: 9, activation: .leakyReLU(slope: 0.1)),
    ConvCase(c: 16, h: 7, w: 7, oc: 16, pad: Padding(top: 0, left: 2, bottom: 1, right: 0)),
    ConvCase(c: 10, h: 6, w: 8, oc: 12, pad: .zero, activation: .sigmoid),
    ConvCase(c: 20, h: 13, w: 50, oc: 33, activation: .silu),
    // GEMM path: small channel counts, 1x1, strides, dilation, other kernel sizes.
    ConvCase(c: 3, h: 16, w: 19, oc: 64, activation: .prelu(slopes: [0.25])),
    ConvCase(c: 64, h: 9, w: 11, oc: 48),
    ConvCase(n: 2, c: 5, h: 1, w: 1, oc: 7, k: (1, 1), pad: .zero),
    ConvCase(c: 33, h: 6, w: 17, oc: 10, k: (1, 1), pad: .zero, activation: .clip(min: -0.2, max: 0.3)),
    ConvCase(c: 6, h: 15, w: 14, oc: 11, stride: (2, 2)),
    ConvCase(c: 4, h: 12, w: 13, oc: 5, k: (5, 5), pad: Padding(2)),
    ConvCase(c: 7, h: 10, w: 9, oc: 6, k: (3, 3), dilation: (2, 2), pad: Padding(2)),
    ConvCase(c: 3, h: 11, w: 8, oc: 4, k: (7, 3), stride: (2, 1), pad: Padding(top: 3, left: 1, bottom: 2, right: 0)),
    ConvCase(c: 2, h: 4, w: 4, oc: 3, k: (4, 4), pad: .zero),
    // Groups and depthwise.
    ConvCase(c: 8, h: 9, w: 10, oc: 12, groups: 4),
    ConvCase(n: 2, c: 16, h: 11, w: 23, oc: 16, groups: 16, activation: .relu),
    ConvCase(c: 5, h: 8, w: 7, oc: 10, stride: (2, 2), groups: 5),
    ConvCase(c: 6, h: 9, w: 9, oc: 6, k: (5, 5), dilation: (2, 1), pad: Padding(top: 4, left: 2, bottom: 4, right: 2), groups: 6),
]

@Suite("Convolution")
struct ConvolutionTests {
    @Test(arguments: convCases)
    func conv2dMatchesReference(_ t: ConvCase) throws {
        let p = t.parameters
        let x = randomTensor(Shape(n: t.n, c: t.c, h: t.h, w: t.w), seed: 1)
        let w = randomTensor([t.oc, t.c / t.groups, t.k.0, t.k.1], seed: 2, in: -0.3...0.3)
        let b = randomTensor([t.oc], seed: 3)
        let conv = try Conv2D(weights: w, bias: b, parameters: p, activation: t.activation)
        let y = try conv(x, pool: testPool)
        let r = try Reference.conv2d(x, weights: w, bias: b, parameters: p, activation: t.activation)
        expectClose(y, r)
        // The same result into a caller-provided buffer, and on one thread.
        let into = Tensor(shape: y.shape, repeating: 7)
        try conv(x, into: into, pool: ComputePool(threads: 1))
        expectClose(into, r)
    }

    /// The fallbacks for CPUs without AVX-512 (AVX2 + FMA, and plain C) on the same cases.
    @Test(arguments: convCases)
    func fallbackPathsMatchReference(_ t: ConvCase) throws {
        let p = t.parameters
        let x = randomTensor(Shape(n: t.n, c: t.c, h: t.h, w: t.w), seed: 5)
        let w = randomTensor([t.oc, t.c / t.groups, t.k.0, t.k.1], seed: 6, in: -0.3...0.3)
        let b = randomTensor([t.oc], seed: 7)
        let r = try Reference.conv2d(x, weights: w, bias: b, parameters: p, activation: t.activation)
        let sets: [Conv2D.InstructionSets] = pg_detect_cpu().avx2_fma != 0 ? [.avx2, .portable] : [.portable]
        for isa in sets {
            let conv = try Conv2D(weights: w, bias: b, parameters: p, activation: t.activation, isa: isa)
            #expect(!conv.hasBF16Path)
            expectClose(try conv(x, precision: .bf16, pool: testPool), r)
        }
    }

    /// bf16 rounds each input and weight to 8 significant bits (relative error <= 2^-9 each), so
    /// every product is within about 2^-8 of exact and the sum within 2^-8 * sum|w||x| (fp32
    /// accumulation adds far less). The test allows 2^-7 * sum|w||x| + 1e-5 (the activations
    /// used are at most about 1.1-Lipschitz, well inside the factor of 2).
    @Test(arguments: [
        ConvCase(c: 64, h: 12, w: 40, oc: 64, activation: .prelu(slopes: (0..<64).map { Float($0) / 64 })),
        ConvCase(n: 2, c: 16, h: 5, w: 7, oc: 48),
        ConvCase(c: 40, h: 3, w: 33, oc: 20, k: (1, 1), pad: .zero, activation: .relu),
        ConvCase(c: 17, h: 9, w: 9, oc: 5, k: (5, 5), pad: Padding(top: 2, left: 1, bottom: 2, right: 3)),
        ConvCase(c: 32, h: 6, w: 70, oc: 40, activation: .clip(min: -0.5, max: 0.5)),
        ConvCase(c: 24, h: 7, w: 18, oc: 33, activation: .leakyReLU(slope: 0.2)),
        ConvCase(c: 16, h: 4, w: 21, oc: 16, activation: .silu),
    ])
    func bf16StaysWithinBound(_ t: ConvCase) throws {
        let p = t.parameters
        let x = randomTensor(Shape(n: t.n, c: t.c, h: t.h, w: t.w), seed: 11)
        let w = randomTensor([t.oc, t.c, t.k.0, t.k.1], seed: 12, in: -0.3...0.3)
        let b = randomTensor([t.oc], seed: 13)
        let conv = try Conv2D(weights: w, bias: b, parameters: p, activation: t.activation)
        let y = try conv(x, precision: .bf16, pool: testPool)
        let r = try Reference.conv2d(x, weights: w, bias: b, parameters: p, activation: t.activation)
        let absX = Tensor(shape: x.shape, values: x.toArray().map(abs))
        let absW = Tensor(shape: w.shape, values: w.toArray().map(abs))
        let magnitude = try Reference.conv2d(absX, weights: absW, bias: nil, parameters: p).toArray()
        let ya = y.toArray(), ra = r.toArray()
        var worst: Float = 0
        for i in ya.indices {
            worst = max(worst, abs(ya[i] - ra[i]) / (magnitude[i] / 128 + 1e-5))
        }
        #expect(worst <= 1, "error / bound = \(worst) (AMX path: \(conv.hasBF16Path))")
    }

    @Test func rejectsMismatchedWeightsAndInputs() throws {
        let p = ConvolutionParameters(inputChannels: 4, outputChannels: 4, kernel: (3, 3), padding: Padding(1))
        #expect(throws: KernelError.self) { try Conv2D(weights: [Float](repeating: 0, count: 10), bias: nil, parameters: p) }
        let conv = try Conv2D(weights: [Float](repeating: 0, count: 144), bias: nil, parameters: p)
        #expect(throws: KernelError.self) { try conv(Tensor(zeros: [1, 3, 4, 4]), pool: testPool) }
        #expect(throws: KernelError.self) { try conv(Tensor(zeros: [1, 4, 4, 4]), into: Tensor(zeros: [1, 4, 4, 3]), pool: testPool) }
        let grouped = ConvolutionParameters(inputChannels: 4, outputChannels: 6, kernel: (1, 1), groups: 4)
        #expect(throws: KernelError.self) { try Conv2D(weights: [Float](repeating: 0, count: 6), bias: nil, parameters: grouped) }
    }
}

@Suite("Deconvolution")
struct DeconvolutionTests {
    @Test(arguments: [
        ConvCase(c: 4, h: 5, w: 6, oc: 3, k: (4, 4), stride: (2, 2), pad: Padding(1)),
        ConvCase(n: 2, c: 8, h: 3, w: 7, oc: 5, k: (3, 3), stride: (2, 2), pad: .zero, activation: .relu),
        ConvCase(c: 6, h: 4, w: 4, oc: 6, k: (3, 3), stride: (1, 1), pad: Padding(1), groups: 6),
        ConvCase(c: 4, h: 6, w: 5, oc: 8, k: (2, 3), stride: (3, 2), dilation: (1, 2),
                 pad: Padding(top: 1, left: 0, bottom: 0, right: 2), groups: 2, activation: .leakyReLU(slope: 0.2)),
        ConvCase(c: 16, h: 1, w: 1, oc: 32, k: (4, 4), stride: (4, 4), pad: .zero),
    ])
    func deconv2dMatchesReference(_ t: ConvCase) throws {
        let p = t.parameters
        let x = randomTensor(Shape(n: t.n, c: t.c, h: t.h, w: t.w), seed: 21)
        let w = randomTensor([t.oc, t.c / t.groups, t.k.0, t.k.1], seed: 22)
        let b = randomTensor([t.oc], seed: 23)
        for outputPadding in [(0, 0), (1, 0)] {
            let deconv = try Deconv2D(weights: w, bias: b, parameters: p, outputPadding: outputPadding, activation: t.activation)
            let y = try deconv(x, pool: testPool)
            let r = try Reference.deconv2d(x, weights: w, bias: b, parameters: p, outputPadding: outputPadding,
                                           activation: t.activation)
            expectClose(y, r)
        }
    }

    /// A 2x2 stride-2 deconvolution of a single pixel writes the kernel itself: checks the
    /// (out, in, kh, kw) layout and that nothing is flipped.
    @Test func weightLayoutIsOutInKhKw() throws {
        let p = ConvolutionParameters(inputChannels: 2, outputChannels: 1, kernel: (2, 2), stride: (2, 2))
        let w: [Float] = [1, 2, 3, 4, 10, 20, 30, 40]  // out 0: in 0 then in 1
        let deconv = try Deconv2D(weights: w, bias: nil, parameters: p)
        let y = try deconv(Tensor(shape: [1, 2, 1, 1], values: [1, 0.5]), pool: testPool)
        #expect(y.toArray() == [6, 12, 18, 24])
    }
}

/// Random geometries beyond the hand-picked cases: any kernel, stride, dilation, padding and
/// group count that gives a non-empty output.
@Suite("Convolution, random geometries")
struct RandomConvolutionTests {
    static func randomCase(_ seed: UInt64) -> ConvCase {
        var rng = SplitMix64(seed: seed)
        func pick(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
        let groups = [1, 1, 1, 2, 3][pick(0...4)]
        let depthwise = pick(0...5) == 0
        let c = depthwise ? pick(1...12) : groups * pick(1...24)
        let oc = depthwise ? c * pick(1...2) : groups * pick(1...24)
        let acts: [Activation] = [.none, .relu, .leakyReLU(slope: 0.1), .prelu(slopes: [0.3]), .sigmoid, .clip(min: -0.4, max: 0.6)]
        var t = ConvCase(n: pick(1...2), c: c, h: pick(1...23), w: pick(1...37), oc: oc)
        t.k = (pick(1...5), pick(1...5))
        t.stride = (pick(1...3), pick(1...3))
        t.dilation = (pick(1...2), pick(1...2))
        t.pad = Padding(top: pick(0...2), left: pick(0...2), bottom: pick(0...2), right: pick(0...2))
        t.groups = depthwise ? c : groups
        t.activation = acts[pick(0...(acts.count - 1))]
        return t
    }

    @Test(arguments: 0..<40)
    func randomGeometryMatchesReference(_ seed: Int) throws {
        let t = Self.randomCase(UInt64(seed) &+ 1000)
        let p = t.parameters
        let (oh, ow) = p.convolutionOutputSize(height: t.h, width: t.w)
        guard oh > 0, ow > 0 else { return }
        let x = randomTensor(Shape(n: t.n, c: t.c, h: t.h, w: t.w), seed: UInt64(seed))
        let w = randomTensor([t.oc, t.c / t.groups, t.k.0, t.k.1], seed: UInt64(seed) + 1, in: -0.3...0.3)
        let b = randomTensor([t.oc], seed: UInt64(seed) + 2)
        let conv = try Conv2D(weights: w, bias: b, parameters: p, activation: t.activation)
        expectClose(try conv(x, pool: testPool),
                    try Reference.conv2d(x, weights: w, bias: b, parameters: p, activation: t.activation))
        let deconv = try Deconv2D(weights: w, bias: b, parameters: ConvolutionParameters(
            inputChannels: t.c, outputChannels: t.oc, kernel: t.k, stride: t.stride, dilation: t.dilation,
            padding: .zero, groups: t.groups), activation: t.activation)
        let dp = deconv.parameters
        expectClose(try deconv(x, pool: testPool),
                    try Reference.deconv2d(x, weights: w, bias: b, parameters: dp, activation: t.activation))
    }
}
