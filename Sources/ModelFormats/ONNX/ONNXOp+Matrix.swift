import Kernels
/// MatMul (numpy semantics, batched with broadcasting), Gemm and Einsum on the engine's matrix products.
enum ONNXMatrix {
    static func matMul(_ a: ONNXTensor, _ b: ONNXTensor, pool: ComputePool) throws -> ONNXTensor {
        let y = try a.withTensorView { x in try b.withTensorView { w in try Ops.matmul(x, w, pool: pool) } }
        return ONNXTensor(shape: y.shape.dims, floats: y.toArray(), type: a.elementType)
    }

    static func gemm(_ a: ONNXTensor, _ b: ONNXTensor, _ c: ONNXTensor?, alpha: Float, beta: Float,
                     transA: Bool, transB: Bool, pool: ComputePool) throws -> ONNXTensor {
        let y = try a.withTensorView { at in
            try b.withTensorView { bt in
                if let c {
                    return try c.withTensorView { ct in
                        try Ops.gemm(at, bt, c: ct, alpha: alpha, beta: beta, transA: transA, transB: transB, pool: pool)
                    }
                }
                return try Ops.gemm(at, bt, c: nil, alpha: alpha, beta: beta, transA: transA, transB: transB, pool: pool)
            }
        }
        return ONNXTensor(shape: y.shape.dims, floats: y.toArray(), type: a.elementType)
    }
}

/// A parsed Einsum equation of one or two operands (`bct,bcs->bts`, `...ij,...jk`).
struct EinsumEquation: Sendable {
    /// Labels per operand; `.` stands for the ellipsis.
    let inputs: [[Character]]
    /// Output labels (explicit, or implied: labels used once, in alphabetical order).
    let output: [Character]

    struct ParseError: Error, CustomStringConvertible { let description: String }

    init(_ text: String) throws {
        let compact = text.filter { !$0.isWhitespace }
        let sides = compact.components(separatedBy: "->")
        guard sides.count <= 2 else { throw ParseError(description: "more than one '->'") }
        func labels(_ term: String) throws -> [Character] {
            let t = term.replacingOccurrences(of: "...", with: ".")
            guard t.allSatisfy({ $0.isLetter || $0 == "." }), t.filter({ $0 == "." }).count <= 1 else {
                throw ParseError(description: "bad term '\(term)'")
            }
            return Array(t)
        }
        inputs = try sides[0].split(separator: ",", omittingEmptySubsequences: false).map { try labels(String($0)) }
        guard inputs.count == 1 || inputs.count == 2 else { throw ParseError(description: "\(inputs.count) operands (1 or 2 supported)") }
        for term in inputs where Set(term).count != term.count {
            throw ParseError(description: "a label repeated within one operand (diagonals) is not supported")
        }
        if sides.count == 2 {
            output = try labels(sides[1])
        } else {
            let all = inputs.flatMap { $0 }
            let once = Set(all.filter { c in c != "." && all.filter { $0 == c }.count == 1 })
            output = (all.contains(".") ? ["."] : []) + once.sorted()
        }
    }

    /// Labels per operand and output with the ellipsis spelled out, and each label's extent.
    func resolve(_ shapes: [[Int]]) throws -> (terms: [[Character]], output: [Character], extent: [Character: Int]) {
        guard shapes.count == inputs.count else { throw ONNXRuntimeError("\(shapes.count) operands for \(inputs.count) terms") }
        // The ellipsis becomes private labels (Greek letters never parsed from text), right-aligned.
        let ellRank = zip(inputs, shapes).map { term, s in term.contains(".") ? s.count - (term.count - 1) : 0 }.max() ?? 0
        let ell = (0..<max(ellRank, 0)).map { Character(UnicodeScalar(0x3B1 + $0)!) }
        func expand(_ term: [Character], rank: Int) -> [Character] {
            guard let i = term.firstIndex(of: ".") else { return term }
            let n = max(0, rank - (term.count - 1))
            return Array(term[..<i]) + Array(ell.suffix(n)) + Array(term[(i + 1)...])
        }
        let terms = zip(inputs, shapes).map { expand($0, rank: $1.count) }
        let out = expand(output, rank: output.contains(".") ? (output.count - 1) + ellRank : output.count)
        var extent: [Character: Int] = [:]
        for (term, s) in zip(terms, shapes) {
            guard term.count == s.count else { throw ONNXRuntimeError("term \(String(term)) for shape \(s)") }
            for (c, d) in zip(term, s) {
                if let e = extent[c], e != d, e != 1, d != 1 { throw ONNXRuntimeError("label \(c) has extents \(e) and \(d)") }
                extent[c] = max(extent[c] ?? d, d)
            }
        }
        for c in out where extent[c] == nil { throw ONNXRuntimeError("output label \(c) is in no operand") }
        return (terms, out, extent)
    }

    /// The output shape for operands of these shapes.
    func outputShape(_ shapes: [[Int]]) throws -> [Int] {
        let (_, out, extent) = try resolve(shapes)
        return out.map { extent[$0]! }
    }

    /// Evaluates the equation by summing out private labels, then one batched matrix multiply.
    func evaluate(_ operands: [ONNXTensor], pool: ComputePool) throws -> ONNXTensor {
        guard operands.count == inputs.count else { throw ONNXRuntimeError("\(operands.count) operands for \(inputs.count) terms") }
        var (terms, out, extent) = try resolve(operands.map(\.shape))
        var values = operands
        // Sum out labels that appear in only one operand and not in the output.
        for i in terms.indices {
            let others = terms.enumerated().filter { $0.offset != i }.flatMap(\.element)
            let privateAxes = terms[i].enumerated().filter { !out.contains($0.element) && !others.contains($0.element) }.map(\.offset)
            if !privateAxes.isEmpty {
                values[i] = try ONNXNormalization.reduce(values[i], .sum, axes: privateAxes, keepDims: false, pool: pool)
                terms[i] = terms[i].enumerated().filter { !privateAxes.contains($0.offset) }.map(\.element)
            }
        }
        if terms.count == 1 {
            guard Set(terms[0]) == Set(out) else { throw ONNXRuntimeError("output labels \(String(out)) not in the operand") }
            return try ONNXShapeOps.transpose(values[0], perm: out.map { terms[0].firstIndex(of: $0)! })
        }
        let (ta, tb) = (terms[0], terms[1])
        let batch = out.filter { ta.contains($0) && tb.contains($0) }
        let contracted = ta.filter { tb.contains($0) && !out.contains($0) }
        let freeA = ta.filter { !tb.contains($0) }, freeB = tb.filter { !ta.contains($0) }
        guard Set(out) == Set(batch + freeA + freeB) else { throw ONNXRuntimeError("output labels \(String(out)) not found in the operands") }
        func arrange(_ v: ONNXTensor, _ term: [Character], _ order: [Character]) throws -> [Float] {
            // Broadcast size-1 batch axes up to the common extent before arranging.
            let target = term.map { batch.contains($0) ? extent[$0]! : v.shape[term.firstIndex(of: $0)!] }
            let expanded = target == v.shape ? v : try ONNXShapeOps.expand(v, to: target)
            return try ONNXShapeOps.transpose(expanded, perm: order.map { term.firstIndex(of: $0)! }).floats
        }
        let size = { (labels: [Character]) in labels.reduce(1) { $0 * extent[$1]! } }
        let a = try arrange(values[0], ta, batch + freeA + contracted)
        let b = try arrange(values[1], tb, batch + contracted + freeB)
        let bt = size(batch), m = size(freeA), k = size(contracted), n = size(freeB)
        let product = try a.withTensorView(shape: [bt, m, k]) { x in
            try b.withTensorView(shape: [bt, k, n]) { y in try Ops.matmul(x, y, pool: pool) }
        }
        let labels = batch + freeA + freeB
        let result = ONNXTensor(shape: labels.map { extent[$0]! }, floats: product.toArray(), type: operands[0].elementType)
        return try ONNXShapeOps.transpose(result, perm: out.map { labels.firstIndex(of: $0)! })
    }
}
