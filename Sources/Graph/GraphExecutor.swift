import Foundation
import Kernels
import Tensor

/// Runs a graph on the compute pool: weights prepared once at construction, one memory plan
/// (buffers reused across layers) per distinct input shape, kept for the next call with that
/// shape, which is what tiled inference hits every time.
///
/// `run` calls are serialized: a plan's buffers are shared by every call with its shape.
public final class GraphExecutor: @unchecked Sendable {
    /// The optimized graph being executed.
    public let graph: Graph
    /// The threads every kernel of this graph runs on.
    public let pool: ComputePool
    /// Compute threads (the caller's thread included).
    public var threads: Int { pool.threadCount }
    /// Precision of the layers that support reduced precision.
    public let precision: ComputePrecision

    private let prepared: [PreparedNode]
    /// bf16 only: runs of convolutions that pass bf16 activations to each other.
    private let chains: ConvolutionChains
    private let lock = NSLock()
    private var plans: [[Shape]: ExecutionPlan] = [:]
    private var planOrder: [[Shape]] = []
    /// Plans kept at once: each holds its activations' buffers.
    private let maxPlans = 3

    /// Prepares a graph for execution: optimizes it and packs every layer's weights.
    /// - Parameters:
    ///   - graph: the graph; ``Graph/optimize()`` runs on a copy unless `optimize` is false.
    ///   - pool: the compute threads (share one pool between the graphs of a model).
    ///   - precision: precision of the convolutions.
    ///   - optimize: whether to apply the fusion passes.
    ///   - chainConvolutions: at `.bf16`, whether runs of convolutions pass bf16 activations to
    ///     each other (``ConvolutionChain``); false runs every layer on its own (f32 between
    ///     layers), which benchmarks use to show what chaining saves.
    /// - Throws: ``GraphError`` when the graph is inconsistent, `KernelError` when a layer's
    ///   weights do not fit its geometry.
    ///
    /// Convolutions whose prepared form recovers their weights exactly (``convolutionWeights(named:)``)
    /// drop them from ``graph`` as they are packed, so a graph the caller hands over (its last
    /// use) is not held twice.
    public init(graph: consuming Graph, pool: ComputePool, precision: ComputePrecision = .fp32, optimize: Bool = true,
                chainConvolutions: Bool = true) throws {
        var g = graph
        if optimize { g.optimize() }
        try g.validate()
        var prepared: [PreparedNode] = []
        prepared.reserveCapacity(g.nodes.count)
        for i in g.nodes.indices {
            let node = try PreparedNode(node: g.nodes[i], precision: precision)
            prepared.append(node)
            if node.holdsConvolutionWeights { g.nodes[i].dropConvolutionWeights() }
        }
        chains = precision == .bf16 && chainConvolutions ? try ConvolutionChains(graph: g, prepared: prepared) : ConvolutionChains()
        self.graph = g
        self.pool = pool
        self.precision = precision
        self.prepared = prepared
    }

    private init(graph: Graph, pool: ComputePool, precision: ComputePrecision, prepared: [PreparedNode], chains: ConvolutionChains) {
        self.graph = graph
        self.pool = pool
        self.precision = precision
        self.prepared = prepared
        self.chains = chains
    }

    /// An executor of the same graph with some constants replaced by tensors of the same
    /// shapes (adapter weights merged into a layer, for one set of requests): the nodes that
    /// read a replaced constant are prepared again, every other node's prepared weights are
    /// shared with this executor, so a variant costs only the layers it changes.
    /// - Parameters:
    ///   - replacements: new contents by constant name (names as in ``graph``).
    ///   - convolutionWeights: new `[out, in/groups, kh, kw]` weights of convolutions, by node name.
    /// - Throws: ``GraphError`` naming a constant or convolution that does not exist, has another
    ///   shape, or feeds a bf16 convolution chain (whose packed weights are shared whole).
    public func replacingConstants(_ replacements: [String: Tensor], convolutionWeights: [String: [Float]] = [:]) throws -> GraphExecutor {
        var g = graph
        var replaced = Set<Int>()
        var changedNodes = Set<Int>()
        for (name, weights) in convolutionWeights {
            guard let i = g.nodes.firstIndex(where: { $0.name == name }), case .convolution(var conv) = g.nodes[i].op else {
                throw GraphError(.invalidInput, "no convolution \(name) in the graph")
            }
            guard conv.weightCount == weights.count else {
                throw GraphError(.shapeMismatch, "convolution \(name) has \(conv.weightCount) weights, replacement \(weights.count)")
            }
            conv.weights = weights
            g.nodes[i].op = .convolution(conv)
            changedNodes.insert(i)
        }
        for (name, tensor) in replacements {
            guard let v = g.value(named: name), let old = g.constants[v] else {
                throw GraphError(.invalidInput, "no constant \(name) in the graph")
            }
            guard old.shape == tensor.shape, tensor.dtype == old.dtype else {
                throw GraphError(.shapeMismatch, "constant \(name) is \(old.shape), replacement \(tensor.shape)")
            }
            g.constants[v] = tensor
            replaced.insert(v.index)
        }
        var nodes = prepared
        for (i, node) in g.nodes.enumerated() where changedNodes.contains(i) || node.inputs.contains(where: { replaced.contains($0.index) }) {
            if chains.covered.contains(i) || chains.runs[i] != nil {
                throw GraphError(.invalidInput, "constant of \(node.name) feeds a bf16 convolution chain")
            }
            nodes[i] = try PreparedNode(node: node, precision: precision)
            if nodes[i].holdsConvolutionWeights { g.nodes[i].dropConvolutionWeights() }
        }
        return GraphExecutor(graph: g, pool: pool, precision: precision, prepared: nodes, chains: chains)
    }

    /// The `[out, in/groups, kh, kw]` weights of the convolution node `name`, from ``graph`` or,
    /// where the executor dropped them there, recovered exactly from the packed form.
    /// - Throws: ``GraphError`` when the graph has no convolution of that name.
    public func convolutionWeights(named name: String) throws -> [Float] {
        guard let i = graph.nodes.firstIndex(where: { $0.name == name }), case .convolution(let conv) = graph.nodes[i].op else {
            throw GraphError(.invalidInput, "no convolution \(name) in the graph")
        }
        if conv.weights.isEmpty, let weights = prepared[i].convolutionWeights { return weights }
        return conv.weights
    }

    /// Convolution chains this executor runs with bf16 activations between layers, as
    /// (first node, last node) index pairs into ``graph``'s nodes (empty at fp32, on a CPU
    /// without a bf16 path, and on AVX512-BF16 for runs of layers that stay fp32 Winograd there:
    /// see ``KernelPath/bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)``).
    public var convolutionChains: [(first: Int, last: Int)] {
        chains.runs.values.map { ($0.first, $0.last) }.sorted { $0.first < $1.first }
    }

    /// Indices into ``graph``'s nodes of the convolutions that compute in bf16 (chained or on
    /// their own); every other convolution computes in fp32. Empty at fp32.
    public var bf16Convolutions: [Int] {
        guard precision == .bf16 else { return [] }
        return prepared.indices.filter { i in
            guard case .convolution(let conv, _, _) = prepared[i].kernel else { return false }
            return conv?.hasBF16Path == true || chains.covered.contains(i) || chains.runs[i] != nil
        }
    }

    /// Bytes held by prepared weights.
    public var weightBytes: Int {
        prepared.reduce(0) { $0 + $1.weightBytes } + chains.runs.values.reduce(0) { $0 + $1.chain.weightBytes }
    }

    /// Bytes held by the activation buffers of the cached plans.
    public var activationBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return plans.values.reduce(0) { $0 + $1.memory.totalFloats * 4 }
    }

    /// Shapes of every value for these input shapes (no execution).
    public func shapes(for inputShapes: [Shape]) throws -> [Shape?] {
        try graph.inferShapes(inputShapes)
    }

    /// Runs the graph.
    /// - Parameter inputs: one contiguous f32 tensor per graph input (NCHW for image graphs).
    /// - Returns: the graph outputs, in fresh tensors the caller owns.
    /// - Throws: ``GraphError`` when the inputs do not fit the graph.
    public func run(_ inputs: [Tensor]) throws -> [Tensor] {
        try run(inputs, timings: nil, checkpoint: {})
    }

    /// Runs the graph, calling `checkpoint` before each node (or convolution chain), so a long
    /// run can stop between layers: whatever `checkpoint` throws ends the run and is rethrown.
    /// The executor stays usable afterwards. Request cancellation uses it to free the compute
    /// within one layer instead of one whole tile.
    /// - Parameters:
    ///   - inputs: one contiguous f32 NCHW tensor per graph input.
    ///   - checkpoint: called on the running thread between steps; cheap checks only.
    /// - Returns: the graph outputs, in fresh tensors the caller owns.
    public func run(_ inputs: [Tensor], checkpoint: () throws -> Void) throws -> [Tensor] {
        try run(inputs, timings: nil, checkpoint: checkpoint)
    }

    /// Runs the graph and reports each node's wall time (for finding where time goes).
    /// - Returns: the outputs and `(node name, op name, seconds)` in execution order.
    public func profile(_ inputs: [Tensor]) throws -> (outputs: [Tensor], nodes: [(name: String, op: String, seconds: Double)]) {
        var timings: [(name: String, op: String, seconds: Double)] = []
        let outputs = try run(inputs, timings: &timings, checkpoint: {})
        return (outputs, timings)
    }

    private func run(_ inputs: [Tensor], timings: UnsafeMutablePointer<[(name: String, op: String, seconds: Double)]>?,
                     checkpoint: () throws -> Void) throws -> [Tensor] {
        for t in inputs where t.dtype != .f32 {
            throw GraphError(.invalidInput, "graph inputs must be f32, got \(t)")
        }
        lock.lock(); defer { lock.unlock() }
        let plan = try plan(for: inputs.map(\.shape))
        let parallel = Parallel(pool: pool)
        var tensors = [Tensor?](repeating: nil, count: graph.valueNames.count)
        for (v, t) in graph.constants { tensors[v.index] = t }
        for (v, t) in zip(graph.inputs, inputs) { tensors[v.index] = t }
        // Every op writes its whole output, so the result needs no zero fill.
        let outputs = try graph.outputs.enumerated().map { k, v in
            // An output that is a constant or an input is not written by any node: hand out a copy.
            if let t = tensors[v.index] { return t.copy() }
            return try outputTensor(k, shape: plan.shapes[v.index]!, plan: plan)
        }
        for (v, t) in zip(graph.outputs, outputs) { tensors[v.index] = t }
        for v in tensors.indices where tensors[v] == nil {
            guard let shape = plan.shapes[v] else { continue }
            let (root, offset) = plan.memory.root(of: ValueID(v))
            guard let slot = plan.memory.slotOf[root.index] else { continue }
            tensors[v] = try Tensor(shape: shape, storage: plan.buffers[slot], byteOffset: offset * 4)
        }
        for (i, node) in graph.nodes.enumerated()
        where !plan.memory.assembledNodes.contains(i) && !chains.covered.contains(i) {
            try checkpoint()
            let start = timings == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let chain = chains.runs[i]
            if let chain {
                // The chain reads its input completely before it writes its output, so the
                // memory plan may give the output the input's buffer.
                try chain.chain(tensors[node.inputs[0].index]!, into: tensors[graph.nodes[chain.last].output.index]!, pool: pool)
            } else {
                try prepared[i].execute(node: node, tensors: tensors, parallel: parallel)
            }
            if let timings {
                timings.pointee.append((node.name, chain == nil ? node.op.name : "convolution_chain",
                                        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            }
        }
        return outputs
    }

    /// A fresh tensor for graph output k. Its storage is the one handed out last time when the
    /// caller has since dropped every reference to it: a new multi-megabyte block would be
    /// page-faulted in again on every run (measured: about 15% of a 256² ×4 upscale).
    private func outputTensor(_ k: Int, shape: Shape, plan: ExecutionPlan) throws -> Tensor {
        let bytes = shape.count * 4
        if var spare = plan.spareOutputs[k] {
            plan.spareOutputs[k] = nil
            if isKnownUniquelyReferenced(&spare), spare.byteCount >= bytes {
                plan.spareOutputs[k] = spare
                return try Tensor(shape: shape, storage: spare, byteOffset: 0)
            }
        }
        let t = Tensor(uninitialized: shape)
        plan.spareOutputs[k] = t.storage
        return t
    }

    private func plan(for inputShapes: [Shape]) throws -> ExecutionPlan {
        if let p = plans[inputShapes] { return p }
        let shapes = try graph.inferShapes(inputShapes)
        let memory = MemoryPlan(graph: graph, shapes: shapes)
        let plan = ExecutionPlan(shapes: shapes, memory: memory,
                                 buffers: memory.slotSizes.map { TensorStorage(byteCount: $0 * 4) }, outputs: graph.outputs.count)
        plans[inputShapes] = plan
        planOrder.append(inputShapes)
        if planOrder.count > maxPlans { plans[planOrder.removeFirst()] = nil }
        return plan
    }
}

/// Shapes and buffers for one input shape, and the output storage last handed out (reused once
/// the caller lets go of it). Mutated only under the executor's lock.
final class ExecutionPlan {
    let shapes: [Shape?]
    let memory: MemoryPlan
    let buffers: [TensorStorage]
    var spareOutputs: [TensorStorage?]

    init(shapes: [Shape?], memory: MemoryPlan, buffers: [TensorStorage], outputs: Int) {
        self.shapes = shapes
        self.memory = memory
        self.buffers = buffers
        spareOutputs = Array(repeating: nil, count: outputs)
    }
}
