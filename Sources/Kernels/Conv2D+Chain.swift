import CKernels
import Foundation
import Tensor

/// Consecutive bf16 convolutions that hand their activations to each other in bf16, in the
/// layout the bf16 kernels read (zero-bordered NHWC), instead of in f32 NCHW. Runs on AMX tiles
/// or, without AMX, on AVX512-BF16 dot products (``KernelPath``): both kernels read the same
/// buffers and packed weights.
///
/// Run layer by layer in f32 NCHW, every bf16 layer converts its whole input to bf16 and
/// regroups it (a pass over 16 MB for 64 channels at 256²) and writes 16 MB of f32 back; a chain
/// converts its input once, each layer writes half the bytes, already in the next layer's
/// layout, and only the last layer writes f32 NCHW. Numerically it is the same as running each
/// layer at `.bf16` (inputs were rounded to bf16 there too), so the bf16 accuracy bound of
/// ``Conv2D`` holds per layer.
///
/// ```swift
/// let layers = try (0..<16).map { try Conv2D(weights: w[$0], bias: b[$0], parameters: p, activation: .prelu(slopes: s[$0])) }
/// guard layers.allSatisfy(ConvolutionChain.accepts) else { ... }
/// let chain = try ConvolutionChain(layers, weights: w)
/// try chain(x, into: y, pool: pool)
/// ```
///
/// `@unchecked Sendable`: the activation buffers (cached per input size, up to three sizes) are
/// touched only under `lock`, which a call holds from start to end; everything else is immutable.
public final class ConvolutionChain: @unchecked Sendable {
    /// The layers, in order.
    public let layers: [Conv2D]
    /// The kernel family the chain runs on (``KernelPath/amx`` or ``KernelPath/avx512bf16``):
    /// the layers' path.
    public let path: KernelPath
    /// Zero pixels around every activation buffer: the largest padding of any layer.
    let border: Int
    /// Per layer: bf16 weights in B-tile order.
    let packedWeights: [Tensor]
    /// Per layer: PReLU slopes expanded to one per output channel (kept alive for `activations`).
    let slopes: [Tensor?]
    /// Per layer: the C activation (its `slopes` point into `slopes`).
    let activations: [pg_activation]

    private let lock = NSLock()
    /// Activation buffers per image size, most recently used last (at most ``maxSizes``).
    private var cache: [BufferSet] = []
    /// Image sizes whose buffers are kept at once (tiled inference alternates between a full
    /// tile and edge tiles; the executor keeps as many memory plans).
    let maxSizes = 3

    /// Two ping-pong buffers for one image size, and the channel padding each one's contents
    /// were written with (its zero border and padding hold only for that layout; 0: fresh).
    final class BufferSet {
        let h: Int, w: Int
        let buffers: [TensorStorage]
        var layout: [Int32] = [0, 0]

        init(h: Int, w: Int, bytes: Int) {
            self.h = h
            self.w = w
            buffers = [TensorStorage(byteCount: bytes), TensorStorage(byteCount: bytes)]
        }
    }

    /// Whether the chain's kernels can compute a layer: packed for a bf16 path (AMX or
    /// AVX512-BF16); stride 1, dilation 1, one group; padding that keeps the spatial size; at
    /// least 16 input channels (fewer would mostly multiply zero padding); an activation the
    /// kernel's epilogue applies (none, ReLU, leaky ReLU, PReLU, clip). ``init(_:weights:)``
    /// takes any such layers (tests use it to run the kernels on every shape).
    public static func supports(_ conv: Conv2D) -> Bool {
        let p = conv.parameters
        guard conv.path.computesBF16, p.groups == 1, p.strideY == 1, p.strideX == 1,
              p.dilationY == 1, p.dilationX == 1, p.inputChannels >= 16,
              p.padding.top + p.padding.bottom == p.kernelHeight - 1,
              p.padding.left + p.padding.right == p.kernelWidth - 1 else { return false }
        switch conv.activation {
        case .none, .relu, .leakyReLU, .prelu, .clip: return true
        case .sigmoid, .silu: return false
        }
    }

    /// Whether a `.bf16` layer should run on the chain's kernels: ``supports(_:)`` and the bf16
    /// kernel is expected to beat fp32 for it
    /// (``KernelPath/bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)``: every such layer
    /// with AMX; with AVX512-BF16 only, not the layers fp32 runs with Winograd, and 1x1 layers
    /// only inside a multi-layer chain). Graph executors chain only these (`chained: true`);
    /// ``Conv2D`` runs a layer alone on them where `chained: false` accepts it.
    public static func accepts(_ conv: Conv2D, chained: Bool = true) -> Bool {
        let p = conv.parameters
        return supports(conv) && conv.path.bf16KernelBeatsFP32(
            winogradEligible: conv.runsWinograd, pointwise: p.kernelHeight == 1 && p.kernelWidth == 1, chained: chained)
    }

    /// Packs the layers' weights for the chain's kernel.
    /// - Parameters:
    ///   - layers: at least one layer, each supported by ``supports(_:)``, each reading the previous
    ///     one's output channels.
    ///   - weights: each layer's weights as given to its ``Conv2D`` (any dtype; a layer keeps only
    ///     its packed forms, so the chain packs its own from these).
    /// - Throws: ``KernelError`` when a layer is not accepted, the channels do not line up or a
    ///   weight count does not fit its layer.
    public init(_ layers: [Conv2D], weights: [Tensor]) throws {
        guard !layers.isEmpty else { throw KernelError(.invalidParameter, "ConvolutionChain: no layers") }
        guard weights.count == layers.count else {
            throw KernelError(.shapeMismatch, "ConvolutionChain: \(weights.count) weight tensors for \(layers.count) layers")
        }
        for (i, l) in layers.enumerated() {
            guard Self.supports(l) else {
                throw KernelError(.invalidParameter, "ConvolutionChain: layer \(i) (\(l.parameters), \(l.activation)) cannot be chained here")
            }
            if l.path != layers[0].path {
                throw KernelError(.invalidParameter, "ConvolutionChain: layer \(i) is packed for \(l.path), layer 0 for \(layers[0].path)")
            }
            if i > 0, layers[i - 1].parameters.outputChannels != l.parameters.inputChannels {
                throw KernelError(.shapeMismatch,
                    "ConvolutionChain: layer \(i) reads \(l.parameters.inputChannels) channels, layer \(i - 1) writes \(layers[i - 1].parameters.outputChannels)")
            }
            let p = l.parameters
            guard weights[i].count == p.outputChannels * p.inputChannels * p.kernelHeight * p.kernelWidth else {
                throw KernelError(.shapeMismatch, "ConvolutionChain: layer \(i) weights \(weights[i].shape) for \(p)")
            }
        }
        self.layers = layers
        path = layers[0].path
        border = layers.map { max($0.parameters.padding.top, $0.parameters.padding.left,
                                  $0.parameters.padding.bottom, $0.parameters.padding.right) }.max()!
        packedWeights = zip(layers, weights).map { l, given in
            let w = given.dtype == .f32 ? given : given.converted(to: .f32)
            let p = l.parameters
            let oc = Int32(p.outputChannels), ic = Int32(p.inputChannels)
            let kh = Int32(p.kernelHeight), kw = Int32(p.kernelWidth)
            let t = Tensor(zeros: [pg_amx_nhwc_weight_size(oc, ic, kh, kw)], dtype: .bf16)
            pg_amx_nhwc_pack_weights(w.floatPointer, oc, ic, kh, kw, t.halfPointer)
            return t
        }
        var slopes: [Tensor?] = []
        var activations: [pg_activation] = []
        for l in layers {
            var a = pg_activation(kind: Int32(PG_ACT_NONE), alpha: 0, beta: 0, slopes: nil)
            var s: Tensor?
            switch l.activation {
            case .none, .sigmoid, .silu: break
            case .relu: a.kind = Int32(PG_ACT_RELU)
            case .leakyReLU(let k): a.kind = Int32(PG_ACT_LEAKY); a.alpha = k
            case .clip(let lo, let hi): a.kind = Int32(PG_ACT_CLIP); a.alpha = lo; a.beta = hi
            case .prelu(let v):
                let n = l.parameters.outputChannels
                let t = Tensor(shape: [n], values: v.count == 1 ? [Float](repeating: v[0], count: n) : v)
                a.kind = Int32(PG_ACT_PRELU)
                a.slopes = UnsafePointer(t.floatPointer)
                s = t
            }
            slopes.append(s)
            activations.append(a)
        }
        self.slopes = slopes
        self.activations = activations
    }

    /// Bytes of the chain's own packed weights (its activation buffers come per image size).
    public var weightBytes: Int { packedWeights.reduce(0) { $0 + $1.count * 2 } }

    /// The output shape for an NCHW input shape (the input's size, the last layer's channels).
    /// - Throws: ``KernelError`` when the input's channels differ from the first layer's.
    public func outputShape(for input: Shape) throws -> Shape {
        var s = input
        for l in layers { s = try l.outputShape(for: s) }
        return s
    }

    /// Runs the chain into a new tensor.
    /// - Throws: ``KernelError`` on shape mismatch.
    public func callAsFunction(_ input: Tensor, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: try outputShape(for: input.shape))
        try self(input, into: out, pool: pool)
        return out
    }

    /// Runs the chain: f32 NCHW `[N, C, H, W]` in, f32 NCHW out. The output may share memory
    /// with the input (a memory plan may hand the chain's output the buffer of its input, which
    /// nothing reads afterwards).
    /// - Throws: ``KernelError`` when `output` does not have ``outputShape(for:)``'s element count.
    public func callAsFunction(_ input: Tensor, into output: Tensor, pool: ComputePool) throws {
        let shape = try outputShape(for: input.shape)
        guard output.count == shape.count, output.dtype == .f32, input.dtype == .f32 else {
            throw KernelError(.shapeMismatch, "ConvolutionChain: output \(output) for expected \(shape) f32 (input \(input))")
        }
        // Each image is read completely (converted to bf16) before its output is written, so one
        // image in place is safe; with a batch, image k's output could overwrite image k+1's input.
        let inStart = UInt(bitPattern: input.rawPointer), outStart = UInt(bitPattern: output.rawPointer)
        if shape.n > 1, inStart < outStart + UInt(output.count * 4), outStart < inStart + UInt(input.count * 4) {
            return try self(input.copy(), into: output, pool: pool)
        }
        let h = input.shape.h, w = input.shape.w, c = input.shape.c
        lock.lock()
        defer { lock.unlock() }
        let set = buffers(h: h, w: w)
        let buffers = set.buffers
        for n in 0..<shape.n {
            let src = input.floatPointer + n * c * h * w
            let dst = output.floatPointer + n * shape.c * h * w
            var layout = makeLayout(channels: c, h: h, w: w)
            use(set, 0, for: layout)
            let first = buffers[0].pointer.assumingMemoryBound(to: UInt16.self)
            withUnsafePointer(to: layout) { lp in
                pool.parallelFor(h, minimumPerPart: 8) { r in
                    pg_nhwc_pack(src, Int32(c), Int32(h), Int32(w), lp, first, Int32(r.lowerBound), Int32(r.upperBound))
                }
            }
            for (i, l) in layers.enumerated() {
                let p = l.parameters
                let last = i == layers.count - 1
                let from = buffers[i % 2].pointer.assumingMemoryBound(to: UInt16.self)
                let to = buffers[(i + 1) % 2].pointer.assumingMemoryBound(to: UInt16.self)
                let outLayout = makeLayout(channels: p.outputChannels, h: h, w: w)
                if !last { use(set, (i + 1) % 2, for: outLayout) }
                let weights = UnsafePointer(packedWeights[i].halfPointer)
                let bias: UnsafePointer<Float>? = l.bias.map { UnsafePointer($0.floatPointer) }
                var counters = [Int32](repeating: 0, count: pool.threadCount)
                let kernel = path == .amx ? pg_amx_nhwc_conv : pg_bf16_nhwc_conv
                withUnsafePointer(to: layout) { ip in
                    withUnsafePointer(to: outLayout) { op in
                        withUnsafePointer(to: activations[i]) { act in
                            counters.withUnsafeMutableBufferPointer { cp in
                                let counter = cp.baseAddress
                                pool.run { ith, nth in
                                    kernel(from, ip, Int32(h), Int32(w), Int32(p.padding.top), Int32(p.padding.left),
                                                     weights, Int32(p.outputChannels), Int32(p.kernelHeight), Int32(p.kernelWidth),
                                                     bias, act, last ? nil : to, last ? nil : op, last ? dst : nil,
                                                     counter, Int32(ith), Int32(nth))
                                }
                            }
                        }
                    }
                }
                layout = outLayout
            }
        }
    }

    private func makeLayout(channels: Int, h: Int, w: Int) -> pg_nhwc_layout {
        var l = pg_nhwc_layout()
        pg_nhwc_layout_make(Int32(channels), Int32(h), Int32(w), Int32(border), &l)
        return l
    }

    /// The activation buffers for an h x w image, allocated zeroed on first use of that size.
    private func buffers(h: Int, w: Int) -> BufferSet {
        if let i = cache.firstIndex(where: { $0.h == h && $0.w == w }) {
            let set = cache.remove(at: i)
            cache.append(set)
            return set
        }
        var channels = layers[0].parameters.inputChannels
        for l in layers.dropLast() { channels = max(channels, l.parameters.outputChannels) }
        var largest = makeLayout(channels: channels, h: h, w: w)
        let set = BufferSet(h: h, w: w, bytes: pg_nhwc_size(&largest) * 2)
        cache.append(set)
        if cache.count > maxSizes { cache.removeFirst() }
        return set
    }

    /// Makes buffer `k` of `set` ready to be written with `layout`: kernels write only the image,
    /// so a buffer last written with another channel padding is cleared to restore the zeros.
    private func use(_ set: BufferSet, _ k: Int, for layout: pg_nhwc_layout) {
        guard set.layout[k] != layout.channels_padded else { return }
        if set.layout[k] != 0 { memset(set.buffers[k].pointer, 0, set.buffers[k].byteCount) }
        set.layout[k] = layout.channels_padded
    }
}
