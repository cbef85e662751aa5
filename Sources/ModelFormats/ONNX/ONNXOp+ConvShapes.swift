/// Output shapes of the convolutions and pooling, for shape inference without running them.
extension ONNXConv {
    static func convShape(_ x: [Int], _ w: [Int], _ a: ConvAttributes) throws -> [Int] {
        let spatial = x.count - 2
        guard spatial == 1 || spatial == 2, w.count == x.count else { throw ONNXRuntimeError("weights \(w) for input \(x)") }
        let h = spatial == 2 ? x[2] : 1, wd = x[x.count - 1]
        let kh = spatial == 2 ? w[2] : 1, kw = w[w.count - 1]
        guard a.group > 0, x[1] == w[1] * a.group, w[0] % a.group == 0 else {
            throw ONNXRuntimeError("input channels \(x[1]), weights \(w), group \(a.group) do not fit")
        }
        let g = try geometry(a, input: x, kernel: (kh, kw))
        let oh = (h + g.pads.0 + g.pads.2 - g.dilation.0 * (kh - 1) - 1) / g.stride.0 + 1
        let ow = (wd + g.pads.1 + g.pads.3 - g.dilation.1 * (kw - 1) - 1) / g.stride.1 + 1
        guard oh > 0, ow > 0 else { throw ONNXRuntimeError("input \(x) smaller than kernel \(kh)x\(kw)") }
        return spatial == 2 ? [x[0], w[0], oh, ow] : [x[0], w[0], ow]
    }

    static func convTransposeShape(_ x: [Int], _ w: [Int], _ a: ConvAttributes) throws -> [Int] {
        let spatial = x.count - 2
        guard spatial == 1 || spatial == 2, w.count == x.count else { throw ONNXRuntimeError("weights \(w) for input \(x)") }
        let h = spatial == 2 ? x[2] : 1, wd = x[x.count - 1]
        let kh = spatial == 2 ? w[2] : 1, kw = w[w.count - 1]
        guard a.group > 0, w[0] == x[1], x[1] % a.group == 0 else {
            throw ONNXRuntimeError("input channels \(x[1]), weights \(w), group \(a.group) do not fit")
        }
        let g = try geometry(a, input: x, kernel: (kh, kw))
        let op = try pair(a.outputPadding, 0, spatial: spatial)
        let oh = (h - 1) * g.stride.0 - g.pads.0 - g.pads.2 + g.dilation.0 * (kh - 1) + 1 + op.0
        let ow = (wd - 1) * g.stride.1 - g.pads.1 - g.pads.3 + g.dilation.1 * (kw - 1) + 1 + op.1
        guard oh > 0, ow > 0 else { throw ONNXRuntimeError("empty output") }
        let oc = w[1] * a.group
        return spatial == 2 ? [x[0], oc, oh, ow] : [x[0], oc, ow]
    }

    static func poolShape(_ x: [Int], _ p: PoolAttributes) throws -> [Int] {
        let spatial = x.count - 2
        guard spatial == 1 || spatial == 2 else { throw ONNXRuntimeError("only 1-D and 2-D pooling, input \(x)") }
        if p.global { return [x[0], x[1]] + [Int](repeating: 1, count: spatial) }
        let h = spatial == 2 ? x[2] : 1, w = x[x.count - 1]
        let k = try pair(p.kernel, 1, spatial: spatial)
        let conv = ConvAttributes(kernel: p.kernel, strides: p.strides, dilations: p.dilations, pads: p.pads,
                                  outputPadding: nil, group: 1, autoPad: p.autoPad)
        let g = try geometry(conv, input: x, kernel: k)
        let oh = poolExtent(h, g.pads.0, g.pads.2, k.0, g.stride.0, g.dilation.0, ceil: p.ceilMode)
        let ow = poolExtent(w, g.pads.1, g.pads.3, k.1, g.stride.1, g.dilation.1, ceil: p.ceilMode)
        guard oh > 0, ow > 0 else { throw ONNXRuntimeError("input \(x) smaller than the window") }
        return spatial == 2 ? [x[0], x[1], oh, ow] : [x[0], x[1], ow]
    }

    /// Output extent of a pooling window; with `ceil` the last window must start inside the
    /// input or its begin padding.
    static func poolExtent(_ n: Int, _ pb: Int, _ pe: Int, _ k: Int, _ s: Int, _ d: Int, ceil: Bool) -> Int {
        let span = n + pb + pe - ((k - 1) * d + 1)
        var o = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (o - 1) * s >= n + pb { o -= 1 }
        return o
    }
}
