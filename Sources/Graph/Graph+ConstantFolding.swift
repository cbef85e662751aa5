import Kernels
import Tensor

extension Graph {
    /// Evaluates, at import, every node whose inputs are all constants (and every ``Op/shapeOf``
    /// whose input's shape is known) through the executor's own kernels, and replaces it by a
    /// constant: shape subgraphs (Shape → Gather → Concat → Reshape) become the static
    /// arguments the importer needs, and constant weight arithmetic costs nothing per run.
    ///
    /// `i64` constants are computed in f32, which holds every integer up to 2^24 exactly: a node
    /// with larger integer inputs is left in the graph. Results of integer inputs are
    /// truncated back to `i64` (integer division truncates, as ONNX's does).
    /// - Parameters:
    ///   - inputShapes: the graph inputs' shapes, when known (then ``Op/shapeOf`` folds too).
    ///   - pool: threads for the evaluation.
    ///   - dropUnread: whether to drop the constants no node or output reads afterwards (an
    ///     importer still adding nodes that read them passes false).
    /// - Returns: the number of nodes folded.
    /// - Throws: ``GraphError`` naming the node whose input shapes do not fit it.
    @discardableResult
    public mutating func foldConstants(inputShapes: [Shape]? = nil, pool: ComputePool = .shared, dropUnread: Bool = true) throws -> Int {
        var shapes = [Shape?](repeating: nil, count: valueNames.count)
        if let inputShapes {
            guard inputShapes.count == inputs.count else {
                throw GraphError(.invalidInput, "graph takes \(inputs.count) inputs, got \(inputShapes.count)")
            }
            for (v, s) in zip(inputs, inputShapes) { shapes[v.index] = s }
        }
        for (v, t) in constants { shapes[v.index] = t.shape }
        var folded = Set<Int>()
        for (i, node) in nodes.enumerated() {
            let inShapes = node.inputs.map { shapes[$0.index] }
            if inShapes.allSatisfy({ $0 != nil }) {
                let out = try node.outputShape(inShapes.map { $0! })
                guard Self.boundedCount(out.dims) != nil else {
                    throw GraphError(.shapeMismatch, "\(node.op.name) \(node.name): output \(out) exceeds \(Self.maximumElements) elements")
                }
                shapes[node.output.index] = out
            }
            if case .shapeOf(let start, let end) = node.op, let s = inShapes.first ?? nil {
                let dims = s.dims[Node.shapeRange(s.rank, start: start, end: end)]
                constants[node.output] = Tensor(shape: [dims.count], int64s: dims.map { Int64($0) })
                folded.insert(i)
                continue
            }
            guard !node.inputs.isEmpty, let args = Self.foldableArguments(node.inputs.map { constants[$0] }),
                  let outShape = shapes[node.output.index] else { continue }
            let integer = node.inputs.contains { constants[$0]?.dtype == .i64 }
            let output = Tensor(zeros: outShape)
            var tensors = [Tensor?](repeating: nil, count: valueNames.count)
            for (v, t) in zip(node.inputs, args) { tensors[v.index] = t }
            tensors[node.output.index] = output
            do {
                try PreparedNode(node: node, precision: .fp32).execute(node: node, tensors: tensors, parallel: Parallel(pool: pool))
            } catch {
                // Shapes were checked above; an op this build cannot evaluate stays a node, and
                // running it reports the error with the node's name.
                continue
            }
            constants[node.output] = integer ? output.converted(to: .i64) : output
            folded.insert(i)
        }
        nodes = nodes.enumerated().filter { !folded.contains($0.offset) }.map(\.element)
        if dropUnread {
            // Constants nobody reads any more (the inputs of folded nodes) are dropped.
            let read = Set(nodes.flatMap(\.inputs)).union(outputs)
            constants = constants.filter { read.contains($0.key) }
        }
        return folded.count
    }

    /// The inputs as the kernels take them (f32; an `i64` gather index stays `i64`), or nil
    /// when one is not a constant or holds an integer f32 cannot represent exactly.
    private static func foldableArguments(_ inputs: [Tensor?]) -> [Tensor]? {
        var out: [Tensor] = []
        for t in inputs {
            guard let t else { return nil }
            switch t.dtype {
            case .f32: out.append(t)
            case .f16, .bf16: out.append(t.converted(to: .f32))
            case .i64:
                let v = t.toInt64Array()
                guard v.allSatisfy({ $0.magnitude <= 1 << 24 }) else { return nil }
                out.append(t.converted(to: .f32))
            }
        }
        return out
    }
}
