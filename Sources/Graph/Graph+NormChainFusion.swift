import Kernels
import Tensor

extension Graph {
    /// Rewrites a normalization and the per-channel steps after it into one
    /// ``Normalization/groupChain(groups:epsilon:activation:residual:)`` node:
    /// `[reshape to [N, G, L]] → instance or group norm (constant scale and bias) → [reshape back]
    /// → (multiply | add | subtract a constant per channel)* → [activation] → [+ residual]`,
    /// each intermediate read by nothing else. The affine steps fold into one scale and shift
    /// per channel (new constants), so the chain costs two passes over the tensor.
    /// - Parameter shapes: every value's shape (from ``inferShapes(_:)``).
    public mutating func fuseNormChains(shapes: [Shape?]) {
        let counts = consumerCounts()
        let producer = producers()
        var reader = [Int?](repeating: nil, count: valueNames.count)
        for (i, node) in nodes.enumerated() { for v in node.inputs { reader[v.index] = i } }
        let kept = Set(outputs)
        func single(_ v: ValueID) -> Int? {
            counts[v.index] == 1 && !kept.contains(v) ? reader[v.index] : nil
        }
        var removed = Set<Int>()
        var replaced: [Int: Node] = [:]
        for (i, node) in nodes.enumerated() where !removed.contains(i) {
            guard case .normalization(let norm) = node.op, node.inputs.count == 3,
                  let scale = constants[node.inputs[1]], let bias = constants[node.inputs[2]], scale.dtype == .f32, bias.dtype == .f32,
                  let xs = shapes[node.inputs[0].index], xs.rank >= 3 else { continue }
            let epsilon: Float
            switch norm {
            case .instance(let e), .group(_, let e): epsilon = e
            default: continue
            }
            var members: [Int] = []
            var x = node.inputs[0]
            var current = node.output
            var c = xs[1], groups = xs[1]
            if case .group(let g, _) = norm { groups = g }
            var gamma = scale.toArray(), beta = bias.toArray()
            // An instance norm of [N, G, L] reshaped from [N, C, ...] is a group norm of the latter.
            if case .instance = norm, let p = producer[x.index], case .reshape = nodes[p].op, let src = shapes[nodes[p].inputs[0].index],
               src.rank >= 3, src[0] == xs[0], src[1] % xs[1] == 0, src[1] > xs[1], let r = single(current),
               case .reshape = nodes[r].op, shapes[nodes[r].output.index] == src, single(x) == i {
                groups = xs[1]
                c = src[1]
                let per = c / groups
                gamma = (0..<c).map { gamma[$0 / per] }
                beta = (0..<c).map { beta[$0 / per] }
                members.append(r)
                members.insert(p, at: 0)
                x = nodes[p].inputs[0]
                current = nodes[r].output
            }
            guard let outShape = shapes[current.index], gamma.count == c, beta.count == c else { continue }
            let rank = outShape.rank
            /// The per-channel values of a constant operand, if it is one.
            func perChannel(_ v: ValueID) -> [Float]? {
                guard let t = constants[v], t.dtype == .f32, t.shape.rank <= rank else { return nil }
                if t.count == 1 { return [Float](repeating: t.toArray()[0], count: c) }
                let padded = [Int](repeating: 1, count: rank - t.shape.rank) + t.shape.dims
                guard padded[1] == c, padded.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
                return t.toArray()
            }
            var activation: UnaryOp? = nil
            var residual: ValueID? = nil
            while let j = single(current), shapes[nodes[j].output.index] == outShape {
                let n = nodes[j]
                if case .elementwise(let op) = n.op, n.inputs.count == 2, residual == nil, [.mul, .add, .sub].contains(op),
                   n.inputs[0] != n.inputs[1] {
                    let onLeft = n.inputs[0] == current
                    let other = onLeft ? n.inputs[1] : n.inputs[0]
                    if activation == nil, let k = perChannel(other) {
                        for ch in 0..<c {
                            switch op {
                            case .mul: gamma[ch] *= k[ch]; beta[ch] *= k[ch]
                            case .add: beta[ch] += k[ch]
                            default:
                                if onLeft { beta[ch] -= k[ch] } else { gamma[ch] = -gamma[ch]; beta[ch] = k[ch] - beta[ch] }
                            }
                        }
                    } else if op == .add, shapes[other.index] == outShape, constants[other] == nil {
                        // `+ r` of the full shape ends the chain as its residual.
                        residual = other
                    } else {
                        break
                    }
                    members.append(j)
                    current = n.output
                } else if case .unary(let u) = n.op, activation == nil, residual == nil {
                    activation = u
                    members.append(j)
                    current = n.output
                } else {
                    break
                }
            }
            guard let last = members.last ?? Optional(i) else { continue }
            let g = addConstant(named: node.name + "/scale", Tensor(shape: [c], values: gamma))
            let b = addConstant(named: node.name + "/shift", Tensor(shape: [c], values: beta))
            replaced[last] = Node(name: node.name, op: .normalization(.groupChain(groups: groups, epsilon: epsilon, activation: activation,
                                                                                 residual: residual != nil)),
                                  inputs: [x, g, b] + (residual.map { [$0] } ?? []), output: current)
            if last != i { removed.insert(i) }
            removed.formUnion(members.filter { $0 != last })
        }
        guard !replaced.isEmpty else { return }
        nodes = nodes.enumerated().compactMap { k, n in removed.contains(k) && replaced[k] == nil ? nil : (replaced[k] ?? n) }
        let read = Set(nodes.flatMap(\.inputs)).union(outputs)
        constants = constants.filter { read.contains($0.key) }
    }
}
