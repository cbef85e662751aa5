import CKernels
import Foundation
@testable import Kernels
import Tensor
import Testing

/// ``ConvolutionChain``: bf16 NHWC activations between AMX or AVX512-BF16 layers. The chain rounds its input,
/// every weight and every intermediate activation to bf16 and accumulates in f32, so the test
/// reference does exactly that with ``Reference/conv2d(_:weights:bias:parameters:activation:)``;
/// what remains is f32 summation order (and, rarely, an intermediate that lands on the other side
/// of a bf16 rounding boundary because of it: one bf16 step, 2^-8 relative, of one value).
@Suite("Convolution chain", .enabled(if: KernelPath.current.computesBF16, "needs AMX or AVX512-BF16"))
struct ConvolutionChainTests {
    struct Layer {
        var parameters: ConvolutionParameters
        var activation: Activation
        var weights: Tensor
        var bias: Tensor?
    }

    /// A random chain: 2-4 layers, channel counts that are mostly not multiples of 16 or 32,
    /// 1x1, 3x3 and 5x5 kernels with (possibly asymmetric) size-keeping padding, every
    /// supported activation, with and without bias.
    static func randomChain(_ seed: UInt64) -> (layers: [Layer], n: Int, c: Int, h: Int, w: Int) {
        var rng = SplitMix64(seed: seed &+ 1000)
        func pick(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
        let c = pick(16...80)
        var channels = c
        var layers: [Layer] = []
        for i in 0..<pick(2...4) {
            let oc = [pick(1...90), 64, pick(16...40)][pick(0...2)]
            let k = [1, 3, 3, 5][pick(0...3)]
            let top = pick(0...(k - 1)), left = pick(0...(k - 1))
            let p = ConvolutionParameters(inputChannels: channels, outputChannels: oc, kernel: (k, k),
                                          padding: Padding(top: top, left: left, bottom: k - 1 - top, right: k - 1 - left))
            let activation: Activation = [
                .none, .relu, .leakyReLU(slope: 0.1), .prelu(slopes: (0..<oc).map { Float($0 % 7) / 10 }),
                .prelu(slopes: [0.2]), .clip(min: -0.4, max: 0.6),
            ][pick(0...5)]
            let scale = 1.5 / Float(channels * k * k).squareRoot()
            layers.append(Layer(parameters: p, activation: activation,
                                weights: randomTensor([oc, channels, k, k], seed: seed * 31 + UInt64(i), in: -scale...scale),
                                bias: pick(0...3) == 0 ? nil : randomTensor([oc], seed: seed * 37 + UInt64(i), in: -0.2...0.2)))
            channels = oc
        }
        // The last layer may not read fewer than 16 channels; the chain needs >= 16 everywhere.
        for i in 1..<layers.count where layers[i].parameters.inputChannels < 16 {
            return randomChain(seed &+ 7919)
        }
        return (layers, pick(1...2), c, pick(1...23), pick(1...70))
    }

    static func bf16Rounded(_ t: Tensor) -> Tensor { t.converted(to: .bf16).converted(to: .f32) }

    /// The chain's arithmetic, in f32 with explicit bf16 rounding.
    static func modeledReference(_ layers: [Layer], _ x: Tensor) throws -> Tensor {
        var v = x
        for l in layers {
            v = try Reference.conv2d(bf16Rounded(v), weights: bf16Rounded(l.weights), bias: l.bias,
                                     parameters: l.parameters, activation: l.activation)
        }
        return v
    }

    @Test(arguments: 0..<30)
    func randomChainMatchesModeledReference(_ seed: Int) throws {
        let (layers, n, c, h, w) = Self.randomChain(UInt64(seed))
        let convs = try layers.map { try Conv2D(weights: $0.weights, bias: $0.bias, parameters: $0.parameters, activation: $0.activation) }
        #expect(convs.allSatisfy(ConvolutionChain.supports))
        let chain = try ConvolutionChain(convs, weights: layers.map(\.weights))
        let x = randomTensor(Shape(n: n, c: c, h: h, w: w), seed: UInt64(seed) + 5)
        let y = try chain(x, pool: testPool)
        let r = try Self.modeledReference(layers, x)
        #expect(y.shape == r.shape)
        // A flipped intermediate rounding moves an output by about 2^-8 of one term's size.
        expectClose(y, r, relative: 4e-3)
        let (d, s) = maxDifference(y, r)
        // Typical agreement is f32 rounding; the tolerance above only absorbs rare flips.
        #expect(d <= 4e-3 * max(1, s), "seed \(seed): \(layers.map { "\($0.parameters.inputChannels)->\($0.parameters.outputChannels) k\($0.parameters.kernelHeight) \($0.activation)" }) \(n)x\(c)x\(h)x\(w)")
    }

    /// The stated bf16 bound, per layer, against the exact f32 reference: each layer's error stays
    /// within 2^-7 * sum|w||x| + 1e-5 of the f32 layer applied to the chain's own previous output
    /// (same reasoning as ``ConvolutionTests/bf16StaysWithinBound(_:)``), and the whole 16-layer
    /// 64-channel body (the upscalers') keeps a PSNR above 45 dB against f32 on a [0, 1] scale.
    @Test func sixteenLayerBodyStaysWithinBoundOfFP32() throws {
        let c = 64, h = 24, w = 45, depth = 16
        let p = ConvolutionParameters(inputChannels: c, outputChannels: c, kernel: (3, 3), padding: Padding(1))
        var convs: [Conv2D] = []
        var layers: [Layer] = []
        for i in 0..<depth {
            let l = Layer(parameters: p, activation: .prelu(slopes: (0..<c).map { 0.05 + Float($0 % 5) / 20 }),
                          weights: randomTensor([c, c, 3, 3], seed: 900 + UInt64(i), in: -0.06...0.06),
                          bias: randomTensor([c], seed: 950 + UInt64(i), in: -0.05...0.05))
            layers.append(l)
            convs.append(try Conv2D(weights: l.weights, bias: l.bias, parameters: p, activation: l.activation))
        }
        let x = randomTensor(Shape(n: 1, c: c, h: h, w: w), seed: 3, in: 0...1)
        let y = try ConvolutionChain(convs, weights: layers.map(\.weights))(x, pool: testPool)
        var exact = x
        for l in layers {
            exact = try Reference.conv2d(exact, weights: l.weights, bias: l.bias, parameters: p, activation: l.activation)
        }
        let ya = y.toArray(), ea = exact.toArray()
        let peak = Double(ea.map(abs).max()!)
        let mse = zip(ya, ea).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(ya.count)
        let psnr = 10 * log10(peak * peak / max(mse, 1e-30))
        #expect(psnr >= 45, "PSNR \(psnr) dB at peak \(peak)")
        // Per layer: run the chain truncated to k layers and k + 1 layers on the same input.
        for k in [1, 7, 15] {
            let before = try ConvolutionChain(Array(convs[0..<k]), weights: layers[0..<k].map(\.weights))(x, pool: testPool)
            let after = try ConvolutionChain(Array(convs[0...k]), weights: layers[0...k].map(\.weights))(x, pool: testPool)
            let l = layers[k]
            let r = try Reference.conv2d(before, weights: l.weights, bias: l.bias, parameters: p, activation: l.activation)
            let absX = Tensor(shape: before.shape, values: before.toArray().map(abs))
            let absW = Tensor(shape: l.weights.shape, values: l.weights.toArray().map(abs))
            let magnitude = try Reference.conv2d(absX, weights: absW, bias: nil, parameters: p).toArray()
            let aa = after.toArray(), ra = r.toArray()
            var worst: Float = 0
            for i in aa.indices { worst = max(worst, abs(aa[i] - ra[i]) / (magnitude[i] / 128 + 1e-5)) }
            #expect(worst <= 1, "layer \(k): error / bound = \(worst)")
        }
    }

    @Test func matchesLayerByLayerBF16() throws {
        let (layers, n, c, h, w) = Self.randomChain(77)
        let convs = try layers.map { try Conv2D(weights: $0.weights, bias: $0.bias, parameters: $0.parameters, activation: $0.activation) }
        let x = randomTensor(Shape(n: n, c: c, h: h, w: w), seed: 78)
        var v = x
        for conv in convs { v = try conv(v, precision: .bf16, pool: testPool) }
        expectClose(try ConvolutionChain(convs, weights: layers.map(\.weights))(x, pool: testPool), v, relative: 4e-3)
    }

    /// Buffers are cached per image size and reused; a buffer that held a different channel
    /// padding is cleared, so results never depend on what ran before.
    @Test func reuseAcrossSizesAndCallsGivesFreshResults() throws {
        let spec: [(Int, Int)] = [(40, 20), (20, 70), (70, 16), (16, 33)]
        let weights = spec.enumerated().map { i, io in randomTensor([io.1, io.0, 3, 3], seed: 60 + UInt64(i), in: -0.1...0.1) }
        let convs = try spec.enumerated().map { i, io in
            try Conv2D(weights: weights[i],
                       bias: randomTensor([io.1], seed: 70 + UInt64(i)),
                       parameters: ConvolutionParameters(inputChannels: io.0, outputChannels: io.1, kernel: (3, 3), padding: Padding(1)),
                       activation: .leakyReLU(slope: 0.1))
        }
        let chain = try ConvolutionChain(convs, weights: weights)
        // Four sizes cycle through a cache of three, so every size is also re-allocated.
        let inputs = [(9, 35), (17, 12), (1, 64), (5, 5)].enumerated().map { k, hw in
            randomTensor(Shape(n: 1, c: 40, h: hw.0, w: hw.1), seed: UInt64(k))
        }
        let first = try inputs.map { try chain($0, pool: testPool).toArray() }
        for _ in 0..<2 {
            for (x, y) in zip(inputs, first) { #expect(try chain(x, pool: testPool).toArray() == y) }
            #expect(try chain(inputs[1], pool: testPool).toArray() == first[1])
        }
        #expect(try ConvolutionChain(convs, weights: weights)(inputs[1], pool: testPool).toArray() == first[1])
    }

    /// A memory plan may give the chain's output its input's buffer; with a batch and more output
    /// than input channels, image 0's output covers image 1's input.
    @Test func outputMayShareTheInputBuffer() throws {
        let (c, oc, h, w) = (16, 40, 7, 19)
        let weights = [randomTensor([24, c, 3, 3], seed: 41, in: -0.2...0.2), randomTensor([oc, 24, 1, 1], seed: 42, in: -0.2...0.2)]
        let convs = [
            try Conv2D(weights: weights[0], bias: nil, parameters: ConvolutionParameters(inputChannels: c, outputChannels: 24, kernel: (3, 3), padding: Padding(1)), activation: .relu),
            try Conv2D(weights: weights[1], bias: nil, parameters: ConvolutionParameters(inputChannels: 24, outputChannels: oc, kernel: (1, 1))),
        ]
        let chain = try ConvolutionChain(convs, weights: weights)
        let x = randomTensor(Shape(n: 2, c: c, h: h, w: w), seed: 43)
        let expected = try chain(x, pool: testPool).toArray()
        let storage = TensorStorage(byteCount: 2 * oc * h * w * 4)
        let input = try Tensor(shape: x.shape, storage: storage, byteOffset: 0)
        input.floatPointer.update(from: x.floatPointer, count: x.count)
        let output = try Tensor(shape: Shape(n: 2, c: oc, h: h, w: w), storage: storage, byteOffset: 0)
        try chain(input, into: output, pool: testPool)
        #expect(output.toArray() == expected)
    }

    @Test func supportsOnlyWhatTheKernelComputes() throws {
        func conv(_ p: ConvolutionParameters, _ a: Activation = .none) throws -> Conv2D {
            try Conv2D(weights: Tensor(zeros: [p.outputChannels * p.inputChannelsPerGroup * p.kernelHeight * p.kernelWidth]),
                       bias: nil, parameters: p, activation: a)
        }
        let same = ConvolutionParameters(inputChannels: 16, outputChannels: 16, kernel: (3, 3), padding: Padding(1))
        #expect(ConvolutionChain.supports(try conv(same, .prelu(slopes: [0.1]))))
        #expect(!ConvolutionChain.supports(try conv(same, .silu)))
        #expect(!ConvolutionChain.supports(try conv(same, .sigmoid)))
        var p = same
        p.strideX = 2
        #expect(!ConvolutionChain.supports(try conv(p)))
        p = same
        p.padding = .zero
        #expect(!ConvolutionChain.supports(try conv(p)))
        p = same
        p.groups = 2
        #expect(!ConvolutionChain.supports(try conv(p)))
        p = same
        p.inputChannels = 8
        #expect(!ConvolutionChain.supports(try conv(p)))
        let wide = ConvolutionParameters(inputChannels: 16, outputChannels: 24, kernel: (3, 3), padding: Padding(1))
        let w16 = Tensor(zeros: [16, 16, 3, 3]), w24 = Tensor(zeros: [24, 16, 3, 3])
        #expect(throws: KernelError.self) { try ConvolutionChain([try conv(wide), try conv(wide)], weights: [w24, w24]) }
        #expect(throws: KernelError.self) { try ConvolutionChain([], weights: []) }
        #expect(throws: KernelError.self) { try ConvolutionChain([try conv(same)], weights: [w24]) }
        #expect(throws: KernelError.self) { try ConvolutionChain([try conv(same)], weights: []) }
        let chain = try ConvolutionChain([try conv(same)], weights: [w16])
        #expect(throws: KernelError.self) { try chain(Tensor(zeros: [1, 15, 4, 4]), pool: testPool) }
        #expect(throws: KernelError.self) { try chain(Tensor(zeros: [1, 16, 4, 4]), into: Tensor(zeros: [1, 16, 4, 3]), pool: testPool) }
    }
}
