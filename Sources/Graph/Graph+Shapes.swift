import Kernels
import Tensor

extension Graph {
    /// Infers every value's shape from the input shapes (constants have their own).
    /// - Parameter inputShapes: one shape per graph input (NCHW for the image ops).
    /// - Returns: shapes indexed by value (nil for values no node produces).
    /// - Throws: ``GraphError`` naming the node and the shapes that do not fit.
    public func inferShapes(_ inputShapes: [Shape]) throws -> [Shape?] {
        guard inputShapes.count == inputs.count else {
            throw GraphError(.invalidInput, "graph takes \(inputs.count) inputs, got \(inputShapes.count)")
        }
        var shapes = [Shape?](repeating: nil, count: valueNames.count)
        for (v, t) in constants { shapes[v.index] = t.shape }
        for (v, s) in zip(inputs, inputShapes) {
            guard Self.boundedCount(s.dims) != nil else {
                throw GraphError(.invalidInput, "input \(valueNames[v.index]) of shape \(s) is too large")
            }
            shapes[v.index] = s
        }
        for node in nodes {
            let ins = try node.inputs.map { v -> Shape in
                guard let s = shapes[v.index] else {
                    throw GraphError(.invalidGraph, "node \(node.name) reads \(valueNames[v.index]) before it is produced")
                }
                return s
            }
            let out = try node.outputShape(ins)
            // A hostile model must fail here, not when the executor allocates its buffers.
            guard Self.boundedCount(out.dims) != nil else {
                throw GraphError(.shapeMismatch, "\(node.op.name) \(node.name): output \(out) exceeds \(Self.maximumElements) elements")
            }
            shapes[node.output.index] = out
        }
        return shapes
    }
}

extension Node {
    /// The output shape for these input shapes.
    /// - Throws: ``GraphError`` `.shapeMismatch` naming this node.
    public func outputShape(_ ins: [Shape]) throws -> Shape {
        func fail(_ why: String) -> GraphError {
            GraphError(.shapeMismatch, "\(op.name) \(name): \(why) (inputs \(ins.map(\.description).joined(separator: ", ")))")
        }
        func need(_ n: Int) throws {
            guard ins.count == n else { throw fail("expects \(n) inputs") }
        }
        let a = ins.first ?? Shape([0, 0, 0, 0])
        switch op {
        case .convolution(let conv):
            let residuals = conv.residual == nil ? 0 : (conv.residual?.secondScale == nil ? 1 : 2)
            try need(1 + residuals)
            guard a.c == conv.inChannels else { throw fail("expects \(conv.inChannels) input channels") }
            let hp = a.h + conv.padding.top + conv.padding.bottom - conv.dilation.h * (conv.kernel.h - 1) - 1
            let wp = a.w + conv.padding.left + conv.padding.right - conv.dilation.w * (conv.kernel.w - 1) - 1
            guard hp >= 0, wp >= 0 else { throw fail("input smaller than the \(conv.kernel.h)x\(conv.kernel.w) kernel") }
            let out = Shape(n: a.n, c: conv.outChannels, h: hp / conv.stride.h + 1, w: wp / conv.stride.w + 1)
            if ins.dropFirst().contains(where: { $0 != out }) { throw fail("residuals must have the output shape \(out)") }
            return out
        case .deconvolution(let d):
            try need(1)
            guard a.c == d.inChannels else { throw fail("expects \(d.inChannels) input channels") }
            let h = (a.h - 1) * d.stride.h + d.dilation.h * (d.kernel.h - 1) + 1 - d.padding.top - d.padding.bottom + d.outputPadding.h
            let w = (a.w - 1) * d.stride.w + d.dilation.w * (d.kernel.w - 1) + 1 - d.padding.left - d.padding.right + d.outputPadding.w
            guard h > 0, w > 0 else { throw fail("empty output") }
            return Shape(n: a.n, c: d.outChannels, h: h, w: w)
        case .activation(let act):
            try need(1)
            if case .prelu(let s) = act, s.count != 1, s.count != a.c { throw fail("\(s.count) slopes for \(a.c) channels") }
            return a
        case .pixelShuffle(let r):
            try need(1)
            guard a.c % (r * r) == 0 else { throw fail("channels not divisible by \(r * r)") }
            return Shape(n: a.n, c: a.c / (r * r), h: a.h * r, w: a.w * r)
        case .shuffleAdd(let r):
            try need(2)
            guard a.c % (r * r) == 0 else { throw fail("channels not divisible by \(r * r)") }
            let out = Shape(n: a.n, c: a.c / (r * r), h: a.h * r, w: a.w * r)
            guard ins[1] == Shape(n: a.n, c: out.c, h: a.h, w: a.w) else { throw fail("residual must be \(out.c)x\(a.h)x\(a.w)") }
            return out
        case .resize(let r):
            // A second input gives the output's spatial size (``GraphBuilder/upsampleNearest(_:_:like:)``).
            if ins.count == 2 { return Shape(n: a.n, c: a.c, h: ins[1].h, w: ins[1].w) }
            try need(1)
            let h = r.outputHeight ?? Int(Float(a.h) * r.scaleH), w = r.outputWidth ?? Int(Float(a.w) * r.scaleW)
            guard h > 0, w > 0 else { throw fail("empty output") }
            return Shape(n: a.n, c: a.c, h: h, w: w)
        case .binary(let kind):
            if case .withScalar = kind { try need(1); return a }
            try need(2)
            let b = ins[1]
            if a == b || b.count == 1 || b == Shape(n: a.n, c: a.c, h: 1, w: 1) { return a }
            if a.count == 1 || a == Shape(n: b.n, c: b.c, h: 1, w: 1) { return b }
            throw fail("shapes do not broadcast")
        case .eltwise(let e):
            guard ins.count >= 2, ins.allSatisfy({ $0 == a }) else { throw fail("needs two or more inputs of one shape") }
            if case .sum(let k) = e, !k.isEmpty, k.count != ins.count { throw fail("\(k.count) coefficients") }
            return a
        case .crop(let c):
            guard ins.count == 1 || ins.count == 2 else { throw fail("expects 1 or 2 inputs") }
            let ref = ins.count == 2 ? ins[1] : nil
            let oc = c.outC ?? (ref?.c ?? (a.c - c.offsetC))
            let oh = c.outH ?? (ref?.h ?? (a.h - c.offsetH))
            let ow = c.outW ?? (ref?.w ?? (a.w - c.offsetW))
            guard c.offsetC >= 0, c.offsetH >= 0, c.offsetW >= 0, oc > 0, oh > 0, ow > 0,
                  c.offsetC + oc <= a.c, c.offsetH + oh <= a.h, c.offsetW + ow <= a.w else {
                throw fail("window \(oc)x\(oh)x\(ow) at (\(c.offsetC),\(c.offsetH),\(c.offsetW)) leaves the input")
            }
            return Shape(n: a.n, c: oc, h: oh, w: ow)
        case .concat:
            guard !ins.isEmpty, ins.allSatisfy({ $0.n == a.n && $0.h == a.h && $0.w == a.w }) else {
                throw fail("inputs differ in batch or spatial size")
            }
            return Shape(n: a.n, c: ins.reduce(0) { $0 + $1.c }, h: a.h, w: a.w)
        case .pooling(let p):
            try need(1)
            if p.global { return Shape(n: a.n, c: a.c, h: 1, w: 1) }
            if p.ceilMode {
                let (h, w) = p.parameters.outputSize(height: a.h, width: a.w)
                guard h > 0, w > 0 else { throw fail("input smaller than the window") }
                return Shape(n: a.n, c: a.c, h: h, w: w)
            }
            let h = (a.h + p.padding.top + p.padding.bottom - p.kernel.h) / p.stride.h + 1
            let w = (a.w + p.padding.left + p.padding.right - p.kernel.w) / p.stride.w + 1
            guard h > 0, w > 0 else { throw fail("input smaller than the window") }
            return Shape(n: a.n, c: a.c, h: h, w: w)
        case .innerProduct(let ip):
            try need(1)
            guard a.c * a.h * a.w == ip.inFeatures else { throw fail("expects \(ip.inFeatures) features per image") }
            return Shape(n: a.n, c: ip.outFeatures, h: 1, w: 1)
        case .channelScale:
            try need(2)
            guard ins[1].count == a.n * a.c else { throw fail("needs one scale per image and channel") }
            return a
        case .matMul, .gemm, .attention, .attentionFeatureMajor, .attentionHeads, .gatedGELU, .softmax, .normalization, .unary, .elementwise, .select, .clip, .gather,
             .concatenate, .slice, .reshape, .transpose, .expand, .reduce, .shapeOf:
            return try tensorOutputShape(ins, fail: fail)
        }
    }
}
