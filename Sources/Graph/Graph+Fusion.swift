import Kernels
import Tensor
extension Graph {
    /// Runs every rewrite that makes execution cheaper without changing results beyond
    /// float reassociation: activation fusion into producers, residual-add fusion into
    /// convolution epilogues, pixel-shuffle + nearest-upsample residual fusion, then dead-node removal.
    /// SiLU written as `x * sigmoid(x)` becomes one op first, so that it can fuse too.
    public mutating func optimize() {
        optimize(inputShapes: nil)
    }

    /// ``optimize()`` for graphs built for known input shapes: then a broadcasting add of two
    /// values found to have one shape also folds into a convolution's epilogue.
    public mutating func optimize(inputShapes: [Shape]?) {
        fuseSiLU()
        fuseActivations()
        if let shapes = inputShapes.flatMap({ try? inferShapes($0) }) { fuseAttention(shapes: shapes) }
        fuseFeatureMajorAttention(shapes: inputShapes.flatMap { try? inferShapes($0) })
        if let shapes = inputShapes.flatMap({ try? inferShapes($0) }) { fuseNormChains(shapes: shapes) }
        fuseResidualAdds(shapes: inputShapes.flatMap { try? inferShapes($0) })
        fuseShuffleAdds()
        removeDeadNodes()
    }

    /// Folds an activation into the convolution, deconvolution or fully connected layer that
    /// produces its only input, when nothing else reads that layer's raw output.
    public mutating func fuseActivations() {
        var counts = consumerCounts()
        var producer = producers()
        var removed = Set<Int>()
        for i in nodes.indices {
            guard let act = Self.activation(of: nodes[i].op), nodes[i].inputs.count == 1, let src = nodes[i].inputs.first,
                  counts[src.index] == 1, let p = producer[src.index], !removed.contains(p) else { continue }
            var fused = true
            switch nodes[p].op {
            case .convolution(var c) where c.activation == .none && c.residual == nil:
                c.activation = act
                nodes[p].op = .convolution(c)
            case .deconvolution(var d) where d.activation == .none:
                d.activation = act
                nodes[p].op = .deconvolution(d)
            case .innerProduct(var ip) where ip.activation == .none:
                ip.activation = act
                nodes[p].op = .innerProduct(ip)
            default:
                fused = false
            }
            guard fused else { continue }
            // The producer now writes the activation's output value directly.
            nodes[p].output = nodes[i].output
            producer[nodes[i].output.index] = p
            counts[src.index] = 0
            removed.insert(i)
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// The epilogue activation an element-wise op is, if any (the tensor ops' unary ReLU,
    /// sigmoid, SiLU and clip are the image ops' activations under other names).
    static func activation(of op: Op) -> Activation? {
        switch op {
        case .activation(let a): return a
        case .unary(.relu): return .relu
        case .unary(.sigmoid): return .sigmoid
        case .unary(.silu): return .silu
        default: return nil
        }
    }

    /// Rewrites `y = x * sigmoid(x)` (either operand order, the sigmoid read by nothing else)
    /// into `y = silu(x)`: one pass over the tensor instead of two.
    public mutating func fuseSiLU() {
        let counts = consumerCounts()
        let producer = producers()
        let kept = Set(outputs)
        var removed = Set<Int>()
        for i in nodes.indices {
            guard case .elementwise(.mul) = nodes[i].op, nodes[i].inputs.count == 2 else { continue }
            let (a, b) = (nodes[i].inputs[0], nodes[i].inputs[1])
            for (x, s) in [(a, b), (b, a)] {
                guard let p = producer[s.index], !removed.contains(p), nodes[p].inputs == [x], counts[s.index] == 1, !kept.contains(s),
                      Self.activation(of: nodes[p].op) == .sigmoid else { continue }
                nodes[i].op = .unary(.silu)
                nodes[i].inputs = [x]
                removed.insert(p)
                break
            }
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Folds `a*conv(x) + b*r` (an eltwise sum or a binary add of two same-shaped values) into
    /// the convolution's epilogue when nothing else reads the convolution's output; a second
    /// such sum on an already fused convolution folds in as a second residual.
    /// - Parameter shapes: every value's shape, when known.
    public mutating func fuseResidualAdds(shapes: [Shape?]? = nil) {
        var counts = consumerCounts()
        var producer = producers()
        var removed = Set<Int>()
        for i in nodes.indices {
            let node = nodes[i]
            guard node.inputs.count == 2 else { continue }
            var coefficients: (Float, Float)
            switch node.op {
            case .eltwise(.sum(let k)): coefficients = k.isEmpty ? (1, 1) : (k[0], k[1])
            case .binary(.add): coefficients = (1, 1)
            case .elementwise(.add):
                // Broadcasting unless the shapes are known to agree.
                guard let shapes, let s = shapes[node.output.index], node.inputs.allSatisfy({ shapes[$0.index] == s }) else { continue }
                coefficients = (1, 1)
            default: continue
            }
            // Prefer the later-produced convolution so the residual is already computed.
            var candidates: [(conv: Int, other: Int, scale: Float, otherScale: Float, late: Bool)] = []
            for (k, v) in node.inputs.enumerated() {
                guard counts[v.index] == 1, let p = producer[v.index], !removed.contains(p),
                      case .convolution(let c) = nodes[p].op, c.residual?.secondScale == nil else { continue }
                let other = node.inputs[1 - k]
                guard other != v else { continue }
                // The residual must exist before the convolution runs: when it is produced after
                // the convolution, the fused node moves to the add's place (its inputs are all
                // ready there, and the add was the only reader of its output).
                let late = producer[other.index].map { $0 >= p } ?? false
                candidates.append((p, 1 - k, k == 0 ? coefficients.0 : coefficients.1, k == 0 ? coefficients.1 : coefficients.0, late))
            }
            guard let pick = candidates.max(by: { $0.conv < $1.conv }) else { continue }
            guard case .convolution(var c) = nodes[pick.conv].op else { continue }
            // Shapes must agree; binary add could broadcast, which the epilogue does not do.
            if case .binary = node.op, !sameShapeKnown(node.inputs) { continue }
            if let r = c.residual {
                // k0 * (s * act + rs * r1) + k1 * r2: fold the second sum into the same pass.
                c.residual = Residual(scale: pick.scale * r.scale, residualScale: pick.scale * r.residualScale,
                                      secondScale: pick.otherScale)
            } else {
                c.residual = Residual(scale: pick.scale, residualScale: pick.otherScale)
            }
            nodes[pick.conv].op = .convolution(c)
            nodes[pick.conv].inputs.append(node.inputs[pick.other])
            let convOut = nodes[pick.conv].output
            nodes[pick.conv].output = node.output
            counts[convOut.index] = 0
            if pick.late {
                nodes[i] = nodes[pick.conv]
                producer[node.output.index] = i
                removed.insert(pick.conv)
            } else {
                producer[node.output.index] = pick.conv
                removed.insert(i)
            }
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Rewrites `pixelShuffle(a, r) + resize(x, nearest, r)` into one ``Op/shuffleAdd(factor:)``.
    public mutating func fuseShuffleAdds() {
        let counts = consumerCounts()
        let producer = producers()
        for i in nodes.indices {
            guard case .binary(.add) = nodes[i].op, nodes[i].inputs.count == 2 else { continue }
            let ins = nodes[i].inputs
            for k in 0..<2 {
                guard let ps = producer[ins[k].index], let pr = producer[ins[1 - k].index],
                      case .pixelShuffle(let r) = nodes[ps].op, counts[ins[k].index] == 1,
                      case .resize(let rs) = nodes[pr].op, rs.mode == .nearest, nodes[pr].inputs.count == 1,
                      rs.scaleH == Float(r), rs.scaleW == Float(r) else { continue }
                nodes[i].op = .shuffleAdd(factor: r)
                nodes[i].inputs = [nodes[ps].inputs[0], nodes[pr].inputs[0]]
                break
            }
        }
    }

    /// Drops nodes whose outputs nobody reads.
    public mutating func removeDeadNodes() {
        var live = Set(outputs)
        var keep = [Bool](repeating: false, count: nodes.count)
        for i in nodes.indices.reversed() where live.contains(nodes[i].output) {
            keep[i] = true
            live.formUnion(nodes[i].inputs)
        }
        nodes = nodes.enumerated().filter { keep[$0.offset] }.map(\.element)
    }

    /// Whether two binary-add operands surely have one shape (so no broadcasting is lost by
    /// fusing): both come from convolutions with the same channel count. Shape inference at
    /// plan time re-checks the spatial extents.
    private func sameShapeKnown(_ values: [ValueID]) -> Bool {
        let producer = producers()
        var channels: [Int] = []
        for v in values {
            guard let p = producer[v.index] else { return false }
            switch nodes[p].op {
            case .convolution(let c): channels.append(c.outChannels)
            default: return false
            }
        }
        return channels.count == 2 && channels[0] == channels[1]
    }
}
