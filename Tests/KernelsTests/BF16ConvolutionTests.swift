import Foundation
@testable import Kernels
import Tensor
import Testing

/// The bf16 paths this CPU supports (AMX and/or AVX512-BF16): every test below runs on each, so
/// a machine with AMX checks both kernels.
let bf16Paths = KernelPath.allCases.filter { $0.computesBF16 && $0.isSupported(by: .current) }

/// bf16 convolutions on every bf16 kernel path against the f32 reference: single layers over
/// randomized shapes (channel counts around the vector widths, odd sizes, every activation the
/// kernels fuse, with and without bias), and chains against layer-by-layer f32.
@Suite("bf16 convolution paths", .enabled(if: !bf16Paths.isEmpty, "this CPU has neither AMX nor AVX512-BF16"))
struct BF16ConvolutionTests {
    struct Case: CustomTestStringConvertible {
        var path: KernelPath
        var seed: UInt64
        var testDescription: String { "\(path) #\(seed)" }
    }

    static let cases: [Case] = bf16Paths.flatMap { path in (0..<40).map { Case(path: path, seed: UInt64($0)) } }

    /// A random layer: channels from the awkward list, 1x1/3x3/5x5 with size-keeping (possibly
    /// asymmetric) padding, sizes 1-37 x 1-70, any fused activation, bias or not.
    static func randomLayer(_ seed: UInt64) -> (p: ConvolutionParameters, act: Activation, bias: Bool, n: Int, h: Int, w: Int) {
        var rng = SplitMix64(seed: seed &+ 4242)
        func pick(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
        let channels = [1, 3, 15, 16, 17, 48, 64]
        let ic = channels[pick(0...6)], oc = channels[pick(0...6)]
        let k = [1, 3, 3, 3, 5][pick(0...4)]
        let top = pick(0...(k - 1)), left = pick(0...(k - 1))
        let p = ConvolutionParameters(inputChannels: ic, outputChannels: oc, kernel: (k, k),
                                      padding: Padding(top: top, left: left, bottom: k - 1 - top, right: k - 1 - left))
        let act: Activation = [
            .none, .relu, .leakyReLU(slope: 0.1), .prelu(slopes: (0..<oc).map { Float($0 % 7) / 10 }),
            .prelu(slopes: [0.25]), .clip(min: -0.4, max: 0.6),
        ][pick(0...5)]
        return (p, act, pick(0...2) != 0, pick(1...2), pick(1...37), pick(1...70))
    }

    /// |err| <= 2^-7 * sum|w||x| + 1e-5 per output (see ``ConvolutionTests/bf16StaysWithinBound(_:)``
    /// for why), and the layer really ran in bf16 where the path takes it.
    @Test(arguments: cases)
    func singleLayerStaysWithinBound(_ t: Case) throws {
        let (p, act, hasBias, n, h, w) = Self.randomLayer(t.seed)
        let x = randomTensor(Shape(n: n, c: p.inputChannels, h: h, w: w), seed: t.seed &* 3 &+ 1)
        let scale = 1.5 / Float(p.inputChannels * p.kernelHeight * p.kernelWidth).squareRoot()
        let weights = randomTensor([p.outputChannels, p.inputChannels, p.kernelHeight, p.kernelWidth],
                                   seed: t.seed &* 3 &+ 2, in: -scale...scale)
        let bias = hasBias ? randomTensor([p.outputChannels], seed: t.seed &* 3 &+ 3, in: -0.2...0.2) : nil
        // Forced onto the dot-product kernel: on its own the AVX512-BF16 path leaves
        // Winograd-eligible layers to fp32.
        let conv = try Conv2D(weights: weights, bias: bias, parameters: p, activation: act, path: t.path,
                              forceBF16Kernel: true)
        #expect(conv.path == t.path)
        #expect(conv.hasBF16Path == (p.inputChannels >= 16), "\(p)")
        let y = try conv(x, precision: .bf16, pool: testPool)
        let r = try Reference.conv2d(x, weights: weights, bias: bias, parameters: p, activation: act)
        let absX = Tensor(shape: x.shape, values: x.toArray().map(abs))
        let absW = Tensor(shape: weights.shape, values: weights.toArray().map(abs))
        let magnitude = try Reference.conv2d(absX, weights: absW, bias: nil, parameters: p).toArray()
        let ya = y.toArray(), ra = r.toArray()
        #expect(ya.count == ra.count)
        var worst: Float = 0
        for i in ya.indices { worst = max(worst, abs(ya[i] - ra[i]) / (magnitude[i] / 128 + 1e-5)) }
        #expect(worst <= 1, "\(t.path) \(p) \(act) bias \(hasBias) \(n)x\(h)x\(w): error / bound = \(worst)")
        // Into a caller's buffer and on one thread: the same values.
        let into = Tensor(shape: y.shape, repeating: 9)
        try conv(x, into: into, precision: .bf16, pool: ComputePool(threads: 1))
        expectClose(into, y, relative: 1e-6)
    }

    /// A chain on each path computes what its rounding model says (bf16 input, weights and
    /// intermediates, f32 sums), to the same tolerance as ``ConvolutionChainTests``.
    @Test(arguments: cases.filter { $0.seed < 20 })
    func chainMatchesModeledReference(_ t: Case) throws {
        let (layers, n, c, h, w) = ConvolutionChainTests.randomChain(t.seed &+ 500)
        let convs = try layers.map {
            try Conv2D(weights: $0.weights, bias: $0.bias, parameters: $0.parameters, activation: $0.activation, path: t.path)
        }
        #expect(convs.allSatisfy(ConvolutionChain.supports))
        let chain = try ConvolutionChain(convs, weights: layers.map(\.weights))
        #expect(chain.path == t.path)
        let x = randomTensor(Shape(n: n, c: c, h: h, w: w), seed: t.seed &+ 77)
        expectClose(try chain(x, pool: testPool), try ConvolutionChainTests.modeledReference(layers, x), relative: 4e-3)
    }

    /// The upscalers' body (a 3-channel head, sixteen 64-channel PReLU layers and a 48-channel
    /// tail) chained in bf16 against the same layers run one by one in f32: PSNR >= 45 dB.
    @Test(arguments: bf16Paths)
    func upscalerBodyChainAgainstLayerwiseFP32(_ path: KernelPath) throws {
        let h = 19, w = 53
        var specs: [(ic: Int, oc: Int)] = [(16, 64)]
        specs += Array(repeating: (64, 64), count: 16)
        specs.append((64, 48))
        var fp32: [Conv2D] = [], bf16: [Conv2D] = [], weights: [Tensor] = []
        for (i, s) in specs.enumerated() {
            let p = ConvolutionParameters(inputChannels: s.ic, outputChannels: s.oc, kernel: (3, 3), padding: Padding(1))
            let act: Activation = i == specs.count - 1 ? .none : .prelu(slopes: (0..<s.oc).map { 0.05 + Float($0 % 5) / 20 })
            let wt = randomTensor([s.oc, s.ic, 3, 3], seed: 1300 + UInt64(i), in: -0.06...0.06)
            let b = randomTensor([s.oc], seed: 1400 + UInt64(i), in: -0.05...0.05)
            weights.append(wt)
            fp32.append(try Conv2D(weights: wt, bias: b, parameters: p, activation: act, path: .avx512))
            bf16.append(try Conv2D(weights: wt, bias: b, parameters: p, activation: act, path: path))
        }
        let x = randomTensor(Shape(n: 1, c: 16, h: h, w: w), seed: 8, in: 0...1)
        var exact = x
        for l in fp32 { exact = try l(exact, precision: .fp32, pool: testPool) }
        let y = try ConvolutionChain(bf16, weights: weights)(x, pool: testPool)
        let ya = y.toArray(), ea = exact.toArray()
        let peak = Double(ea.map(abs).max()!)
        let mse = zip(ya, ea).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(ya.count)
        let psnr = 10 * log10(peak * peak / max(mse, 1e-30))
        #expect(psnr >= 45, "\(path): PSNR \(psnr) dB at peak \(peak)")
    }

    /// With AMX and AVX512-BF16 both present, the two kernels agree (same rounding, f32 sums in
    /// another order).
    @Test(.enabled(if: bf16Paths.count > 1, "needs both AMX and AVX512-BF16"))
    func amxAndDotProductKernelsAgree() throws {
        let (layers, n, c, h, w) = ConvolutionChainTests.randomChain(4711)
        func run(_ path: KernelPath) throws -> Tensor {
            let convs = try layers.map {
                try Conv2D(weights: $0.weights, bias: $0.bias, parameters: $0.parameters, activation: $0.activation, path: path)
            }
            return try ConvolutionChain(convs, weights: layers.map(\.weights))(randomTensor(Shape(n: n, c: c, h: h, w: w), seed: 9), pool: testPool)
        }
        expectClose(try run(.avx512bf16), try run(.amx), relative: 4e-3)
    }

    /// Layers packed for different paths cannot share a chain.
    @Test(.enabled(if: bf16Paths.count > 1, "needs both AMX and AVX512-BF16"))
    func mixedPathsAreRejected() throws {
        let p = ConvolutionParameters(inputChannels: 16, outputChannels: 16, kernel: (3, 3), padding: Padding(1))
        let w = randomTensor([16, 16, 3, 3], seed: 1)
        let a = try Conv2D(weights: w, bias: nil, parameters: p, activation: .none, path: .amx)
        let b = try Conv2D(weights: w, bias: nil, parameters: p, activation: .none, path: .avx512bf16)
        #expect(throws: KernelError.self) { try ConvolutionChain([a, b], weights: [w, w]) }
    }
}

/// ``KernelPath`` selection from CPU features and the `PEREGRINE_KERNEL_PATH` override (pure
/// functions of their inputs: runs on any machine).
@Suite("Kernel path selection")
struct KernelPathTests {
    static let zen5 = CPUFeatures(modelName: "zen", avx2: true, avx512: true, avx512BF16: true, amx: false)
    static let sapphireRapids = CPUFeatures(modelName: "spr", avx2: true, avx512: true, avx512BF16: true, amx: true)
    static let skylake = CPUFeatures(modelName: "skx", avx2: true, avx512: true, avx512BF16: false, amx: false)
    static let haswell = CPUFeatures(modelName: "hsw", avx2: true, avx512: false, avx512BF16: false, amx: false)
    static let plain = CPUFeatures(modelName: "unknown", avx2: false, avx512: false, avx512BF16: false, amx: false)

    @Test func bestPathPerCPU() {
        #expect(KernelPath.best(for: Self.sapphireRapids) == .amx)
        #expect(KernelPath.best(for: Self.zen5) == .avx512bf16)
        #expect(KernelPath.best(for: Self.skylake) == .avx512)
        #expect(KernelPath.best(for: Self.haswell) == .avx2)
        #expect(KernelPath.best(for: Self.plain) == .portable)
    }

    @Test func overrideIsBoundedToWhatTheCPUSupports() {
        #expect(KernelPath.resolve(override: "avx512bf16", features: Self.sapphireRapids) == .avx512bf16)
        #expect(KernelPath.resolve(override: " AVX512 ", features: Self.zen5) == .avx512)
        #expect(KernelPath.resolve(override: "portable", features: Self.zen5) == .portable)
        // Unsupported or unknown values fall back to the detected path.
        #expect(KernelPath.resolve(override: "amx", features: Self.zen5) == .avx512bf16)
        #expect(KernelPath.resolve(override: "avx512bf16", features: Self.skylake) == .avx512)
        #expect(KernelPath.resolve(override: "avx512", features: Self.plain) == .portable)
        #expect(KernelPath.resolve(override: "fastest", features: Self.zen5) == .avx512bf16)
        #expect(KernelPath.resolve(override: "", features: Self.haswell) == .avx2)
        #expect(KernelPath.resolve(override: nil, features: Self.sapphireRapids) == .amx)
    }

    /// AMX takes every bf16 layer; AVX512-BF16 leaves Winograd-eligible layers to fp32 (its dot
    /// products are slower than fp32 Winograd there); the fp32-only paths never compute bf16.
    @Test func bf16KernelOnlyWhereItBeatsFP32() {
        #expect(KernelPath.amx.bf16KernelBeatsFP32(winogradEligible: true))
        #expect(KernelPath.amx.bf16KernelBeatsFP32(winogradEligible: false))
        #expect(!KernelPath.avx512bf16.bf16KernelBeatsFP32(winogradEligible: true))
        #expect(KernelPath.avx512bf16.bf16KernelBeatsFP32(winogradEligible: false))
        #expect(KernelPath.avx512bf16.bf16KernelBeatsFP32(winogradEligible: false, pointwise: true, chained: true))
        #expect(!KernelPath.avx512bf16.bf16KernelBeatsFP32(winogradEligible: false, pointwise: true, chained: false))
        #expect(KernelPath.amx.bf16KernelBeatsFP32(winogradEligible: false, pointwise: true, chained: false))
        for path in [KernelPath.avx512, .avx2, .portable] {
            #expect(!path.bf16KernelBeatsFP32(winogradEligible: false))
        }
        #expect(KernelPath.avx512bf16.summary(bf16Requested: true, cpu: Self.zen5)
                == "avx512bf16/bf16 (3x3 layers fp32 Winograd) on zen")
        #expect(KernelPath.amx.summary(bf16Requested: true, cpu: Self.sapphireRapids) == "amx/bf16 on spr")
        #expect(KernelPath.avx512.summary(bf16Requested: true, cpu: Self.skylake) == "avx512/fp32 on skx")
        #expect(KernelPath.avx512bf16.summary(bf16Requested: false, cpu: Self.zen5) == "avx512bf16/fp32 on zen")
    }

    /// On the AVX512-BF16 path a Winograd-eligible 3x3 layer runs `.bf16` as fp32 Winograd and
    /// is not chained; a 1x1 layer is chained but alone stays fp32; a 5x5 layer runs bf16 alone;
    /// forcing the kernel still gives the 3x3 layer bf16.
    @Test(.enabled(if: KernelPath.avx512bf16.isSupported(by: .current), "this CPU has no AVX512-BF16"))
    func avx512BF16LeavesWinogradLayersToFP32() throws {
        let c = 64
        let p3 = ConvolutionParameters(inputChannels: c, outputChannels: c, kernel: (3, 3), padding: Padding(1))
        let p1 = ConvolutionParameters(inputChannels: c, outputChannels: c, kernel: (1, 1))
        let w3 = randomTensor([c, c, 3, 3], seed: 1, in: -0.1...0.1), w1 = randomTensor([c, c, 1, 1], seed: 2, in: -0.1...0.1)
        let conv3 = try Conv2D(weights: w3, bias: nil, parameters: p3, activation: .relu, path: .avx512bf16)
        let conv1 = try Conv2D(weights: w1, bias: nil, parameters: p1, activation: .relu, path: .avx512bf16)
        #expect(conv3.runsWinograd && !conv1.runsWinograd)
        #expect(ConvolutionChain.supports(conv3) && !ConvolutionChain.accepts(conv3) && !conv3.hasBF16Path)
        #expect(ConvolutionChain.accepts(conv1) && !ConvolutionChain.accepts(conv1, chained: false) && !conv1.hasBF16Path)
        let p5 = ConvolutionParameters(inputChannels: c, outputChannels: c, kernel: (5, 5), padding: Padding(2))
        let conv5 = try Conv2D(weights: randomTensor([c, c, 5, 5], seed: 4, in: -0.1...0.1), bias: nil, parameters: p5,
                               activation: .relu, path: .avx512bf16)
        #expect(ConvolutionChain.accepts(conv5, chained: false) && conv5.hasBF16Path)
        let forced = try Conv2D(weights: w3, bias: nil, parameters: p3, activation: .relu, path: .avx512bf16,
                                forceBF16Kernel: true)
        #expect(forced.hasBF16Path)
        // `.bf16` on the unforced 3x3 layer is exactly its fp32 result.
        let x = randomTensor(Shape(n: 1, c: c, h: 7, w: 10), seed: 3)
        #expect(try conv3(x, precision: .bf16, pool: testPool).toArray() == conv3(x, precision: .fp32, pool: testPool).toArray())
    }

    @Test func currentPathRunsOnThisCPU() {
        #expect(KernelPath.current.isSupported(by: .current))
        #expect(KernelPath.detected == KernelPath.best(for: .current))
        #expect(!CPUFeatures.current.modelName.isEmpty)
    }
}
