import Foundation
import Graph
import Kernels
import Tensor
import Testing

/// Graph passes, memory planning and the executor on small hand-built graphs.
@Suite("Graph")
struct GraphTests {
    /// x -> conv(3x3, c->c) -> PReLU -> ... `depth` times, then + x.
    static func chain(depth: Int, channels c: Int) -> Graph {
        var g = Graph()
        let x = g.addValue(named: "x")
        g.inputs = [x]
        var v = x
        var seed: UInt32 = 7
        func rnd() -> Float { seed = seed &* 1_103_515_245 &+ 12345; return Float(Int(seed >> 16) % 200 - 100) / 1000 }
        for i in 0..<depth {
            let conv = g.addValue(named: "conv\(i)")
            g.nodes.append(Node(name: "conv\(i)", op: .convolution(Convolution(
                outChannels: c, inChannels: c, kernel: (3, 3), padding: Padding(1),
                weights: (0..<(c * c * 9)).map { _ in rnd() }, bias: (0..<c).map { _ in rnd() })), inputs: [v], output: conv))
            let act = g.addValue(named: "act\(i)")
            g.nodes.append(Node(name: "prelu\(i)", op: .activation(.prelu(slopes: (0..<c).map { _ in 0.1 + rnd() })), inputs: [conv], output: act))
            v = act
        }
        let out = g.addValue(named: "out")
        g.nodes.append(Node(name: "add", op: .eltwise(.sum([0.2, 1])), inputs: [v, x], output: out))
        g.outputs = [out]
        return g
    }

    static func input(n: Int, c: Int, h: Int, w: Int, seed: Int) -> Tensor {
        Tensor(shape: Shape(n: n, c: c, h: h, w: w), values: (0..<(n * c * h * w)).map { Float(($0 * 7919 + seed) % 1000) / 1000 })
    }

    @Test("fusion folds activations and the trailing residual into the convolutions without changing results")
    func fusion() throws {
        let g = Self.chain(depth: 4, channels: 8)
        var optimized = g
        optimized.optimize()
        #expect(optimized.nodes.count == 4)
        guard case .convolution(let last) = optimized.nodes[3].op else { Issue.record("last node is not a convolution"); return }
        // The epilogue order is activation, then the scaled residual: 0.2 * prelu(conv) + x.
        #expect(last.residual == Residual(scale: 0.2, residualScale: 1))
        #expect(last.activation != .none)
        let x = Self.input(n: 1, c: 8, h: 9, w: 11, seed: 1)
        let a = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), optimize: false).run([x])[0].toArray()
        let b = try GraphExecutor(graph: g, pool: ComputePool(threads: 2)).run([x])[0].toArray()
        #expect(zip(a, b).map { abs($0 - $1) }.max()! < 1e-5)
    }

    @Test("residual sums right after a convolution fuse into its epilogue (two levels, as in RRDB)")
    func residualFusion() throws {
        var g = Graph()
        let x = g.addValue(named: "x"), y = g.addValue(named: "y"), z = g.addValue(named: "z")
        let skip = g.addValue(named: "skip"), out = g.addValue(named: "out")
        g.inputs = [x]
        g.nodes = [
            Node(name: "pre", op: .activation(.sigmoid), inputs: [x], output: skip),
            Node(name: "conv", op: .convolution(Convolution(outChannels: 4, inChannels: 4, kernel: (1, 1),
                 weights: (0..<16).map { Float($0) / 16 }, bias: [0, 1, 2, 3])), inputs: [x], output: y),
            Node(name: "sum", op: .eltwise(.sum([0.2, 1])), inputs: [y, x], output: z),
            // RRDB's outer skip: a second scaled sum on the fused result.
            Node(name: "outer", op: .eltwise(.sum([0.2, 1])), inputs: [z, skip], output: out),
        ]
        g.outputs = [out]
        var o = g
        o.optimize()
        #expect(o.nodes.count == 2)
        guard case .convolution(let c) = o.nodes[1].op else { Issue.record("expected the fused convolution"); return }
        #expect(abs((c.residual?.scale ?? 0) - 0.04) < 1e-6 && c.residual?.residualScale == 0.2 && c.residual?.secondScale == 1)
        let input = Self.input(n: 1, c: 4, h: 3, w: 5, seed: 3)
        let a = try GraphExecutor(graph: g, pool: ComputePool(threads: 1), optimize: false).run([input])[0].toArray()
        let b = try GraphExecutor(graph: g, pool: ComputePool(threads: 1)).run([input])[0].toArray()
        #expect(zip(a, b).map { abs($0 - $1) }.max()! < 1e-5)
    }

    @Test("the memory plan reuses buffers: a 16-layer chain needs a handful of slots")
    func memoryReuse() throws {
        var g = Self.chain(depth: 16, channels: 4)
        g.optimize()
        let shapes = try g.inferShapes([Shape(n: 1, c: 4, h: 8, w: 8)])
        let plan = MemoryPlan(graph: g, shapes: shapes)
        let slots = Set(plan.slotOf.compactMap { $0 })
        #expect(slots.count <= 3)
        #expect(plan.totalFloats <= 3 * 4 * 64)
        // No two values live at once share a slot: check by replaying the schedule.
        var owner: [Int: ValueID] = [:]
        var lastUse: [ValueID: Int] = [:]
        for (i, n) in g.nodes.enumerated() { for v in n.inputs { lastUse[v] = i } }
        for (i, n) in g.nodes.enumerated() {
            if let s = plan.slotOf[n.output.index] {
                if let prev = owner[s], let end = lastUse[prev] { #expect(end <= i, "slot \(s) reused while \(prev) is live") }
                owner[s] = n.output
            }
        }
    }

    /// The chain of ``chain(depth:channels:)`` computed layer by layer with the plain references.
    static func referenceChain(_ g: Graph, _ x: Tensor) throws -> [Float] {
        var v = x
        for node in g.nodes {
            switch node.op {
            case .convolution(let c):
                let p = ConvolutionParameters(inputChannels: c.inChannels, outputChannels: c.outChannels, kernel: (c.kernel.h, c.kernel.w),
                                              padding: c.padding)
                v = try Reference.conv2d(v, weights: Tensor(shape: [c.weights.count], values: c.weights),
                                         bias: Tensor(shape: [c.bias.count], values: c.bias), parameters: p)
            case .activation(.prelu(let slopes)):
                let plane = v.shape.h * v.shape.w
                v = Tensor(shape: v.shape, values: v.toArray().enumerated().map { i, y in y < 0 ? y * slopes[i / plane % slopes.count] : y })
            case .eltwise(.sum(let k)):
                v = Tensor(shape: v.shape, values: zip(v.toArray(), x.toArray()).map { k[0] * $0 + k[1] * $1 })
            default:
                throw GraphError(.invalidGraph, "unexpected \(node.op.name)")
            }
        }
        return v.toArray()
    }

    @Test("fp32 3x3 layers keep only their small-map form until a larger map needs the packed one; weights stay recoverable")
    func deferredPacking() throws {
        let c = 16
        let g = Self.chain(depth: 3, channels: c)
        let e = try GraphExecutor(graph: g, pool: ComputePool(threads: 2))
        // The executor's graph no longer holds the weights; the packed forms give them back exactly.
        for i in 0..<3 {
            guard case .convolution(let kept) = e.graph.nodes[i].op, case .convolution(let original) = g.nodes[2 * i].op else {
                Issue.record("node \(i) is not a convolution"); return
            }
            #expect(kept.weights.isEmpty)
            #expect(try e.convolutionWeights(named: "conv\(i)") == original.weights)
        }
        let before = e.weightBytes
        #expect(before > 0)
        let small = Self.input(n: 1, c: c, h: 12, w: 9, seed: 4)
        let got = try e.run([small])[0].toArray(), want = try Self.referenceChain(g, small)
        #expect(zip(got, want).map { abs($0 - $1) }.max()! <= 1e-4 * max(1, want.map(abs).max()!))
        #expect(e.weightBytes == before)
        // 48x40 is past the small-map limit: the packed convolutions are made on this first call.
        let large = Self.input(n: 1, c: c, h: 48, w: 40, seed: 5)
        let got2 = try e.run([large])[0].toArray(), want2 = try Self.referenceChain(g, large)
        #expect(zip(got2, want2).map { abs($0 - $1) }.max()! <= 1e-4 * max(1, want2.map(abs).max()!))
        #expect(e.weightBytes > before)

        // A replaced convolution is packed again from its new weights, with the same results as a
        // graph built with them.
        guard case .convolution(var first) = g.nodes[0].op else { Issue.record("node 0 is not a convolution"); return }
        first.weights = first.weights.map { $0 * 0.5 }
        var changed = g
        changed.nodes[0].op = .convolution(first)
        let variant = try e.replacingConstants([:], convolutionWeights: ["conv0": first.weights])
        #expect(try variant.convolutionWeights(named: "conv0") == first.weights)
        for x in [small, large] {
            let a = try variant.run([x])[0].toArray(), b = try Self.referenceChain(changed, x)
            #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-4 * max(1, b.map(abs).max()!))
        }
        #expect(throws: GraphError.self) { try e.replacingConstants([:], convolutionWeights: ["conv0": [1, 2, 3]]) }
    }

    @Test("a batch of two gives each image's own result")
    func batch() throws {
        let g = Self.chain(depth: 3, channels: 8)
        let e = try GraphExecutor(graph: g, pool: ComputePool(threads: 2))
        let a = Self.input(n: 1, c: 8, h: 10, w: 7, seed: 1), b = Self.input(n: 1, c: 8, h: 10, w: 7, seed: 2)
        let both = Tensor(shape: Shape(n: 2, c: 8, h: 10, w: 7), values: a.toArray() + b.toArray())
        let out = try e.run([both])[0].toArray()
        let ra = try e.run([a])[0].toArray(), rb = try e.run([b])[0].toArray()
        #expect(zip(out, ra + rb).map { abs($0 - $1) }.max()! < 1e-5)
    }

    @Test("at bf16, consecutive convolutions run as one chain (bf16 between layers) within the bf16 bound of fp32")
    func bf16ConvolutionChains() throws {
        let c = 24
        let g = Self.chain(depth: 5, channels: c)
        let bf16 = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), precision: .bf16)
        let probe = try Conv2D(weights: [Float](repeating: 0, count: c * c * 9), bias: nil,
                               parameters: ConvolutionParameters(inputChannels: c, outputChannels: c, kernel: (3, 3), padding: Padding(1)))
        if probe.hasBF16Path {
            // After fusion: five convolutions, the last one carrying the residual (not chained).
            #expect(bf16.convolutionChains.map { [$0.first, $0.last] } == [[0, 3]])
        }
        #expect(try GraphExecutor(graph: g, pool: ComputePool(threads: 2)).convolutionChains.isEmpty)
        let fp32 = try GraphExecutor(graph: g, pool: ComputePool(threads: 2))
        for (n, h, w) in [(1, 13, 40), (2, 5, 9), (1, 13, 40)] {
            let x = Self.input(n: n, c: c, h: h, w: w, seed: h)
            let a = try bf16.run([x])[0].toArray(), b = try fp32.run([x])[0].toArray()
            let scale = max(1, b.map(abs).max()!)
            #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 2e-2 * scale)
        }
    }

    /// With AVX512-BF16 and no AMX, layers fp32 runs with Winograd (3x3 stride 1) stay fp32:
    /// dot products would be slower there (``KernelPath/bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)``);
    /// a run of 1x1 layers runs bf16 as a chain. With AMX every layer runs bf16.
    @Test("at bf16 on AVX512-BF16, Winograd-eligible 3x3 layers stay fp32 while 1x1 layers chain in bf16",
          .enabled(if: KernelPath.current.computesBF16, "this CPU has neither AMX nor AVX512-BF16"))
    func bf16LayerChoicePerPath() throws {
        let c = 24
        var g = Graph()
        let x = g.addValue(named: "x")
        g.inputs = [x]
        var v = x
        for (i, k) in [3, 3, 1, 1].enumerated() {
            let out = g.addValue(named: "conv\(i)")
            g.nodes.append(Node(name: "conv\(i)", op: .convolution(Convolution(
                outChannels: c, inChannels: c, kernel: (k, k), padding: Padding(k / 2),
                weights: (0..<(c * c * k * k)).map { Float(($0 * 37 + i) % 19) / 190 - 0.05 }, bias: [Float](repeating: 0.01, count: c))),
                inputs: [v], output: out))
            v = out
        }
        g.outputs = [v]
        let bf16 = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), precision: .bf16)
        switch KernelPath.current {
        case .amx:
            #expect(bf16.convolutionChains.map { [$0.first, $0.last] } == [[0, 3]])
            #expect(bf16.bf16Convolutions == [0, 1, 2, 3])
        default:
            #expect(bf16.convolutionChains.map { [$0.first, $0.last] } == [[2, 3]])
            #expect(bf16.bf16Convolutions == [2, 3])
        }
        #expect(try GraphExecutor(graph: g, pool: ComputePool(threads: 2)).bf16Convolutions.isEmpty)
        let x0 = Self.input(n: 1, c: c, h: 9, w: 11, seed: 3)
        let a = try bf16.run([x0])[0].toArray(), b = try GraphExecutor(graph: g, pool: ComputePool(threads: 2)).run([x0])[0].toArray()
        let scale = max(1, b.map(abs).max()!)
        #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 2e-2 * scale)
    }

    @Test("an output the caller still holds is never reused; a dropped one is")
    func outputStorageReuse() throws {
        let g = Self.chain(depth: 2, channels: 8)
        let e = try GraphExecutor(graph: g, pool: ComputePool(threads: 2))
        let a = Self.input(n: 1, c: 8, h: 6, w: 9, seed: 1), b = Self.input(n: 1, c: 8, h: 6, w: 9, seed: 2)
        let expectedA = try GraphExecutor(graph: g, pool: ComputePool(threads: 1)).run([a])[0].toArray()
        let expectedB = try GraphExecutor(graph: g, pool: ComputePool(threads: 1)).run([b])[0].toArray()
        let held = try e.run([a])[0]
        let second = try e.run([b])[0]
        #expect(held.storage !== second.storage)
        #expect(held.toArray() == expectedA)
        #expect(second.toArray() == expectedB)
        let address = UInt(bitPattern: second.storage.pointer)
        _ = consume second
        var again = try e.run([a])[0]
        #expect(UInt(bitPattern: again.storage.pointer) == address)
        #expect(again.toArray() == expectedA)
        #expect(held.toArray() == expectedA)
        again = try e.run([b])[0]
        #expect(again.toArray() == expectedB)
    }

    @Test("shape errors name the node and the shapes")
    func shapeErrors() {
        let g = Self.chain(depth: 1, channels: 8)
        #expect {
            _ = try g.inferShapes([Shape(n: 1, c: 3, h: 8, w: 8)])
        } throws: { ($0 as? GraphError)?.message.contains("conv0") == true }
    }

    @Test("bicubic ×0.5 resize matches a direct evaluation of the A=-0.75 kernel with clamped borders")
    func bicubicResize() throws {
        var g = Graph()
        let x = g.addValue(named: "x"), y = g.addValue(named: "y")
        g.inputs = [x]
        g.outputs = [y]
        g.nodes = [Node(name: "r", op: .resize(Resize(mode: .bicubic, scaleH: 0.5, scaleW: 0.5)), inputs: [x], output: y)]
        let input = Self.input(n: 1, c: 1, h: 8, w: 6, seed: 5)
        let out = try GraphExecutor(graph: g, pool: ComputePool(threads: 1)).run([input])[0]
        #expect(out.shape == Shape(n: 1, c: 1, h: 4, w: 3))
        func cubic(_ t: Double) -> Double {
            let a = -0.75, t = abs(t)
            if t <= 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
            return 0
        }
        let v = input.toArray()
        for oy in 0..<4 {
            for ox in 0..<3 {
                let sy = (Double(oy) + 0.5) * 2 - 0.5, sx = (Double(ox) + 0.5) * 2 - 0.5
                var acc = 0.0
                for iy in Int(sy.rounded(.down)) - 1...Int(sy.rounded(.down)) + 2 {
                    for ix in Int(sx.rounded(.down)) - 1...Int(sx.rounded(.down)) + 2 {
                        let cy = min(max(iy, 0), 7), cx = min(max(ix, 0), 5)
                        acc += Double(v[cy * 6 + cx]) * cubic(sy - Double(iy)) * cubic(sx - Double(ix))
                    }
                }
                #expect(abs(Double(out[0, 0, oy, ox]) - acc) < 1e-5)
            }
        }
    }

    /// A dense block: c_k = conv(concat(x, c_1, ..., c_{k-1})), as in RRDB.
    static func denseBlock(growth: Int = 4, channels c: Int = 6, steps: Int = 3) -> Graph {
        var g = Graph()
        let input = g.addValue(named: "in")
        g.inputs = [input]
        let x = g.addValue(named: "x")
        var seed: UInt32 = 11
        func rnd() -> Float { seed = seed &* 1_103_515_245 &+ 12345; return Float(Int(seed >> 16) % 200 - 100) / 500 }
        func conv(_ name: String, _ input: ValueID, _ inC: Int, _ outC: Int, _ out: ValueID) -> Node {
            Node(name: name, op: .convolution(Convolution(outChannels: outC, inChannels: inC, kernel: (3, 3), padding: Padding(1),
                 weights: (0..<(outC * inC * 9)).map { _ in rnd() }, bias: (0..<outC).map { _ in rnd() },
                 activation: .leakyReLU(slope: 0.2))), inputs: [input], output: out)
        }
        g.nodes.append(conv("stem", input, 3, c, x))
        var features = [x]
        var width = c
        for k in 0..<steps {
            let cat = g.addValue(named: "cat\(k)")
            g.nodes.append(Node(name: "cat\(k)", op: .concat, inputs: features, output: cat))
            let f = g.addValue(named: "f\(k)")
            g.nodes.append(conv("conv\(k)", cat, width, growth, f))
            features.append(f)
            width += growth
        }
        let cat = g.addValue(named: "catLast")
        g.nodes.append(Node(name: "catLast", op: .concat, inputs: features, output: cat))
        let out = g.addValue(named: "out")
        g.nodes.append(conv("fuse", cat, width, c, out))
        g.outputs = [out]
        return g
    }

    @Test("dense-block concatenations are assembled in place (no copies) with unchanged results")
    func inPlaceConcat() throws {
        var g = Self.denseBlock()
        g.optimize()
        let shapes = try g.inferShapes([Shape(n: 1, c: 3, h: 7, w: 9)])
        let plan = MemoryPlan(graph: g, shapes: shapes)
        #expect(plan.assembledNodes.count == 4, "every concat is a view of the last one")
        // Batch 2 is planned with copies (channel slices are not contiguous across images).
        let plan2 = MemoryPlan(graph: g, shapes: try g.inferShapes([Shape(n: 2, c: 3, h: 7, w: 9)]))
        #expect(plan2.assembledNodes.isEmpty)
        let e = try GraphExecutor(graph: g, pool: ComputePool(threads: 2))
        let a = Self.input(n: 1, c: 3, h: 7, w: 9, seed: 4), b = Self.input(n: 1, c: 3, h: 7, w: 9, seed: 9)
        let both = Tensor(shape: Shape(n: 2, c: 3, h: 7, w: 9), values: a.toArray() + b.toArray())
        let batched = try e.run([both])[0].toArray()
        let single = try e.run([a])[0].toArray() + e.run([b])[0].toArray()
        #expect(zip(batched, single).map { abs($0 - $1) }.max()! < 1e-5)
    }
}
