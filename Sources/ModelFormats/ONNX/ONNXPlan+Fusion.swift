import Kernels
extension ONNXPlan {
    /// Slot readers of a step list: how many steps read each slot, and the last one that does.
    private static func readers(_ steps: [Step]) -> (count: [Int: Int], last: [Int: Int]) {
        var count: [Int: Int] = [:], last: [Int: Int] = [:]
        for (i, step) in steps.enumerated() {
            for s in step.inputs.compactMap({ $0 }) {
                count[s, default: 0] += 1
                last[s] = i
            }
        }
        return (count, last)
    }

    /// Rewrites `y = Conv(x); z = Add(y, r)` (either order, `r` of `y`'s shape) into one
    /// convolution that accumulates onto `r` when the convolution's path can (see
    /// ``PreparedConv/accumulates``) and nothing else reads `y`. The fused step
    /// takes the Add's place, where `r` is known to exist, and `r` becomes its last input.
    static func fuseConvResidual(_ steps: [Step], keep: Set<Int>, shape: (Int) -> [Int]?) -> [Step] {
        let (count, last) = readers(steps)
        var out = steps
        var removed = Set<Int>()
        // An Add fed by two convolutions takes only the first: its other operand must stay a step.
        var targets = Set<Int>()
        for (i, step) in steps.enumerated() where !removed.contains(i) {
            guard let conv = step.preparedConv, conv.accumulates, step.outputs.count == 1, !step.residualInput else { continue }
            let y = step.outputs[0]
            guard count[y] == 1, !keep.contains(y), let j = last[y], j > i, !targets.contains(j),
                  case .binary(.add) = steps[j].op, steps[j].inputs.count == 2, steps[j].outputs.count == 1,
                  let a = steps[j].inputs[0], let b = steps[j].inputs[1], a != b, a == y || b == y else { continue }
            let r = a == y ? b : a
            guard let ys = shape(y), shape(r) == ys, shape(steps[j].outputs[0]) == ys else { continue }
            var fused = step
            fused.inputs.append(r)
            fused.outputs = steps[j].outputs
            fused.residualInput = true
            fused.opType = "Conv+Add"
            out[j] = fused
            targets.insert(j)
            removed.insert(i)
        }
        return out.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Rewrites `InstanceNormalization -> [Reshape] -> (per-channel Mul | Add | Sub)* -> [SiLU]`
    /// into one ``ONNXNormChain`` step when each intermediate value has no other reader.
    static func fuseNormChains(_ steps: [Step], keep: Set<Int>, shape: (Int) -> [Int]?) -> [Step] {
        let (count, last) = readers(steps)
        func onlyReader(_ slot: Int) -> Int? {
            guard count[slot] == 1, !keep.contains(slot) else { return nil }
            return last[slot]
        }
        var out = steps
        var removed = Set<Int>()
        for (i, step) in steps.enumerated() where !removed.contains(i) {
            guard case .instanceNorm(let epsilon) = step.op, step.inputs.count == 3, step.outputs.count == 1,
                  let x = step.inputs[0], let scale = step.inputs[1], let bias = step.inputs[2],
                  let xs = shape(x), xs.count >= 3, xs.allSatisfy({ $0 > 0 }),
                  shape(scale) == [xs[1]], shape(bias) == [xs[1]] else { continue }
            let n = xs[0], groups = xs[1]
            var chain = ONNXNormChain(epsilon: epsilon, channels: groups, links: [], silu: false)
            var current = step.outputs[0], currentShape = xs
            var members: [Int] = []
            var inputs: [Int?] = [x, scale, bias]
            if let j = onlyReader(current), case .reshape = steps[j].op, steps[j].inputs.first == current,
               steps[j].outputs.count == 1, let rs = shape(steps[j].outputs[0]), rs.count >= 2, rs[0] == n,
               rs[1] % groups == 0, rs.reduce(1, *) == xs.reduce(1, *), (xs[2...].reduce(1, *)) % (rs[1] / groups) == 0 {
                members.append(j)
                current = steps[j].outputs[0]
                currentShape = rs
                chain.channels = rs[1]
            }
            while let j = onlyReader(current), steps[j].outputs.count == 1, shape(steps[j].outputs[0]) == currentShape {
                let next = steps[j]
                if case .unary(.silu) = next.op, next.inputs == [current] {
                    chain.silu = true
                    members.append(j)
                    current = next.outputs[0]
                    break
                }
                guard case .binary(let kind) = next.op, [.add, .mul, .sub].contains(kind), next.inputs.count == 2,
                      let a = next.inputs[0], let b = next.inputs[1], a != b, a == current || b == current else { break }
                let operand = a == current ? b : a
                guard let os = shape(operand),
                      ONNXNormChain.isPerChannel(os, n: n, channels: chain.channels, rank: currentShape.count) else { break }
                chain.links.append(.init(kind: kind, chainOnRight: b == current, operand: inputs.count))
                inputs.append(operand)
                members.append(j)
                current = next.outputs[0]
            }
            guard let end = members.last, !chain.links.isEmpty || chain.silu else { continue }
            out[end].inputs = inputs
            out[end].opType = "NormChain"
            out[end].normChain = chain
            removed.insert(i)
            for m in members.dropLast() { removed.insert(m) }
        }
        return out.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Rewrites `S = Einsum(bct,bcs->bts)(q, k); P = Softmax(S, last axis); O = Einsum(bts,bcs->bct)(P, v)`
    /// into one attention step `O = Attention(q, k, v)` when nothing else reads `S` or `P`: the
    /// `T x S` scores then stay in cache (see `Ops.attentionFeatureMajor`).
    static func fuseAttention(_ steps: [Step], keep: Set<Int>, shape: (Int) -> [Int]?) -> [Step] {
        var readers: [Int: Int] = [:]
        for step in steps { for s in step.inputs.compactMap({ $0 }) { readers[s, default: 0] += 1 } }
        var consumer: [Int: Int] = [:]
        for (i, step) in steps.enumerated() { for s in step.inputs.compactMap({ $0 }) { consumer[s] = i } }
        func onlyReader(_ slot: Int) -> Int? {
            guard readers[slot] == 1, !keep.contains(slot) else { return nil }
            return consumer[slot]
        }
        var out = steps
        var removed = Set<Int>()
        for (i, step) in steps.enumerated() where !removed.contains(i) {
            guard case .einsum(let e1) = step.op, isScores(e1), step.inputs.count == 2, step.outputs.count == 1,
                  let q = step.inputs[0], let k = step.inputs[1],
                  let j = onlyReader(step.outputs[0]), j > i, case .softmax(let axis, _) = steps[j].op,
                  steps[j].outputs.count == 1, let sm = steps[j].outputs.first,
                  let n = onlyReader(sm), n > j, case .einsum(let e2) = steps[n].op, isWeightedSum(e2),
                  steps[n].inputs.count == 2, steps[n].inputs[0] == sm, let v = steps[n].inputs[1], v != sm,
                  steps[n].outputs.count == 1,
                  let qs = shape(q), let ks = shape(k), let vs = shape(v),
                  axis == 2 || axis == -1,
                  let os = Self.attentionShape(q: qs, k: ks, v: vs), os == shape(steps[n].outputs[0]) else { continue }
            out[n].op = step.op
            out[n].opType = "Attention"
            out[n].inputs = [q, k, v]
            out[n].attention = true
            removed.insert(i)
            removed.insert(j)
        }
        return out.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// `bct,bcs->bts` (any letters): batch, contracted, query; batch, contracted, key -> batch, query, key.
    private static func isScores(_ e: EinsumEquation) -> Bool {
        guard e.inputs.count == 2, e.inputs[0].count == 3, e.inputs[1].count == 3, e.output.count == 3 else { return false }
        let (a, b, o) = (e.inputs[0], e.inputs[1], e.output)
        return Set(a + b).count == 4 && !a.contains(".") && !b.contains(".")
            && a[0] == b[0] && a[0] == o[0] && a[1] == b[1] && o[1] == a[2] && o[2] == b[2]
    }

    /// `bts,bcs->bct` (any letters): batch, query, key; batch, channel, key -> batch, channel, query.
    private static func isWeightedSum(_ e: EinsumEquation) -> Bool {
        guard e.inputs.count == 2, e.inputs[0].count == 3, e.inputs[1].count == 3, e.output.count == 3 else { return false }
        let (a, b, o) = (e.inputs[0], e.inputs[1], e.output)
        return Set(a + b).count == 4 && !a.contains(".") && !b.contains(".")
            && a[0] == b[0] && a[0] == o[0] && a[2] == b[2] && o[1] == b[1] && o[2] == a[1]
    }
}

extension ONNXPlan {
    /// Runs a fused normalization chain, in the input's buffer when this step is its last reader.
    func runNormChain(_ chain: ONNXNormChain, _ step: Step, _ values: inout [ONNXTensor?]) throws -> ONNXTensor {
        var buffer: [Float]? = nil
        if let s0 = step.inputs[0], step.release.contains(s0), step.inputs.filter({ $0 == s0 }).count == 1,
           var x = values[s0], case .float = x.elements {
            values[s0] = nil
            buffer = x.takeFloats()
            values[s0] = x
        }
        let inputs = try step.inputs.map { slot -> ONNXTensor in
            guard let slot, let t = values[slot] else { throw ONNXRuntimeError("normalization chain input missing") }
            return t
        }
        return try chain.run(inputs, reusing: &buffer, outputShape: expectedShapes[step.outputs[0]] ?? [], pool: pool)
    }
}

extension ONNXPlan {
    /// The residual values of a fused Conv+Add step (nil for other steps): moved out of their slot
    /// when this step is their last reader, so that the convolution accumulates in place.
    func takeResidual(_ step: Step, _ values: inout [ONNXTensor?]) -> [Float]? {
        guard step.residualInput, let slot = step.inputs.last ?? nil, var r = values[slot], case .float = r.elements else { return nil }
        guard step.release.contains(slot), step.inputs.filter({ $0 == slot }).count == 1 else { return r.floats }
        values[slot] = nil
        return r.takeFloats()
    }
}

extension ONNXPlan {
    /// Shape of the attention output for `q [B, C, T]`, `k [B, C, S]`, `v [B, Cv, S]`, or nil when
    /// the operands do not have that form.
    static func attentionShape(q: [Int], k: [Int], v: [Int]) -> [Int]? {
        guard q.count == 3, k.count == 3, v.count == 3, q[0] == k[0], k[0] == v[0], q[1] == k[1], k[2] == v[2],
              q.allSatisfy({ $0 > 0 }), k.allSatisfy({ $0 > 0 }), v.allSatisfy({ $0 > 0 }) else { return nil }
        return [q[0], v[1], q[2]]
    }

    /// Runs a fused attention step on the engine's kernel.
    func runAttention(q: ONNXTensor, k: ONNXTensor, v: ONNXTensor) throws -> ONNXTensor {
        guard let shape = Self.attentionShape(q: q.shape, k: k.shape, v: v.shape),
              case .float = q.elements, case .float = k.elements, case .float = v.elements else {
            throw ONNXRuntimeError("attention operands \(q), \(k), \(v)")
        }
        var out = [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { _, n in n = shape.reduce(1, *) }
        try q.withTensorView { qt in
            try k.withTensorView { kt in
                try v.withTensorView { vt in
                    try out.withMutableTensorView(shape: shape) { o in try Ops.attentionFeatureMajor(q: qt, k: kt, v: vt, into: o, pool: pool) }
                }
            }
        }
        return ONNXTensor(shape: shape, floats: out, type: q.elementType)
    }
}
