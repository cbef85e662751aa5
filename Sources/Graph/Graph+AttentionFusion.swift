import Kernels
import Tensor

extension Graph {
    /// Rewrites `P = softmax(scale · (A @ B), last axis); O = P @ V` (identity reshapes and one
    /// multiplication or division by a constant scalar allowed between the steps, each
    /// intermediate read by nothing else) into `O = attention(A, Bᵀ, V, scale)`: the `T × S`
    /// scores then never leave the cache. `A` is `[..., T, D]`, `B` `[..., D, S]` (keys
    /// feature-major, as Einsum exports write them), `V` `[..., S, Dv]`, leading extents equal.
    /// - Parameter shapes: every value's shape (from ``inferShapes(_:)``).
    public mutating func fuseAttention(shapes: [Shape?]) {
        var counts = consumerCounts()
        let producer = producers()
        var reader = [Int?](repeating: nil, count: valueNames.count)
        for (i, node) in nodes.enumerated() { for v in node.inputs { reader[v.index] = i } }
        let kept = Set(outputs)
        func single(_ v: ValueID) -> Bool { counts[v.index] == 1 && !kept.contains(v) }
        func sameShape(_ a: ValueID, _ b: ValueID) -> Bool { shapes[a.index] != nil && shapes[a.index] == shapes[b.index] }
        var removed = Set<Int>()
        var replaced: [Int: Node] = [:]
        for (i, node) in nodes.enumerated() {
            guard case .softmax(let axis) = node.op, let xs = shapes[node.inputs[0].index], xs.rank >= 2,
                  axis == -1 || axis == xs.rank - 1 else { continue }
            // Back from the softmax: identity reshapes and a scalar scale, to the first product.
            var chain: [Int] = []
            var v = node.inputs[0]
            var scale: Float = 1
            var first: Int? = nil
            while single(v), let p = producer[v.index], !removed.contains(p) {
                let n = nodes[p]
                if case .reshape = n.op, sameShape(n.inputs[0], v) {
                    chain.append(p)
                    v = n.inputs[0]
                } else if case .elementwise(let op) = n.op, op == .mul || op == .div, n.inputs.count == 2,
                          let c = constants[n.inputs[1]], c.count == 1, c.dtype == .f32, sameShape(n.inputs[0], v) {
                    let s = c.toArray()[0]
                    scale *= op == .mul ? s : 1 / s
                    chain.append(p)
                    v = n.inputs[0]
                } else {
                    if case .matMul = n.op { first = p }
                    break
                }
            }
            guard let mm1 = first, single(v) else { continue }
            // Forward from the softmax: identity reshapes, to the second product's left operand.
            var w = node.output
            var tail: [Int] = []
            var second: Int? = nil
            while single(w), let r = reader[w.index], !removed.contains(r) {
                let n = nodes[r]
                if case .reshape = n.op, sameShape(n.output, w) {
                    tail.append(r)
                    w = n.output
                } else {
                    if case .matMul = n.op, n.inputs.count == 2, n.inputs[0] == w, n.inputs[1] != w { second = r }
                    break
                }
            }
            guard let mm2 = second else { continue }
            let (a, b, vv) = (nodes[mm1].inputs[0], nodes[mm1].inputs[1], nodes[mm2].inputs[1])
            guard let sa = shapes[a.index], let sb = shapes[b.index], let sv = shapes[vv.index], sa.rank >= 2,
                  sb.rank == sa.rank, sv.rank == sa.rank, sa.dims.dropLast(2) == sb.dims.dropLast(2), sb.dims.dropLast(2) == sv.dims.dropLast(2),
                  sa[-1] == sb[-2], sb[-1] == sv[-2] else { continue }
            // The keys move to [..., S, D] in the first product's place.
            var perm = Array(0..<sb.rank)
            perm.swapAt(sb.rank - 1, sb.rank - 2)
            let keys = addValue(named: nodes[mm1].name + "/keys")
            counts.append(1)
            replaced[mm1] = Node(name: nodes[mm1].name + "/keys", op: .transpose(perm), inputs: [b], output: keys)
            replaced[mm2] = Node(name: nodes[mm2].name, op: .attention(scale: scale), inputs: [a, keys, vv], output: nodes[mm2].output)
            removed.insert(i)
            removed.formUnion(chain)
            removed.formUnion(tail)
        }
        guard !replaced.isEmpty else { return }
        nodes = nodes.enumerated().compactMap { k, n in removed.contains(k) ? nil : (replaced[k] ?? n) }
    }

    /// Rewrites an ``Op/attention(scale:)`` whose queries, keys and values are each a transpose
    /// of the last two axes of a feature-major value, and whose result is read only by such a
    /// transpose, into ``Op/attentionFeatureMajor(scale:)`` on the untransposed values: what an
    /// einsum `bct,bcs->bts` / `bts,bcs->bct` export becomes after ``fuseAttention(shapes:)``.
    /// Identity reshapes (the einsum's flattening of one batch axis) may sit between a transpose
    /// and the attention. The transposes and reshapes go (each must be read by nothing else).
    /// - Parameter shapes: value shapes when known (needed to see that a reshape is an identity).
    public mutating func fuseFeatureMajorAttention(shapes: [Shape?]? = nil) {
        let counts = consumerCounts()
        let producer = producers()
        var reader = [Int?](repeating: nil, count: valueNames.count)
        for (i, node) in nodes.enumerated() { for v in node.inputs { reader[v.index] = i } }
        let kept = Set(outputs)
        func single(_ v: ValueID) -> Bool { counts[v.index] == 1 && !kept.contains(v) }
        func isSwap(_ perm: [Int]) -> Bool {
            perm.count >= 2 && perm == Array(0..<(perm.count - 2)) + [perm.count - 1, perm.count - 2]
        }
        func shape(_ v: ValueID) -> Shape? { shapes.flatMap { v.index < $0.count ? $0[v.index] : nil } }
        func identityReshape(_ n: Node) -> Bool {
            guard case .reshape = n.op, n.inputs.count >= 1, let a = shape(n.inputs[0]) else { return false }
            return a == shape(n.output)
        }
        /// The feature-major value behind `v` (and the nodes to drop) when `v` is a last-two-axes
        /// transpose, possibly behind identity reshapes, each read once.
        func untransposed(_ v: ValueID) -> (value: ValueID, nodes: [Int])? {
            var v = v, chain: [Int] = []
            while single(v), let p = producer[v.index] {
                let n = nodes[p]
                if case .transpose(let perm) = n.op, isSwap(perm), n.inputs.count == 1 { return (n.inputs[0], chain + [p]) }
                guard identityReshape(n) else { return nil }
                chain.append(p)
                v = n.inputs[0]
            }
            return nil
        }
        var removed = Set<Int>()
        for i in nodes.indices {
            guard case .attention(let scale) = nodes[i].op, nodes[i].inputs.count == 3,
                  let q = untransposed(nodes[i].inputs[0]), let k = untransposed(nodes[i].inputs[1]),
                  let v = untransposed(nodes[i].inputs[2]) else { continue }
            let dropped = Set(q.nodes + k.nodes + v.nodes)
            guard dropped.count == q.nodes.count + k.nodes.count + v.nodes.count, dropped.isDisjoint(with: removed) else { continue }
            // Forward: identity reshapes, then the transpose back to feature-major.
            var o = nodes[i].output, tail: [Int] = [], last: Int? = nil
            while single(o), let r = reader[o.index] {
                let n = nodes[r]
                if case .transpose(let perm) = n.op, isSwap(perm) { last = r; break }
                guard identityReshape(n) else { break }
                tail.append(r)
                o = n.output
            }
            guard let r = last else { continue }
            // The fused node takes the output transpose's place: every input is ready there.
            nodes[r] = Node(name: nodes[i].name, op: .attentionFeatureMajor(scale: scale), inputs: [q.value, k.value, v.value],
                            output: nodes[r].output)
            removed.insert(i)
            removed.formUnion(dropped)
            removed.formUnion(tail)
        }
        guard !removed.isEmpty else { return }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }
}
