import Foundation
import Testing
@testable import ModelFormats

/// The executor's own fast paths (whole-image GEMM convolution, fused attention, fused
/// normalization chains) against the plain operator implementations, on random shapes and values.
@Suite struct ONNXFusedKernelTests {
    /// Deterministic values in [-1, 1).
    struct Noise {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        }
        mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
        mutating func int(_ range: ClosedRange<Int>) -> Int {
            _ = next()
            return range.lowerBound + Int((state >> 33) % UInt64(range.count))
        }
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    @Test func wholeImageGEMMConvolutionMatchesReference() throws {
        var rng = Noise(state: 7)
        for trial in 0..<60 {
            let ic = rng.int(1...40), oc = rng.int(1...40)
            let k = [1, 3, 5][rng.int(0...2)]
            let h = rng.int(1...20), w = rng.int(1...20)
            let stride = rng.int(1...2), dilation = rng.int(1...2), pad = rng.int(0...2)
            guard (h + 2 * pad - dilation * (k - 1) - 1) >= 0, (w + 2 * pad - dilation * (k - 1) - 1) >= 0 else { continue }
            let attrs = ConvAttributes(kernel: [k, k], strides: [stride, stride], dilations: [dilation, dilation],
                                       pads: [pad, pad, pad, pad], outputPadding: nil, group: 1, autoPad: "NOTSET")
            let x = ONNXTensor(shape: [1, ic, h, w], floats: rng.floats(ic * h * w))
            let wt = ONNXTensor(shape: [oc, ic, k, k], floats: rng.floats(oc * ic * k * k))
            let b = ONNXTensor(shape: [oc], floats: rng.floats(oc))
            let want = try ONNXConv.conv(x, wt, b, attrs)
            let g = try ONNXConv.geometry(attrs, input: x.shape, kernel: (k, k))
            let gemm = ONNXConvGEMM(weights: wt.floats, bias: b.floats, inputChannels: ic, outputChannels: oc, geometry: g)
            let oh = want.shape[2], ow = want.shape[3]
            let residual = rng.floats(oc * oh * ow)
            for accumulate in [false, true] {
                var out = accumulate ? residual : [Float](repeating: .nan, count: oc * oh * ow)
                x.floats.withUnsafeBufferPointer { px in
                    out.withUnsafeMutableBufferPointer { po in
                        gemm.run(px.baseAddress!, h: h, w: w, po.baseAddress!, oh: oh, ow: ow, accumulate: accumulate,
                                 pool: ONNXAccelerated.pool)
                    }
                }
                let expected = accumulate ? zip(want.floats, residual).map { $0 + $1 } : want.floats
                let diff = Self.maxDifference(out, expected)
                #expect(diff <= 1e-4, "trial \(trial): ic \(ic) oc \(oc) k \(k) \(h)x\(w) s\(stride) d\(dilation) p\(pad) acc \(accumulate): \(diff)")
            }
        }
    }

    @Test func fusedAttentionMatchesEinsumSoftmaxEinsum() throws {
        var rng = Noise(state: 11)
        let scores = try EinsumEquation("bct,bcs->bts"), weighted = try EinsumEquation("bts,bcs->bct")
        for trial in 0..<30 {
            let heads = rng.int(1...3), c = rng.int(1...40), cv = rng.int(1...40)
            let t = rng.int(1...130), s = rng.int(1...130)
            let q = ONNXTensor(shape: [heads, c, t], floats: rng.floats(heads * c * t).map { $0 * 2 })
            let k = ONNXTensor(shape: [heads, c, s], floats: rng.floats(heads * c * s).map { $0 * 2 })
            let v = ONNXTensor(shape: [heads, cv, s], floats: rng.floats(heads * cv * s))
            let p = try ONNXNormalization.softmax(try scores.evaluate([q, k]), axis: -1, flattened: false)
            let want = try weighted.evaluate([p, v])
            let got = try ONNXAttention.run(q: q, k: k, v: v)
            #expect(got.shape == want.shape)
            let diff = Self.maxDifference(got.floats, want.floats)
            #expect(diff <= 1e-5, "trial \(trial): heads \(heads) c \(c) cv \(cv) t \(t) s \(s): \(diff)")
        }
    }

    /// A graph of Einsum -> Softmax -> Einsum is planned as one attention step and gives the
    /// operators' result.
    @Test func attentionPatternIsFusedInThePlan() throws {
        func node(_ op: String, _ ins: [String], _ outs: [String], _ attrs: [ONNX.AttributeProto] = []) -> ONNX.NodeProto {
            var n = ONNX.NodeProto()
            n.name = outs[0] + "_node"
            n.opType = op
            n.inputs = ins
            n.outputs = outs
            n.attributes = attrs
            return n
        }
        func equation(_ e: String) -> ONNX.AttributeProto {
            var a = ONNX.AttributeProto()
            a.name = "equation"
            a.kind = .string
            a.s = Array(e.utf8)
            return a
        }
        var axis = ONNX.AttributeProto()
        axis.name = "axis"
        axis.kind = .int
        axis.i = -1
        var m = ONNX.ModelProto()
        m.opsetImport = ["": 18]
        m.graph.inputs = ["q", "k", "v"].map { name in
            var x = ONNX.ValueInfoProto()
            x.name = name
            x.elementType = 1
            return x
        }
        var y = ONNX.ValueInfoProto()
        y.name = "o"
        m.graph.outputs = [y]
        m.graph.nodes = [
            node("Einsum", ["q", "k"], ["scores"], [equation("bct,bcs->bts")]),
            node("Softmax", ["scores"], ["p"], [axis]),
            node("Einsum", ["p", "v"], ["o"], [equation("bts,bcs->bct")]),
        ]
        let model = try ONNXModel(model: m)
        let plan = try model.plan(inputShapes: ["q": [2, 8, 70], "k": [2, 8, 50], "v": [2, 5, 50]])
        #expect(plan.stepCount == 1)
        var rng = Noise(state: 3)
        let q = ONNXTensor(shape: [2, 8, 70], floats: rng.floats(2 * 8 * 70))
        let k = ONNXTensor(shape: [2, 8, 50], floats: rng.floats(2 * 8 * 50))
        let v = ONNXTensor(shape: [2, 5, 50], floats: rng.floats(2 * 5 * 50))
        var ops: [String] = []
        let got = try #require(try plan.run(["q": q, "k": k, "v": v]) { op, _ in ops.append(op) }["o"])
        #expect(ops == ["Attention"])
        let p = try ONNXNormalization.softmax(try EinsumEquation("bct,bcs->bts").evaluate([q, k]), axis: -1, flattened: false)
        let want = try EinsumEquation("bts,bcs->bct").evaluate([p, v])
        #expect(got.shape == [2, 5, 70])
        #expect(Self.maxDifference(got.floats, want.floats) <= 1e-5)
    }
}
