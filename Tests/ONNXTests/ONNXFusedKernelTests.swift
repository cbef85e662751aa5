import Foundation
import Kernels
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

    /// The threads the kernels run on (two, so parallel splits are exercised).
    static let pool = ComputePool(threads: 2)

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    @Test func wholeImageGEMMConvolutionMatchesReference() throws {
        var rng = Noise(state: 7)
        for trial in 0..<80 {
            let ic = rng.int(1...40), oc = rng.int(1...40)
            let k = [1, 3, 5][rng.int(0...2)]
            let h = rng.int(1...20), w = rng.int(1...20)
            var stride = rng.int(1...2), dilation = rng.int(1...2)
            if k == 1 && trial % 3 == 0 { (stride, dilation) = (1, 1) }
            // Every third 1x1 layer is pointwise (stride 1, no padding: the input is read in place).
            let pointwise = k == 1 && trial % 3 == 0
            let pads = pointwise ? [0, 0, 0, 0] : (0..<4).map { _ in rng.int(0...2) }
            let pad = pads.map(String.init).joined(separator: ",")
            guard (h + pads[0] + pads[2] - dilation * (k - 1) - 1) >= 0, (w + pads[1] + pads[3] - dilation * (k - 1) - 1) >= 0 else { continue }
            let attrs = ConvAttributes(kernel: [k, k], strides: [stride, stride], dilations: [dilation, dilation],
                                       pads: pads, outputPadding: nil, group: 1, autoPad: "NOTSET")
            let x = ONNXTensor(shape: [1, ic, h, w], floats: rng.floats(ic * h * w))
            let wt = ONNXTensor(shape: [oc, ic, k, k], floats: rng.floats(oc * ic * k * k))
            let b = ONNXTensor(shape: [oc], floats: rng.floats(oc))
            let want = try ONNXConv.conv(x, wt, b, attrs, pool: Self.pool)
            let g = try ONNXConv.geometry(attrs, input: x.shape, kernel: (k, k))
            let parameters = ConvolutionParameters(inputChannels: ic, outputChannels: oc, kernel: (k, k), stride: g.stride,
                                                   dilation: g.dilation, padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3))
            let gemm = try GEMMConvolution(weights: wt.floats, bias: b.floats, parameters: parameters)
            let oh = want.shape[2], ow = want.shape[3]
            let residual = rng.floats(oc * oh * ow)
            for accumulate in [false, true] {
                var out = accumulate ? residual : [Float](repeating: .nan, count: oc * oh * ow)
                x.floats.withUnsafeBufferPointer { px in
                    out.withUnsafeMutableBufferPointer { po in
                        gemm.run(px.baseAddress!, height: h, width: w, po.baseAddress!, accumulate: accumulate, pool: Self.pool)
                    }
                }
                let expected = accumulate ? zip(want.floats, residual).map { $0 + $1 } : want.floats
                let diff = Self.maxDifference(out, expected)
                #expect(diff <= 1e-4, "trial \(trial): ic \(ic) oc \(oc) k \(k) \(h)x\(w) s\(stride) d\(dilation) p\(pad) acc \(accumulate): \(diff)")
                guard TapConvolution.accepts(parameters) else { continue }
                let taps = try TapConvolution(weights: wt.floats, bias: b.floats, parameters: parameters)
                var tapped = accumulate ? residual : [Float](repeating: .nan, count: oc * oh * ow)
                x.floats.withUnsafeBufferPointer { px in
                    tapped.withUnsafeMutableBufferPointer { po in
                        taps.run(px.baseAddress!, height: h, width: w, po.baseAddress!, accumulate: accumulate, pool: Self.pool)
                    }
                }
                let tapDiff = Self.maxDifference(tapped, expected)
                #expect(tapDiff <= 1e-4, "taps, trial \(trial): ic \(ic) oc \(oc) k \(k) \(h)x\(w) p\(pad) acc \(accumulate): \(tapDiff)")
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
            let p = try ONNXNormalization.softmax(try scores.evaluate([q, k], pool: Self.pool), axis: -1, flattened: false, pool: Self.pool)
            let want = try weighted.evaluate([p, v], pool: Self.pool)
            let got = try ONNXModel(model: ONNXTestGraph.model(inputs: [], outputs: [], nodes: [])).plan(inputShapes: [:], pool: Self.pool)
                .runAttention(q: q, k: k, v: v)
            #expect(got.shape == want.shape)
            let diff = Self.maxDifference(got.floats, want.floats)
            #expect(diff <= 1e-5, "trial \(trial): heads \(heads) c \(c) cv \(cv) t \(t) s \(s): \(diff)")
        }
    }

    /// A graph of Einsum -> Softmax -> Einsum is planned as one attention step and gives the
    /// operators' result.
    @Test func attentionPatternIsFusedInThePlan() throws {
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
        let m = ONNXTestGraph.model(inputs: ["q", "k", "v"], outputs: ["o"], nodes: [
            ONNXTestGraph.node("Einsum", ["q", "k"], ["scores"], [equation("bct,bcs->bts")]),
            ONNXTestGraph.node("Softmax", ["scores"], ["p"], [axis]),
            ONNXTestGraph.node("Einsum", ["p", "v"], ["o"], [equation("bts,bcs->bct")]),
        ])
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
        let p = try ONNXNormalization.softmax(try EinsumEquation("bct,bcs->bts").evaluate([q, k], pool: Self.pool), axis: -1,
                                              flattened: false, pool: Self.pool)
        let want = try EinsumEquation("bts,bcs->bct").evaluate([p, v], pool: Self.pool)
        #expect(got.shape == [2, 5, 70])
        #expect(Self.maxDifference(got.floats, want.floats) <= 1e-5)
    }

    /// GroupNorm as exported (Reshape, InstanceNormalization, Reshape), then per-channel Mul, Add,
    /// a per-image Mul, a Sub with the chain on the right and SiLU: planned as one step, equal to
    /// the math written out.
    @Test(arguments: [[2, 8, 4, 5, 4], [1, 6, 7, 3, 3], [3, 32, 9, 11, 32], [1, 64, 16, 16, 8], [1, 4, 1, 1, 1]])
    func normalizationChainIsFusedAndExact(_ dims: [Int]) throws {
        func node(_ op: String, _ ins: [String], _ out: String, _ attrs: [ONNX.AttributeProto] = []) -> ONNX.NodeProto {
            ONNXTestGraph.node(op, ins, [out], attrs)
        }
        func constant(_ name: String, _ dims: [Int], floats: [Float] = [], ints: [Int64] = []) -> ONNX.TensorProto {
            ONNXTestGraph.tensor(name, dims, floats: floats, ints: ints)
        }
        let (n, c, h, w, groups) = (dims[0], dims[1], dims[2], dims[3], dims[4])
        var rng = Noise(state: UInt64(dims.reduce(0, +)))
        let scale = rng.floats(groups), bias = rng.floats(groups)
        let weight = rng.floats(c), shift = rng.floats(c), perImage = rng.floats(n * c), minuend = rng.floats(c)
        var epsilon = ONNX.AttributeProto()
        epsilon.name = "epsilon"
        epsilon.kind = .float
        epsilon.f = 1e-5
        var m = ONNXTestGraph.model(inputs: ["x"], outputs: ["y"], nodes: [])
        m.graph.initializers = [
            constant("grouped", [3], ints: [Int64(n), Int64(groups), -1]),
            constant("full", [4], ints: [Int64(n), Int64(c), Int64(h), Int64(w)]),
            constant("scale", [groups], floats: scale), constant("bias", [groups], floats: bias),
            constant("weight", [c, 1, 1], floats: weight), constant("shift", [c, 1, 1], floats: shift),
            constant("per_image", [n, c, 1, 1], floats: perImage), constant("minuend", [1, c, 1, 1], floats: minuend),
        ]
        m.graph.nodes = [
            node("Reshape", ["x", "grouped"], "r"),
            node("InstanceNormalization", ["r", "scale", "bias"], "in", [epsilon]),
            node("Reshape", ["in", "full"], "back"),
            node("Mul", ["back", "weight"], "m1"),
            node("Add", ["shift", "m1"], "a1"),
            node("Mul", ["a1", "per_image"], "m2"),
            node("Sub", ["minuend", "m2"], "s1"),
            node("Sigmoid", ["s1"], "sg"),
            node("Mul", ["s1", "sg"], "y"),
        ]
        let plan = try ONNXModel(model: m).plan(inputShapes: ["x": [n, c, h, w]])
        let x = ONNXTensor(shape: [n, c, h, w], floats: rng.floats(n * c * h * w).map { $0 * 3 + 1 })
        var ops: [String] = []
        let got = try #require(try plan.run(["x": x]) { op, _ in ops.append(op) }["y"])
        #expect(!ops.contains("InstanceNormalization") && ops.contains("NormChain"), "\(ops)")
        let plane = h * w, perGroup = c / groups
        var want = [Float](repeating: 0, count: x.count)
        let xv = x.floats
        for img in 0..<n {
            for g in 0..<groups {
                let base = (img * c + g * perGroup) * plane, len = perGroup * plane
                let values = xv[base..<(base + len)].map(Double.init)
                let mean = values.reduce(0, +) / Double(len)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(len)
                for i in 0..<len {
                    let ch = g * perGroup + i / plane
                    var v = (values[i] - mean) / (variance + 1e-5).squareRoot() * Double(scale[g]) + Double(bias[g])
                    v = Double(minuend[ch]) - (v * Double(weight[ch]) + Double(shift[ch])) * Double(perImage[img * c + ch])
                    want[base + i] = Float(v / (1 + Foundation.exp(-v)))
                }
            }
        }
        #expect(got.shape == [n, c, h, w])
        #expect(Self.maxDifference(got.floats, want) <= 1e-5)
    }

    /// `Add(r, Conv(x))` on a small map is planned as one accumulating convolution and gives what
    /// the unfused plan gives.
    @Test(arguments: [3, 1])
    func residualAddIsFusedIntoConvolution(kernel: Int) throws {
        var rng = Noise(state: 13)
        let (c, oc, h, w) = (12, 10, 9, 7)
        let padding: [Int64] = kernel == 3 ? [1, 0, 2, 1] : [0, 0, 0, 0]
        func tensor(_ name: String, _ dims: [Int], _ values: [Float]) -> ONNX.TensorProto {
            ONNXTestGraph.tensor(name, dims, floats: values)
        }
        let m = ONNXTestGraph.model(
            inputs: ["x", "r"], outputs: ["z"],
            initializers: [tensor("w", [oc, c, kernel, kernel], rng.floats(oc * c * kernel * kernel)), tensor("b", [oc], rng.floats(oc))],
            nodes: [
                ONNXTestGraph.node("Conv", ["x", "w", "b"], ["y"], name: "conv", [ONNXTestGraph.ints("pads", padding)]),
                ONNXTestGraph.node("Add", ["r", "y"], ["z"], name: "add"),
            ])
        let model = try ONNXModel(model: m)
        let (oh, ow) = (h + Int(padding[0] + padding[2]) - kernel + 1, w + Int(padding[1] + padding[3]) - kernel + 1)
        let shapes = ["x": [1, c, h, w], "r": [1, oc, oh, ow]]
        let residual = rng.floats(oc * oh * ow)
        // A copy in its own buffer, to see that the caller's residual is never written.
        let snapshot = residual.map { $0 }
        let feeds = ["x": ONNXTensor(shape: [1, c, h, w], floats: rng.floats(c * h * w)),
                     "r": ONNXTensor(shape: [1, oc, oh, ow], floats: residual)]
        var ops: [String] = []
        let fused = try #require(try model.plan(inputShapes: shapes).run(feeds) { op, _ in ops.append(op) }["z"])
        #expect(ops == ["Conv+Add"])
        let plain = try #require(try ONNXPlan(model: model, inputShapes: shapes, pool: Self.pool, fusing: false).run(feeds)["z"])
        #expect(fused.shape == plain.shape)
        #expect(Self.maxDifference(fused.floats, plain.floats) <= 1e-5)
        // The residual input is the caller's: accumulating must not have written into it.
        #expect(feeds["r"]!.floats == snapshot)
    }

    /// `Add(Conv_a(x), Conv_b(x))`: one convolution takes the Add, the other stays a step whose
    /// output is the residual (a second fusion into the same Add would drop the first).
    @Test func addOfTwoConvolutionsFusesOnce() throws {
        var rng = Noise(state: 17)
        let (c, oc, h, w) = (16, 8, 10, 6)
        func tensor(_ name: String, _ dims: [Int], _ values: [Float]) -> ONNX.TensorProto {
            ONNXTestGraph.tensor(name, dims, floats: values)
        }
        func conv(_ name: String, kernel: Int) -> ONNX.NodeProto {
            ONNXTestGraph.node("Conv", ["x", name + "_w", name + "_b"], [name + "_y"], name: name,
                               [ONNXTestGraph.ints("pads", [Int64](repeating: Int64(kernel / 2), count: 4))])
        }
        let m = ONNXTestGraph.model(
            inputs: ["x"], outputs: ["z"],
            initializers: [
                tensor("a_w", [oc, c, 3, 3], rng.floats(oc * c * 9)), tensor("a_b", [oc], rng.floats(oc)),
                tensor("b_w", [oc, c, 1, 1], rng.floats(oc * c)), tensor("b_b", [oc], rng.floats(oc)),
            ],
            nodes: [conv("a", kernel: 3), conv("b", kernel: 1), ONNXTestGraph.node("Add", ["a_y", "b_y"], ["z"], name: "add")])
        let model = try ONNXModel(model: m)
        let shapes = ["x": [1, c, h, w]]
        let feeds = ["x": ONNXTensor(shape: [1, c, h, w], floats: rng.floats(c * h * w))]
        var ops: [String] = []
        let fused = try #require(try model.plan(inputShapes: shapes).run(feeds) { op, _ in ops.append(op) }["z"])
        #expect(ops.sorted() == ["Conv", "Conv+Add"])
        let plain = try #require(try ONNXPlan(model: model, inputShapes: shapes, pool: Self.pool, fusing: false).run(feeds)["z"])
        #expect(Self.maxDifference(fused.floats, plain.floats) <= 1e-5)
    }

    /// Gemm of a row vector with a transposed B (linear layers at batch 1) against a plain
    /// triple loop, on random sizes, with and without C.
    @Test func rowVectorGemmMatchesLoops() throws {
        var rng = Noise(state: 19)
        for trial in 0..<20 {
            let k = rng.int(1...300), n = rng.int(1...300)
            let a = ONNXTensor(shape: [1, k], floats: rng.floats(k))
            let b = ONNXTensor(shape: [n, k], floats: rng.floats(n * k))
            let c = trial % 2 == 0 ? ONNXTensor(shape: [n], floats: rng.floats(n)) : nil
            let got = try ONNXMatrix.gemm(a, b, c, alpha: 0.5, beta: 2, transA: false, transB: true, pool: Self.pool)
            let want = (0..<n).map { j in
                0.5 * (0..<k).reduce(Float(0)) { $0 + a.floats[$1] * b.floats[j * k + $1] } + 2 * (c?.floats[j] ?? 0)
            }
            #expect(got.shape == [1, n])
            #expect(Self.maxDifference(got.floats, want) <= 1e-4, "trial \(trial): k \(k) n \(n)")
        }
    }
}
