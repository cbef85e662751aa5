import Graph
import Kernels
import Tensor

/// The layers with weights and geometry: convolutions, pooling, resizing.
extension ONNXGraphBuilder {
    /// Conv (1-D as a 2-D convolution of height 1) with constant weights and bias.
    mutating func convolution(_ a: ConvAttributes, node: ONNXModel.ImportedNode, x: ValueID, w: ValueID, b: ValueID?,
                              unsupported: (String) -> ModelFormatError) throws -> ValueID {
        let xs = shapes[x]?.dims ?? []
        guard let wt = try constant(w), xs.count == 3 || xs.count == 4, wt.shape.rank == xs.count else {
            throw unsupported("weights must be constant and the input 1-D or 2-D")
        }
        let bias = try b.map { v -> [Float] in
            guard let t = try constant(v) else { throw unsupported("bias must be constant") }
            return t.toArray()
        } ?? []
        let ws = wt.shape.dims
        let kernel = xs.count == 4 ? (ws[2], ws[3]) : (1, ws[2])
        let g = try ONNXConv.geometry(a, input: xs, kernel: kernel)
        guard a.group > 0, xs[1] == ws[1] * a.group, ws[0] % a.group == 0 else {
            throw ModelFormatError(.malformed, "onnx: Conv '\(node.name)': input channels \(xs[1]), weights \(ws), group \(a.group) do not fit")
        }
        let conv = Convolution(
            outChannels: ws[0], inChannels: xs[1], kernel: kernel, stride: (g.stride.0, g.stride.1),
            dilation: (g.dilation.0, g.dilation.1), padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3),
            groups: a.group, weights: wt.toArray(), bias: bias)
        return try planar(xs, node: node) { b, input in try b.emit(.convolution(conv), [input], name: node.name) }
    }

    /// ConvTranspose with constant weights.
    mutating func deconvolution(_ a: ConvAttributes, node: ONNXModel.ImportedNode, x: ValueID, w: ValueID, b: ValueID?,
                                unsupported: (String) -> ModelFormatError) throws -> ValueID {
        let xs = shapes[x]?.dims ?? []
        guard let wt = try constant(w), xs.count == 3 || xs.count == 4, wt.shape.rank == xs.count else {
            throw unsupported("weights must be constant, the input 1-D or 2-D")
        }
        let bias = try b.map { v -> [Float] in
            guard let t = try constant(v) else { throw unsupported("bias must be constant") }
            return t.toArray()
        } ?? []
        let ws = wt.shape.dims
        let groups = a.group
        // ONNX stores (in, out/groups, kh, kw).
        guard groups > 0, ws[0] == xs[1], ws[0] % groups == 0 else {
            throw ModelFormatError(.malformed, "onnx: ConvTranspose '\(node.name)': weights \(ws), group \(groups) for input \(xs)")
        }
        let (ic, ocg) = (ws[0], ws[1])
        let icg = ic / groups, oc = ocg * groups
        let kernel = xs.count == 4 ? (ws[2], ws[3]) : (1, ws[2])
        let g = try ONNXConv.geometry(a, input: xs, kernel: kernel)
        let op = try ONNXConv.pair(a.outputPadding, 0, spatial: xs.count - 2)
        // The graph's deconvolution takes (out, in/groups, kh, kw): transpose within each group.
        let plane = kernel.0 * kernel.1
        let src = wt.toArray()
        var weights = [Float](repeating: 0, count: src.count)
        for gi in 0..<groups {
            for i in 0..<icg {
                for o in 0..<ocg {
                    let from = ((gi * icg + i) * ocg + o) * plane, to = ((gi * ocg + o) * icg + i) * plane
                    for k in 0..<plane { weights[to + k] = src[from + k] }
                }
            }
        }
        let deconv = Deconvolution(
            outChannels: oc, inChannels: ic, kernel: kernel, stride: (g.stride.0, g.stride.1), dilation: (g.dilation.0, g.dilation.1),
            padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3), outputPadding: (op.0, op.1),
            groups: groups, weights: weights, bias: bias)
        return try planar(xs, node: node) { b, input in try b.emit(.deconvolution(deconv), [input], name: node.name) }
    }

    /// Max and average pooling as the graph's pooling supports it: no ceil mode, no dilation,
    /// and padded averages only where no window reaches into the padding.
    mutating func pool(_ p: PoolAttributes, node: ONNXModel.ImportedNode, x: ValueID,
                       unsupported: (String) -> ModelFormatError) throws -> ValueID {
        let xs = shapes[x]?.dims ?? []
        guard xs.count == 3 || xs.count == 4 else { throw unsupported("input \(xs) is not 1-D or 2-D") }
        let kind: Pooling.Kind = p.isMax ? .max : .average
        if p.global {
            return try planar(xs, node: node) { b, input in try b.emit(.pooling(Pooling(kind: kind, global: true)), [input], name: node.name) }
        }
        let k = try ONNXConv.pair(p.kernel, 1, spatial: xs.count - 2)
        let conv = ConvAttributes(kernel: p.kernel, strides: p.strides, dilations: p.dilations, pads: p.pads,
                                  outputPadding: nil, group: 1, autoPad: p.autoPad)
        let g = try ONNXConv.geometry(conv, input: xs, kernel: k)
        guard g.dilation == (1, 1) else { throw unsupported("dilation") }
        let pooling = Pooling(kind: kind, global: false, kernel: k, stride: g.stride,
                              padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3),
                              ceilMode: p.ceilMode, countIncludePad: p.countIncludePad)
        return try planar(xs, node: node) { b, input in try b.emit(.pooling(pooling), [input], name: node.name) }
    }

    /// Resize of the two trailing dimensions with every ONNX sampling convention (nearest
    /// rounding, linear, cubic coefficient and `exclude_outside`, each coordinate mode) on the
    /// engine's one resize kernel. Given scales are divided by as given (as onnxruntime);
    /// given sizes sample at `out / in`.
    mutating func resize(_ r: ResizeAttributes, node: ONNXModel.ImportedNode, x: ValueID, scales: [Float]?, sizes: [Int]?,
                         unsupported: (String) -> ModelFormatError) throws -> ValueID {
        let xs = shapes[x]?.dims ?? []
        guard xs.count == 4 else { throw unsupported("input \(xs) is not NCHW") }
        let mode: ResizeMode
        switch r.mode {
        case "nearest": mode = .nearest
        case "linear", "bilinear": mode = .bilinear
        case "cubic", "bicubic": mode = .bicubic
        default: throw unsupported("resize mode \(r.mode)")
        }
        guard ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"].contains(r.coordinateMode) else {
            throw unsupported("coordinate mode \(r.coordinateMode)")
        }
        let out: [Int]
        var factors: (Float, Float)?
        if let sizes, !sizes.isEmpty {
            out = try ONNXResize.outputShape(xs, scales: nil, sizes: sizes)
        } else if let scales, !scales.isEmpty {
            out = try ONNXResize.outputShape(xs, scales: scales, sizes: nil)
            factors = (scales[2], scales[3])
        } else {
            throw unsupported("Resize needs constant scales or sizes")
        }
        guard out[0] == xs[0], out[1] == xs[1], out[2] > 0, out[3] > 0, xs[2] > 0, xs[3] > 0 else {
            throw unsupported("resizing batch or channels, or an empty image \(xs) → \(out)")
        }
        let scale = factors ?? (Float(out[2]) / Float(xs[2]), Float(out[3]) / Float(xs[3]))
        let options = ResizeOptions(
            mode: mode, coordinates: ONNXResize.coordinates(r.coordinateMode), outputScale: (scale.0, scale.1),
            nearestRounding: ONNXResize.rounding(r.nearestMode), cubicCoefficient: r.cubicA, excludeOutside: r.excludeOutside)
        let op = Op.resize(Resize(mode: mode, scaleH: scale.0, scaleW: scale.1, options: options,
                                  outputHeight: out[2], outputWidth: out[3]))
        return try emit(op, [x], name: node.name)
    }

    /// Runs an NCHW layer on a 1-D `[N, C, L]` input through `[N, C, 1, L]` views.
    private mutating func planar(_ xs: [Int], node: ONNXModel.ImportedNode,
                                 _ body: (inout ONNXGraphBuilder, ValueID) throws -> ValueID) throws -> ValueID {
        guard let x = ids[node.inputs[0]] else { throw ModelFormatError(.malformed, "onnx: \(node.opType) '\(node.name)': no input") }
        if xs.count == 4 { return try body(&self, x) }
        let planar = try emit(.reshape([xs[0], xs[1], 1, xs[2]]), [x], name: node.name + "/2d")
        let y = try body(&self, planar)
        let ys = shapes[y]!.dims
        return try emit(.reshape([ys[0], ys[1], ys[3]]), [y], name: node.name + "/1d")
    }
}
