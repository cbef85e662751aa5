import Kernels
import Tensor

extension Graph {
    /// The most elements one value may have (1 GiB of floats): larger shapes come from
    /// malformed models, not from any network this engine runs, and must fail before a buffer
    /// is allocated.
    public static let maximumElements = 1 << 28

    /// The element count of `dims`, or nil when it overflows or exceeds ``maximumElements``.
    public static func boundedCount(_ dims: [Int]) -> Int? {
        var count = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maximumElements else { return nil }
            count = p
        }
        return count
    }
}

extension Node {
    /// Output shapes of the rank-N tensor ops (ONNX semantics).
    /// - Parameter constants: the contents of inputs that are graph constants (nil elsewhere).
    func tensorOutputShape(_ ins: [Shape], fail: (String) -> GraphError) throws -> Shape {
        func need(_ n: ClosedRange<Int>) throws {
            guard n.contains(ins.count) else { throw fail("expects \(n.lowerBound == n.upperBound ? "\(n.lowerBound)" : "\(n)") inputs") }
        }
        func axis(_ a: Int, rank: Int, inclusive: Bool = false) throws -> Int {
            let ax = a < 0 ? a + rank : a
            guard ax >= 0, ax < rank || (inclusive && ax == rank) else { throw fail("axis \(a) out of range for rank \(rank)") }
            return ax
        }
        let x = ins.first?.dims ?? []
        switch op {
        case .matMul:
            try need(2...2)
            let a = x, b = ins[1].dims
            guard !a.isEmpty, !b.isEmpty else { throw fail("operands must not be scalars") }
            let aS = a.count == 1 ? [1, a[0]] : a, bS = b.count == 1 ? [b[0], 1] : b
            guard aS[aS.count - 1] == bS[bS.count - 2], let batch = Layout.broadcast([Array(aS.dropLast(2)), Array(bS.dropLast(2))]) else {
                throw fail("shapes do not multiply")
            }
            var s = batch + [aS[aS.count - 2], bS[bS.count - 1]]
            if a.count == 1 { s.remove(at: s.count - 2) }
            if b.count == 1 { s.removeLast() }
            return Shape(s)
        case .gemm(let g):
            try need(2...3)
            let a = x, b = ins[1].dims
            guard a.count == 2, b.count == 2 else { throw fail("operands must be matrices") }
            let (m, k) = g.transA ? (a[1], a[0]) : (a[0], a[1])
            let (k2, n) = g.transB ? (b[1], b[0]) : (b[0], b[1])
            guard k == k2 else { throw fail("inner extents \(k) and \(k2) differ") }
            if ins.count == 3, Layout.broadcast([ins[2].dims, [m, n]]) != [m, n] { throw fail("c does not broadcast to [\(m), \(n)]") }
            return Shape([m, n])
        case .attention:
            try need(3...3)
            let (q, k, v) = (x, ins[1].dims, ins[2].dims)
            guard q.count >= 2, k.count == q.count, v.count == q.count, q.dropLast(2) == k.dropLast(2), k.dropLast(2) == v.dropLast(2),
                  q[q.count - 1] == k[k.count - 1], k[k.count - 2] == v[v.count - 2] else {
                throw fail("queries [..., T, D], keys [..., S, D] and values [..., S, Dv] do not fit")
            }
            return Shape(q.dropLast() + [v[v.count - 1]])
        case .attentionFeatureMajor:
            try need(3...3)
            let (q, k, v) = (x, ins[1].dims, ins[2].dims)
            guard q.count >= 2, k.count == q.count, v.count == q.count, q.dropLast(2) == k.dropLast(2), k.dropLast(2) == v.dropLast(2),
                  q[q.count - 2] == k[k.count - 2], k[k.count - 1] == v[v.count - 1] else {
                throw fail("queries [..., D, T], keys [..., D, S] and values [..., Dv, S] do not fit")
            }
            return Shape(q.dropLast(2) + [v[v.count - 2], q[q.count - 1]])
        case .attentionHeads(let heads, _):
            try need(3...3)
            let (q, k, v) = (x, ins[1].dims, ins[2].dims)
            guard heads > 0, q.count == 3, k.count == 3, v.count == 3, q[0] == k[0], k[0] == v[0], k[1] == v[1], q[2] == k[2],
                  q[2] % heads == 0, v[2] % heads == 0 else {
                throw fail("queries [N, T, \(heads)·D], keys [N, S, \(heads)·D] and values [N, S, \(heads)·Dv] do not fit")
            }
            return Shape([q[0], q[1], v[2]])
        case .gatedGELU:
            try need(1...1)
            guard let last = x.last, last % 2 == 0 else { throw fail("the last extent must be even") }
            return Shape(x.dropLast() + [last / 2])
        case .softmax(let a):
            try need(1...1)
            _ = try axis(a, rank: x.count)
            return ins[0]
        case .normalization(let norm):
            if case .groupChain(_, _, _, let residual) = norm {
                try need(residual ? 4...4 : 3...3)
                if residual, ins[3] != ins[0] { throw fail("the residual must have the input's shape") }
            } else {
                try need(1...3)
            }
            let count: Int
            switch norm {
            case .layer(let a, _):
                let ax = try axis(a, rank: x.count)
                count = x[ax...].reduce(1, *)
            case .group(let groups, _), .groupChain(let groups, _, _, _):
                guard x.count >= 2, groups > 0, x[1] % groups == 0 else { throw fail("\(groups) groups do not divide the channels") }
                count = x[1]
            case .instance, .channel:
                guard x.count >= 2 else { throw fail("needs a channel dimension") }
                count = x[1]
            }
            for s in ins.dropFirst().prefix(2) where s.count != count { throw fail("scale and bias need \(count) values") }
            return ins[0]
        case .unary, .clip:
            try need(1...1)
            return ins[0]
        case .elementwise:
            try need(2...2)
            guard let s = Layout.broadcast([x, ins[1].dims]) else { throw fail("shapes do not broadcast") }
            return Shape(s)
        case .select:
            try need(3...3)
            guard let s = Layout.broadcast(ins.map(\.dims)) else { throw fail("shapes do not broadcast") }
            return Shape(s)
        case .gather(let a):
            try need(2...2)
            let ax = try axis(a, rank: x.count)
            return Shape(Array(x[..<ax]) + ins[1].dims + Array(x[(ax + 1)...]))
        case .concatenate(let a):
            guard !ins.isEmpty else { throw fail("needs inputs") }
            let ax = try axis(a, rank: x.count)
            var dims = x
            dims[ax] = 0
            for s in ins {
                guard s.rank == x.count, (0..<x.count).allSatisfy({ $0 == ax || s.dims[$0] == x[$0] }) else {
                    throw fail("extents differ off the concatenation axis")
                }
                dims[ax] += s.dims[ax]
            }
            return Shape(dims)
        case .slice(let sl):
            try need(1...1)
            guard let r = sl.resolved(x) else { throw fail("malformed slice \(sl.starts)..\(sl.ends) axes \(sl.axes) steps \(sl.steps)") }
            var dims = x
            for p in r { dims[p.axis] = p.count }
            return Shape(dims)
        case .reshape(let target):
            try need(1...2)
            if ins.count == 2 {
                guard ins[1].count == ins[0].count else { throw fail("cannot view \(ins[0]) as \(ins[1])") }
                return ins[1]
            }
            return Shape(try Self.reshapeTarget(x, target, fail: fail))
        case .transpose(let perm):
            try need(1...1)
            guard perm.count == x.count, Set(perm) == Set(0..<x.count) else { throw fail("\(perm) is not a permutation") }
            return Shape(perm.map { x[$0] })
        case .expand(let target):
            try need(1...1)
            guard target.allSatisfy({ $0 >= 0 }), let s = Layout.broadcast([x, target]) else { throw fail("cannot expand to \(target)") }
            return Shape(s)
        case .reduce(_, let axes, let keep):
            try need(1...1)
            let ax = Set(try axes.map { try axis($0, rank: x.count) })
            let all = axes.isEmpty
            let dims = x.indices.compactMap { i -> Int? in
                if all || ax.contains(i) { return keep ? 1 : nil }
                return x[i]
            }
            return Shape(dims)
        case .shapeOf(let start, let end):
            try need(1...1)
            return Shape([Self.shapeRange(x.count, start: start, end: end).count])
        default:
            throw fail("not a tensor op")
        }
    }

    /// ONNX Reshape's target: `0` copies the input's extent at that position, one `-1` is
    /// inferred from the element count.
    static func reshapeTarget(_ x: [Int], _ target: [Int], fail: (String) -> GraphError) throws -> [Int] {
        var dims = target
        var infer: Int? = nil
        for (i, d) in target.enumerated() {
            if d == 0 {
                guard i < x.count else { throw fail("0 at position \(i) of \(target) copies no input extent") }
                dims[i] = x[i]
            } else if d == -1 {
                guard infer == nil else { throw fail("\(target) infers more than one extent") }
                infer = i
            } else if d < -1 {
                throw fail("negative extent in \(target)")
            }
        }
        guard let total = Graph.boundedCount(x) else { throw fail("input too large") }
        if let i = infer {
            dims[i] = 1
            guard let known = Graph.boundedCount(dims), known > 0, total % known == 0 else {
                throw fail("cannot infer an extent of \(target) for \(total) elements")
            }
            dims[i] = total / known
        }
        guard Graph.boundedCount(dims) == total else { throw fail("\(target) does not hold \(total) elements") }
        return dims
    }

    /// The dimensions ONNX Shape's `start`/`end` select (negative count from the end, clamped).
    static func shapeRange(_ rank: Int, start: Int, end: Int?) -> Range<Int> {
        let lo = min(max(start < 0 ? start + rank : start, 0), rank)
        let e = end ?? rank
        let hi = min(max(e < 0 ? e + rank : e, 0), rank)
        return lo < hi ? lo..<hi : lo..<lo
    }
}
