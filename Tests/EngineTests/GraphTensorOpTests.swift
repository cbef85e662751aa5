import Foundation
import Graph
import Kernels
import Tensor
import Testing

/// The rank-N tensor ops through the graph executor (shape inference, memory plan, glue to the
/// kernels) against the `Reference` definitions, on random shapes including extents of 1 and
/// odd sizes; constant folding; hostile shapes.
@Suite("Graph tensor ops")
struct GraphTensorOpTests {
    /// A seeded linear congruential generator: the same cases on every run.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func float() -> Float { Float(next() % 20001) / 10000 - 1 }
        mutating func tensor(_ dims: [Int]) -> Tensor {
            Tensor(shape: Shape(dims), values: (0..<dims.reduce(1, *)).map { _ in float() })
        }
        mutating func dims(rank: Int) -> [Int] { (0..<rank).map { _ in [1, 2, 3, 5, 7, 16, 17][int(0...6)] } }
    }

    /// Runs one node: `inputs` are graph inputs, `constants` graph constants (read after them).
    static func run(_ op: Op, inputs: [Tensor], constants: [Tensor] = [], threads: Int = 2) throws -> Tensor {
        var g = Graph()
        var ids = inputs.indices.map { g.addValue(named: "in\($0)") }
        g.inputs = ids
        ids += constants.enumerated().map { g.addConstant(named: "const\($0.offset)", $0.element) }
        let out = g.addValue(named: "out")
        g.nodes = [Node(name: "node", op: op, inputs: ids, output: out)]
        g.outputs = [out]
        return try GraphExecutor(graph: g, pool: ComputePool(threads: threads)).run(inputs)[0]
    }

    static func expectClose(_ got: Tensor, _ want: Tensor, tolerance: Float = 1e-5, _ what: String) {
        #expect(got.shape == want.shape, "\(what): shape \(got.shape) vs \(want.shape)")
        guard got.shape == want.shape else { return }
        let a = got.toArray(), b = want.toArray()
        var worst: Float = 0
        for (x, y) in zip(a, b) where !(x.isNaN && y.isNaN) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
        #expect(worst <= tolerance, "\(what): max error \(worst)")
    }

    @Test("unary, clip and broadcasting binary ops match the reference", arguments: 0..<12)
    func elementwise(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 11)
        let rank = r.int(1...5)
        let a = r.dims(rank: rank)
        // b: a suffix of a's dims with some extents replaced by 1 (NumPy broadcasting).
        let bRank = r.int(0...rank)
        let b = a.suffix(bRank).map { r.int(0...2) == 0 ? 1 : $0 }
        let x = r.tensor(a), y = r.tensor(b)
        let unaries: [UnaryOp] = [.neg, .abs, .exp, .tanh, .sigmoid, .silu, .gelu, .erf, .relu, .floor, .sin, .softplus]
        let u = unaries[seed % unaries.count]
        Self.expectClose(try Self.run(.unary(u), inputs: [x]), Reference.unary(u, x), tolerance: 1e-5, "unary \(u) \(a)")
        Self.expectClose(try Self.run(.clip(min: -0.25, max: 0.5), inputs: [x]),
                         Reference.activation(x, .clip(min: -0.25, max: 0.5)), "clip \(a)")
        let ops: [BinaryOp] = [.add, .sub, .mul, .div, .max, .min]
        let op = ops[seed % ops.count]
        // Both operand orders, one as a graph input and one as a constant.
        Self.expectClose(try Self.run(.elementwise(op), inputs: [x], constants: [y]), try Reference.binary(op, x, y),
                         "\(op) \(a) \(b)")
        Self.expectClose(try Self.run(.elementwise(op), inputs: [y, x]), try Reference.binary(op, y, x), "\(op) \(b) \(a)")
    }

    @Test("softmax and layer, group and instance normalization match the reference", arguments: 0..<10)
    func normalizations(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 101)
        let rank = r.int(2...4)
        var dims = r.dims(rank: rank)
        let axis = r.int(-rank...(rank - 1))
        let x = r.tensor(dims)
        Self.expectClose(try Self.run(.softmax(axis: axis), inputs: [x]), Reference.softmax(x, axis: axis), "softmax \(dims) axis \(axis)")

        let ax = axis < 0 ? axis + rank : axis
        let len = dims[ax...].reduce(1, *)
        let gamma = (0..<len).map { _ in r.float() }, beta = (0..<len).map { _ in r.float() }
        Self.expectClose(
            try Self.run(.normalization(.layer(axis: axis, epsilon: 1e-5)), inputs: [x],
                         constants: [Tensor(shape: Shape(Array(dims[ax...])), values: gamma), Tensor(shape: [len], values: beta)]),
            Reference.layerNorm(x, normalizedCount: len, gamma: gamma, beta: beta, epsilon: 1e-5), tolerance: 1e-4,
            "layer norm \(dims) axis \(axis)")

        // Channels (dimension 1) divisible by the group count; rank 3 reads as [N, C, L].
        let groups = [1, 2, 3][seed % 3]
        dims[1] = groups * r.int(1...3)
        let y = r.tensor(dims)
        let c = dims[1]
        let scale = (0..<c).map { _ in r.float() }, shift = (0..<c).map { _ in r.float() }
        let nchw = try y.reshaped(Shape([dims[0], c, dims.dropFirst(2).reduce(1, *), 1]))
        let constants = [Tensor(shape: [c], values: scale), Tensor(shape: [c], values: shift)]
        Self.expectClose(
            try Self.run(.normalization(.group(groups: groups, epsilon: 1e-5)), inputs: [y], constants: constants),
            try Reference.groupNorm(nchw, groups: groups, gamma: scale, beta: shift, epsilon: 1e-5).reshaped(y.shape), tolerance: 1e-4,
            "group norm \(dims) groups \(groups)")
        Self.expectClose(
            try Self.run(.normalization(.instance(epsilon: 1e-5)), inputs: [y], constants: constants),
            try Reference.groupNorm(nchw, groups: c, gamma: scale, beta: shift, epsilon: 1e-5).reshaped(y.shape), tolerance: 1e-4,
            "instance norm \(dims)")
    }

    @Test("transpose, reduce, concatenate and slice match the reference", arguments: 0..<10)
    func dataMovement(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 1009)
        let rank = r.int(1...5)
        let dims = r.dims(rank: rank)
        let x = r.tensor(dims)
        var perm = Array(0..<rank)
        for i in stride(from: rank - 1, to: 0, by: -1) { perm.swapAt(i, r.int(0...i)) }
        Self.expectClose(try Self.run(.transpose(perm), inputs: [x]), Reference.transpose(x, permutation: perm), "transpose \(dims) \(perm)")

        let axes = (0..<rank).filter { _ in r.int(0...1) == 0 }
        let keep = seed % 2 == 0
        let kinds: [ReduceOp] = [.sum, .mean, .max, .min]
        let kind = kinds[seed % kinds.count]
        Self.expectClose(try Self.run(.reduce(kind, axes: axes, keepDimensions: keep), inputs: [x]),
                         Reference.reduce(kind, x, axes: axes.isEmpty ? Array(0..<rank) : axes, keepDimensions: keep),
                         "reduce \(kind) \(dims) axes \(axes)")

        let axis = r.int(0...(rank - 1))
        var other = dims
        other[axis] = r.int(1...4)
        let y = r.tensor(other)
        Self.expectClose(try Self.run(.concatenate(axis: axis - rank), inputs: [x], constants: [y]),
                         Reference.concat([x, y], axis: axis), "concat \(dims) \(other) axis \(axis)")

        let d = dims[axis]
        let start = r.int(-d...d), end = r.int(-d - 2...d + 2), step = r.int(1...3)
        Self.expectClose(try Self.run(.slice(Slice(starts: [start], ends: [end], axes: [axis], steps: [step])), inputs: [x]),
                         Reference.slice(x, axis: axis, start: start, end: end, step: step),
                         "slice \(dims) axis \(axis) \(start)..<\(end) step \(step)")
    }

    @Test("max and average pooling match the reference over windows, strides and paddings", arguments: 0..<16)
    func pooling(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 101)
        // Every fourth case is the 2×2 stride-2 downsampling pool (its own fast path), on odd planes too.
        let kernel = seed % 4 == 0 ? (2, 2) : (r.int(1...4), r.int(1...4))
        let stride = seed % 4 == 0 ? (2, 2) : (r.int(1...3), r.int(1...3))
        let padding = seed % 4 == 0 ? Padding(top: 0, left: 0, bottom: 0, right: 0)
            : Padding(top: r.int(0...kernel.0 - 1), left: r.int(0...kernel.1 - 1), bottom: r.int(0...kernel.0 - 1), right: r.int(0...kernel.1 - 1))
        let dims = [r.int(1...2), r.int(1...5), r.int(kernel.0...19), r.int(kernel.1...19)]
        let x = r.tensor(dims)
        for kind in [Pooling.Kind.max, .average] {
            let op = Op.pooling(Pooling(kind: kind, global: false, kernel: (kernel.0, kernel.1), stride: (stride.0, stride.1), padding: padding))
            // The graph's average divides by the whole window, padding included (ncnn's default).
            let p = PoolingParameters(kind: kind == .max ? .max : .average, kernel: kernel, stride: stride, padding: padding, countIncludePad: true)
            Self.expectClose(try Self.run(op, inputs: [x]), Reference.pool2d(x, p), tolerance: 1e-5, "\(kind) pool \(kernel) /\(stride) \(padding) on \(dims)")
        }
    }

    @Test("a residual produced after its convolution still fuses into it, with the unfused result", arguments: 0..<8)
    func lateResidualFusion(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 211)
        let (n, c, h, w) = (r.int(1...2), r.int(1...6), r.int(1...9), r.int(1...9))
        let k = [1, 3][seed % 2]
        var g = Graph()
        let x = g.addValue(named: "x"), y = g.addValue(named: "y"), skip = g.addValue(named: "skip")
        let z = g.addValue(named: "z"), out = g.addValue(named: "out")
        g.inputs = [x]
        let conv = Convolution(outChannels: c, inChannels: c, kernel: (k, k), padding: Padding(k / 2),
                               weights: (0..<(c * c * k * k)).map { _ in r.float() }, bias: (0..<c).map { _ in r.float() })
        // The rank-N add folds only where shapes are known to agree (optimize with input shapes).
        let add: Op = seed % 3 == 0 ? .elementwise(.add) : .eltwise(.sum([r.float(), r.float()]))
        g.nodes = [
            Node(name: "conv", op: .convolution(conv), inputs: [x], output: y),
            // The residual's producer comes after the convolution in node order.
            Node(name: "skip", op: .activation(.sigmoid), inputs: [x], output: skip),
            Node(name: "add", op: add, inputs: seed % 2 == 0 ? [y, skip] : [skip, y], output: z),
            Node(name: "after", op: .activation(.sigmoid), inputs: [z], output: out),
        ]
        g.outputs = [out]
        let input = r.tensor([n, c, h, w])
        var o = g
        o.optimize(inputShapes: [input.shape])
        #expect(o.nodes.count == 3, "the add folds into the convolution")
        #expect(o.nodes.firstIndex { $0.output == z } ?? 0 > o.nodes.firstIndex { $0.output == skip } ?? 0)
        let want = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), optimize: false).run([input])[0]
        let got = try GraphExecutor(graph: o, pool: ComputePool(threads: 2), optimize: false).run([input])[0]
        Self.expectClose(got, want, tolerance: 1e-5, "late residual \(add) k\(k) on \([n, c, h, w])")
    }

    @Test("a reshape between computed values is a view in the memory plan, not a copy")
    func reshapeIsAView() throws {
        var g = Graph()
        let x = g.addValue(named: "x"), a = g.addValue(named: "a"), b = g.addValue(named: "b"), c = g.addValue(named: "c")
        g.inputs = [x]
        g.nodes = [
            Node(name: "neg", op: .unary(.neg), inputs: [x], output: a),
            Node(name: "flatten", op: .reshape([0, -1]), inputs: [a], output: b),
            Node(name: "exp", op: .unary(.exp), inputs: [b], output: c),
        ]
        g.outputs = [c]
        let shapes = try g.inferShapes([[2, 3, 4]])
        #expect(shapes[b.index] == [2, 12])
        let plan = MemoryPlan(graph: g, shapes: shapes)
        #expect(plan.assembledNodes.contains(1))
        #expect(plan.root(of: b).0 == a)
        var r = Random(state: 5)
        let input = r.tensor([2, 3, 4])
        let out = try GraphExecutor(graph: g, pool: ComputePool(threads: 2)).run([input])[0]
        #expect(out.shape == [2, 12])
        Self.expectClose(out, try Reference.unary(.exp, Reference.unary(.neg, input)).reshaped([2, 12]), "neg-reshape-exp")
    }

    @Test("constant folding evaluates shape subgraphs to i64 constants and drops their nodes")
    func foldsShapeSubgraph() throws {
        // reshape target = concat(shape(x)[0..<2] * [1, 2], [-1]) for x: [3, 4, 5, 6].
        var g = Graph()
        let x = g.addValue(named: "x")
        g.inputs = [x]
        let shape = g.addValue(named: "shape"), head = g.addValue(named: "head"), scaled = g.addValue(named: "scaled")
        let target = g.addValue(named: "target"), out = g.addValue(named: "out")
        let factors = g.addConstant(named: "factors", Tensor(shape: [2], int64s: [1, 2]))
        let minusOne = g.addConstant(named: "minus_one", Tensor(shape: [1], int64s: [-1]))
        g.nodes = [
            Node(name: "shape", op: .shapeOf(start: 0, end: nil), inputs: [x], output: shape),
            Node(name: "head", op: .slice(Slice(starts: [0], ends: [2])), inputs: [shape], output: head),
            Node(name: "scaled", op: .elementwise(.mul), inputs: [head, factors], output: scaled),
            Node(name: "target", op: .concatenate(axis: 0), inputs: [scaled, minusOne], output: target),
            Node(name: "exp", op: .unary(.exp), inputs: [x], output: out),
        ]
        g.outputs = [out, target]
        let folded = try g.foldConstants(inputShapes: [[3, 4, 5, 6]])
        #expect(folded == 4)
        #expect(g.nodes.count == 1)
        let t = try #require(g.constants[target])
        #expect(t.dtype == .i64)
        #expect(t.toInt64Array() == [3, 8, -1])
        // Constants only the folded nodes read are gone.
        #expect(g.constants[factors] == nil && g.constants[minusOne] == nil)
        // A constant graph output comes back as a copy the caller owns.
        var r = Random(state: 9)
        let outs = try GraphExecutor(graph: g, pool: ComputePool(threads: 1)).run([r.tensor([3, 4, 5, 6])])
        #expect(outs[1].toInt64Array() == [3, 8, -1])
    }

    @Test("integers beyond 2^24 are not folded through f32")
    func keepsLargeIntegers() throws {
        var g = Graph()
        let a = g.addConstant(named: "a", Tensor(shape: [1], int64s: [1 << 40]))
        let b = g.addConstant(named: "b", Tensor(shape: [1], int64s: [3]))
        let out = g.addValue(named: "out")
        g.nodes = [Node(name: "add", op: .elementwise(.add), inputs: [a, b], output: out)]
        g.outputs = [out]
        #expect(try g.foldConstants() == 0)
        #expect(g.nodes.count == 1)
    }

    @Test("hostile shapes fail shape inference with an error naming the node, never trap",
          arguments: [
            Op.expand([1 << 20, 1 << 20, 1, 6]), Op.expand([Int.max, 4, 6]), Op.reshape([-1, 0, 5]), Op.reshape([7, -1]),
            Op.reshape([-2]), Op.transpose([0, 0]), Op.softmax(axis: 3), Op.slice(Slice(starts: [0], ends: [1], steps: [0])),
            Op.gather(axis: -3),
          ])
    func hostileShapes(op: Op) throws {
        var g = Graph()
        let x = g.addValue(named: "x"), out = g.addValue(named: "out")
        g.inputs = [x]
        var ins = [x]
        if case .gather = op { ins.append(g.addConstant(named: "i", Tensor(shape: [1], int64s: [0]))) }
        g.nodes = [Node(name: "hostile", op: op, inputs: ins, output: out)]
        g.outputs = [out]
        #expect {
            _ = try g.inferShapes([[4, 6]])
        } throws: { error in
            guard let e = error as? GraphError else { return false }
            return e.code == .shapeMismatch && e.message.contains("hostile")
        }
    }

    @Test("i64 tensors hold shapes exactly and convert to floats")
    func int64Tensors() {
        let t = Tensor(shape: [3], int64s: [-1, 1 << 40, 7])
        #expect(t.dtype == .i64 && t.byteCount == 24)
        #expect(t.toInt64Array() == [-1, 1 << 40, 7])
        #expect(t.toArray() == [-1, Float(1 << 40), 7])
        let f = Tensor(shape: [4], values: [2.9, -2.9, .nan, 1e30])
        #expect(f.converted(to: .i64).toInt64Array() == [2, -2, 0, Int64(9.2e18)])
        #expect(t.converted(to: .f32).toArray() == t.toArray())
        #expect(Tensor(shape: [0], values: []).count == 0)
    }

    @Test("matmul to scale to softmax to matmul fuses into one attention node with the same result", arguments: 0..<4)
    func attentionFusion(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 77)
        let (b, t, s, d, dv) = (r.int(1...3), r.int(1...17), r.int(1...17), r.int(1...16), r.int(1...9))
        var g = Graph()
        let q = g.addValue(named: "q"), k = g.addValue(named: "k"), v = g.addValue(named: "v")
        g.inputs = [q, k, v]
        let scores = g.addValue(named: "scores"), scaled = g.addValue(named: "scaled"), p = g.addValue(named: "p"), o = g.addValue(named: "o")
        let scale = g.addConstant(named: "scale", Tensor(shape: [], values: [0.25]))
        g.nodes = [
            Node(name: "qk", op: .matMul, inputs: [q, k], output: scores),
            Node(name: "scale", op: .elementwise(.mul), inputs: [scores, scale], output: scaled),
            Node(name: "softmax", op: .softmax(axis: -1), inputs: [scaled], output: p),
            Node(name: "pv", op: .matMul, inputs: [p, v], output: o),
        ]
        g.outputs = [o]
        let inputs = [r.tensor([b, t, d]), r.tensor([b, d, s]), r.tensor([b, s, dv])]
        var fused = g
        fused.optimize(inputShapes: inputs.map(\.shape))
        #expect(fused.nodes.contains { if case .attention(let sc) = $0.op { sc == 0.25 } else { false } })
        #expect(!fused.nodes.contains { if case .softmax = $0.op { true } else { false } })
        let want = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), optimize: false).run(inputs)[0]
        let got = try GraphExecutor(graph: fused, pool: ComputePool(threads: 2), optimize: false).run(inputs)[0]
        Self.expectClose(got, want, tolerance: 1e-5, "attention b\(b) t\(t) s\(s) d\(d) dv\(dv)")
    }

    @Test("feature-major attention (einsum bct,bcs->bts then bts,bcs->bct) fuses with no transposes left", arguments: 0..<8)
    func featureMajorAttentionFusion(seed: Int) throws {
        var r = Random(state: UInt64(seed) &+ 303)
        let (b, t, s, d, dv) = (r.int(1...3), r.int(1...17), r.int(1...17), r.int(1...16), r.int(1...9))
        // Rank 3, or rank 4 with a heads axis.
        let lead = seed % 2 == 0 ? [b] : [b, r.int(1...3)]
        let swap = Array(0..<lead.count) + [lead.count + 1, lead.count]
        let scaleValue: Float = seed % 3 == 0 ? 1 : 0.125
        var g = Graph()
        let q = g.addValue(named: "q"), k = g.addValue(named: "k"), v = g.addValue(named: "v")
        g.inputs = [q, k, v]
        let qt = g.addValue(named: "qt"), vt = g.addValue(named: "vt"), scores = g.addValue(named: "scores")
        let scaled = g.addValue(named: "scaled"), p = g.addValue(named: "p"), ot = g.addValue(named: "ot"), o = g.addValue(named: "o")
        let scale = g.addConstant(named: "scale", Tensor(shape: [], values: [scaleValue]))
        g.nodes = [
            Node(name: "qt", op: .transpose(swap), inputs: [q], output: qt),
            Node(name: "qk", op: .matMul, inputs: [qt, k], output: scores),
            Node(name: "scale", op: .elementwise(.mul), inputs: [scores, scale], output: scaled),
            Node(name: "softmax", op: .softmax(axis: -1), inputs: [scaled], output: p),
            Node(name: "vt", op: .transpose(swap), inputs: [v], output: vt),
            Node(name: "pv", op: .matMul, inputs: [p, vt], output: ot),
            Node(name: "ot", op: .transpose(swap), inputs: [ot], output: o),
        ]
        if seed % 4 >= 2 {
            // Identity reshapes between the transposes and the products, as einsum imports leave them.
            let qr = g.addValue(named: "qr"), orr = g.addValue(named: "or")
            g.nodes[1].inputs = [qr, k]
            g.nodes.insert(Node(name: "qr", op: .reshape(lead + [t, d]), inputs: [qt], output: qr), at: 1)
            g.nodes[7].inputs = [orr]
            g.nodes.insert(Node(name: "or", op: .reshape(lead + [t, dv]), inputs: [ot], output: orr), at: 7)
        }
        g.outputs = [o]
        let inputs = [r.tensor(lead + [d, t]), r.tensor(lead + [d, s]), r.tensor(lead + [dv, s])]
        var fused = g
        fused.optimize(inputShapes: inputs.map(\.shape))
        #expect(fused.nodes.count == 1, "\(fused.nodes.map(\.op.name))")
        #expect(fused.nodes.contains { if case .attentionFeatureMajor(let sc) = $0.op { sc == scaleValue } else { false } })
        let want = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), optimize: false).run(inputs)[0]
        let got = try GraphExecutor(graph: fused, pool: ComputePool(threads: 2), optimize: false).run(inputs)[0]
        Self.expectClose(got, want, tolerance: 1e-5, "feature-major attention \(lead) t\(t) s\(s) d\(d) dv\(dv)")
        // A transposed result read twice keeps the transposes (and the row-major fused node).
        var shared = g
        shared.outputs = [o, ot]
        shared.optimize(inputShapes: inputs.map(\.shape))
        #expect(!shared.nodes.contains { if case .attentionFeatureMajor = $0.op { true } else { false } })
    }

    @Test("x * sigmoid(x) becomes one SiLU node; a sigmoid read elsewhere stays")
    func siluFusion() throws {
        var g = Graph()
        let x = g.addValue(named: "x"), s = g.addValue(named: "s"), y = g.addValue(named: "y")
        g.inputs = [x]
        g.nodes = [
            Node(name: "sigmoid", op: .unary(.sigmoid), inputs: [x], output: s),
            Node(name: "mul", op: .elementwise(.mul), inputs: [s, x], output: y),
        ]
        g.outputs = [y]
        var fused = g
        fused.optimize()
        #expect(fused.nodes.count == 1)
        var r = Random(state: 3)
        let input = r.tensor([2, 3, 5])
        Self.expectClose(try GraphExecutor(graph: g, pool: ComputePool(threads: 1)).run([input])[0], Reference.unary(.silu, input), tolerance: 1e-5, "silu")
        var shared = g
        shared.outputs = [y, s]
        shared.optimize()
        #expect(shared.nodes.count == 2)
    }
}
