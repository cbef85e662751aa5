import CKernels
/// MatMul (numpy semantics, batched with broadcasting), Gemm and Einsum.
enum ONNXMatrix {
    static func matMul(_ a: ONNXTensor, _ b: ONNXTensor) throws -> ONNXTensor {
        guard !a.shape.isEmpty, !b.shape.isEmpty else { throw ONNXRuntimeError("MatMul of a scalar") }
        let aShape = a.shape.count == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.shape.count == 1 ? [b.shape[0], 1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
        let k2 = bShape[bShape.count - 2], n = bShape[bShape.count - 1]
        guard k == k2 else { throw ONNXRuntimeError("inner extents differ: \(a.shape) × \(b.shape)") }
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        guard let batch = ONNXLayout.broadcast([aBatch, bBatch]) else {
            throw ONNXRuntimeError("batch extents \(aBatch) and \(bBatch) do not broadcast")
        }
        let out = batchedMultiply(a.floats, aBatch: aBatch, b.floats, bBatch: bBatch, batch: batch, m: m, n: n, k: k)
        var shape = batch + [m, n]
        if a.shape.count == 1 { shape.remove(at: shape.count - 2) }
        if b.shape.count == 1 { shape.removeLast() }
        return ONNXTensor(shape: shape, floats: out, type: a.elementType)
    }

    /// `[batch..., m, n]` products of broadcast batches of `m×k` and `k×n` matrices.
    static func batchedMultiply(_ a: [Float], aBatch: [Int], _ b: [Float], bBatch: [Int], batch: [Int],
                                m: Int, n: Int, k: Int) -> [Float] {
        let count = batch.reduce(1, *)
        var out = [Float](repeating: 0, count: count * m * n)
        let aStr = ONNXLayout.broadcastStrides(aBatch, to: batch), bStr = ONNXLayout.broadcastStrides(bBatch, to: batch)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    for idx in 0..<count {
                        var rem = idx, ai = 0, bi = 0
                        for d in stride(from: batch.count - 1, through: 0, by: -1) {
                            let coord = rem % batch[d]
                            rem /= batch[d]
                            ai += coord * aStr[d]
                            bi += coord * bStr[d]
                        }
                        ONNXGemm.multiply(m: m, n: n, k: k, a: pa.baseAddress! + ai * m * k, lda: k,
                                          b: pb.baseAddress! + bi * k * n, ldb: n,
                                          c: po.baseAddress! + idx * m * n, ldc: n)
                    }
                }
            }
        }
        return out
    }

    static func gemm(_ a: ONNXTensor, _ b: ONNXTensor, _ c: ONNXTensor?, alpha: Float, beta: Float,
                     transA: Bool, transB: Bool) throws -> ONNXTensor {
        guard a.shape.count == 2, b.shape.count == 2 else { throw ONNXRuntimeError("Gemm needs matrices, got \(a.shape), \(b.shape)") }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let k2 = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        guard k == k2 else { throw ONNXRuntimeError("inner extents differ: \(a.shape) × \(b.shape)") }
        var y: [Float]
        if m == 1 && transB && !transA && n > 0 && k > 0 {
            // A row vector times B^T (linear layers at batch 1): y^T = B a^T, with B (n x k,
            // row-major) packed as the SGEMM's left operand and a read in place as a k x 1
            // column; no transposed copy of B.
            y = [Float](repeating: 0, count: n)
            let av = a.floats, bv = b.floats
            ONNXScratch.shared.with(floats: pg_sgemm_packed_size(Int32(n), Int32(k))) { packed in
                bv.withUnsafeBufferPointer { pb in
                    av.withUnsafeBufferPointer { pa in
                        y.withUnsafeMutableBufferPointer { py in
                            pg_sgemm_pack_a(pb.baseAddress!, k, Int32(n), Int32(k), packed)
                            pg_sgemm_packed(Int32(n), 1, Int32(k), packed, pa.baseAddress!, 1, py.baseAddress!, 1, nil, nil, 0)
                        }
                    }
                }
            }
        } else {
            y = ONNXGemm.multiply(a.floats, b.floats, m: m, n: n, k: k, transA: transA, transB: transB)
        }
        if alpha != 1 { for i in y.indices { y[i] *= alpha } }
        if let c, beta != 0 {
            guard ONNXLayout.broadcast([c.shape, [m, n]]) == [m, n] else {
                throw ONNXRuntimeError("C \(c.shape) does not broadcast to [\(m), \(n)]")
            }
            let cv = ONNXShapeOps.expandValues(c.floats, from: c.shape, to: [m, n])
            for i in y.indices { y[i] += beta * cv[i] }
        }
        return ONNXTensor(shape: [m, n], floats: y, type: a.elementType)
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
    func evaluate(_ operands: [ONNXTensor]) throws -> ONNXTensor {
        guard operands.count == inputs.count else { throw ONNXRuntimeError("\(operands.count) operands for \(inputs.count) terms") }
        var (terms, out, extent) = try resolve(operands.map(\.shape))
        var values = operands
        // Sum out labels that appear in only one operand and not in the output.
        for i in terms.indices {
            let others = terms.enumerated().filter { $0.offset != i }.flatMap(\.element)
            let privateAxes = terms[i].enumerated().filter { !out.contains($0.element) && !others.contains($0.element) }.map(\.offset)
            if !privateAxes.isEmpty {
                values[i] = try ONNXNormalization.reduce(values[i], .sum, axes: privateAxes, keepDims: false)
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
        let product = ONNXMatrix.batchedMultiply(a, aBatch: [bt], b, bBatch: [bt], batch: [bt], m: m, n: n, k: k)
        let labels = batch + freeA + freeB
        let result = ONNXTensor(shape: labels.map { extent[$0]! }, floats: product, type: operands[0].elementType)
        return try ONNXShapeOps.transpose(result, perm: out.map { labels.firstIndex(of: $0)! })
    }
}
