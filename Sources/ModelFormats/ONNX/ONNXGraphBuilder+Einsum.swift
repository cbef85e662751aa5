import Graph
import Kernels
import Tensor

/// Einsum as graph ops: one operand is a sum and a transpose; two operands are a batched
/// matrix product between transposes and reshapes (batch labels, kept labels of each operand,
/// contracted labels), after summing labels that appear in one operand only.
extension ONNXGraphBuilder {
    mutating func einsum(_ eq: EinsumEquation, node: ONNXModel.ImportedNode, operands: [ValueID],
                         unsupported: (String) -> ModelFormatError) throws -> ValueID {
        guard operands.count == eq.inputs.count else { throw unsupported("\(operands.count) operands for \(eq.inputs.count) terms") }
        let dims = operands.map { shapes[$0]?.dims ?? [] }
        // The ellipsis becomes fresh labels, right-aligned across operands.
        var ellipsis = 0
        for (labels, d) in zip(eq.inputs, dims) where labels.contains(".") { ellipsis = max(ellipsis, d.count - (labels.count - 1)) }
        let fresh = (0..<ellipsis).map { Character(UnicodeScalar(0x2460 + $0)!) }
        func expand(_ labels: [Character], rank: Int?) throws -> [Character] {
            guard let dot = labels.firstIndex(of: ".") else { return labels }
            let k = rank.map { $0 - (labels.count - 1) } ?? ellipsis
            guard k >= 0, k <= ellipsis else { throw unsupported("ellipsis does not fit the operand ranks") }
            return Array(labels[..<dot]) + fresh.suffix(k) + Array(labels[(dot + 1)...])
        }
        let terms = try zip(eq.inputs, dims).map { try expand($0, rank: $1.count) }
        let output = try expand(eq.output, rank: nil)
        var extent: [Character: Int] = [:]
        for (labels, d) in zip(terms, dims) {
            guard labels.count == d.count else { throw unsupported("term \(String(labels)) for shape \(d)") }
            for (l, e) in zip(labels, d) {
                if let known = extent[l], known != e { throw unsupported("label \(l) is \(known) and \(e) (broadcasting)") }
                extent[l] = e
            }
        }
        var step = 0
        func name() -> String { step += 1; return "\(node.name)/einsum\(step)" }
        // Sums over labels only one operand has and the output lacks.
        var values = operands
        var labels = terms
        for i in values.indices {
            let others = Set(labels.indices.filter { $0 != i }.flatMap { labels[$0] })
            let summed = labels[i].indices.filter { !output.contains(labels[i][$0]) && !others.contains(labels[i][$0]) }
            if summed.isEmpty { continue }
            values[i] = try emit(.reduce(.sum, axes: summed, keepDimensions: false), [values[i]], name: name())
            labels[i] = labels[i].enumerated().filter { !summed.contains($0.offset) }.map(\.element)
        }
        func permute(_ v: ValueID, from: [Character], to: [Character]) throws -> ValueID {
            let perm = to.map { from.firstIndex(of: $0)! }
            return perm == Array(perm.indices) ? v : try emit(.transpose(perm), [v], name: name())
        }
        if values.count == 1 {
            guard Set(labels[0]) == Set(output) else { throw unsupported("output labels \(String(output))") }
            return try permute(values[0], from: labels[0], to: output)
        }
        let (a, b) = (labels[0], labels[1])
        let batch = output.filter { a.contains($0) && b.contains($0) }
        let contracted = a.filter { b.contains($0) && !output.contains($0) }
        let aKept = output.filter { a.contains($0) && !b.contains($0) }
        let bKept = output.filter { b.contains($0) && !a.contains($0) }
        guard Set(batch + aKept + bKept) == Set(output), output.count == batch.count + aKept.count + bKept.count else {
            throw unsupported("output labels \(String(output))")
        }
        func size(_ ls: [Character]) -> Int { ls.reduce(1) { $0 * extent[$1]! } }
        let (nb, m, k, n) = (size(batch), size(aKept), size(contracted), size(bKept))
        let lhs = try emit(.reshape([nb, m, k]), [try permute(values[0], from: a, to: batch + aKept + contracted)], name: name())
        let rhs = try emit(.reshape([nb, k, n]), [try permute(values[1], from: b, to: batch + contracted + bKept)], name: name())
        let product = try emit(.matMul, [lhs, rhs], name: name())
        let grouped = batch + aKept + bKept
        let unflat = try emit(.reshape(grouped.map { extent[$0]! }), [product], name: name())
        return try permute(unflat, from: grouped, to: output)
    }
}
