import Kernels
/// MatMul (numpy semantics, batched with broadcasting), Gemm and Einsum on the engine's matrix products.
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
}
