import Foundation
import Kernels

/// An ONNX model specialized to fixed input shapes: shapes inferred, shape subgraphs and other
/// constant expressions folded, the remaining nodes in order with buffers released after their
/// last reader.
public struct ONNXPlan: Sendable {
    /// One node left to run.
    struct Step: Sendable {
        var name: String
        var opType: String
        var op: ONNXOp
        /// Slot per input; nil for an omitted optional input.
        var inputs: [Int?]
        var outputs: [Int]
        /// Slots no later step or graph output reads once this step is done.
        var release: [Int]
        /// A convolution whose constant weights were packed at plan time.
        var preparedConv: PreparedConv? = nil
        /// Inputs are (q, k, v) of a fused softmax attention (see ``fuseAttention(_:keep:shape:)``).
        var attention = false
        /// A normalization fused with the per-channel steps after it (see ``fuseNormChains(_:keep:shape:)``).
        var normChain: ONNXNormChain? = nil
        /// The last input is a residual the convolution adds its result to (see ``fuseConvResidual(_:keep:shape:)``).
        var residualInput = false
    }

    /// The most elements one intermediate tensor may have (1 GiB of floats): larger shapes come
    /// from malformed models, not from any network this engine runs.
    public static let maximumElements = 1 << 28

    /// Inferred shape of every named value.
    public let shapes: [String: [Int]]
    /// Nodes evaluated at plan time.
    public let foldedNodeCount: Int
    /// Nodes left to run.
    public var stepCount: Int { steps.count }

    let steps: [Step]
    let slotCount: Int
    let constantSlots: [(Int, ONNXTensor)]
    let inputSlots: [(name: String, slot: Int, shape: [Int])]
    let outputSlots: [(name: String, slot: Int)]
    let expectedShapes: [Int: [Int]]
    /// The threads every kernel of the plan runs on.
    let pool: ComputePool

    /// - Parameter pool: the threads every kernel of the plan runs on.
    /// - Parameter fusing: combine attention, normalization chains and residual convolutions
    ///   into single steps (off when the plan is lowered to the engine graph, which has its own
    ///   fusions and no such steps).
    init(model: ONNXModel, inputShapes: [String: [Int]], pool: ComputePool, fusing: Bool = true) throws {
        self.pool = pool
        var slots: [String: Int] = [:]
        var metas: [ValueMeta] = []
        func slot(_ name: String, _ meta: ValueMeta) -> Int {
            metas.append(meta)
            slots[name] = metas.count - 1
            return metas.count - 1
        }
        for (name, t) in model.initializers { _ = slot(name, ValueMeta(t)) }
        var inputSlots: [(String, Int, [Int])] = []
        for info in model.inputs {
            guard let shape = inputShapes[info.name] else {
                throw ModelFormatError(.malformed, "onnx: no shape given for input '\(info.name)'")
            }
            if let declared = info.shape {
                guard declared.count == shape.count, zip(declared, shape).allSatisfy({ d, s in
                    if case .value(let v) = d { return Int(v) == s }
                    return true
                }) else {
                    throw ModelFormatError(.malformed, "onnx: input '\(info.name)' is declared \(declared), got \(shape)")
                }
            }
            let type = ONNX.DataType(rawValue: info.elementType) ?? .float
            inputSlots.append((info.name, slot(info.name, ValueMeta(shape: shape, type: type)), shape))
        }
        for name in inputShapes.keys where !model.inputs.contains(where: { $0.name == name }) {
            throw ModelFormatError(.malformed, "onnx: the model has no input '\(name)'")
        }

        var steps: [Step] = []
        var folded = 0
        for node in model.nodes {
            let ins: [Int?] = node.inputs.map { $0.isEmpty ? nil : slots[$0] }
            let inMetas = ins.map { $0.map { metas[$0] } }
            func fail(_ e: Error) -> ModelFormatError {
                if let m = e as? ModelFormatError { return m }
                let shapes = inMetas.map { $0.map { "\($0.type)\($0.shape)" } ?? "-" }.joined(separator: ", ")
                return ModelFormatError(.malformed, "onnx: \(node.opType) '\(node.name)': \(e) (inputs \(shapes))")
            }
            let allConstant = inMetas.allSatisfy { $0 == nil || $0!.constant != nil }
            var isShape = false
            if case .shape = node.op { isShape = true }
            if allConstant || isShape {
                do {
                    let outs = try node.op.execute(inMetas.map { $0?.placeholder }, outputCount: node.outputs.count, pool: pool)
                    for (name, t) in zip(node.outputs, outs) where !name.isEmpty { _ = slot(name, ValueMeta(t)) }
                    folded += 1
                    continue
                } catch {
                    throw fail(error)
                }
            }
            for i in node.op.shapeDefiningInputs where i < inMetas.count {
                if let m = inMetas[i], m.constant == nil {
                    throw ModelFormatError(.unsupportedLayer,
                        "onnx: \(node.opType) '\(node.name)': input \(i) ('\(node.inputs[i])') decides the output shape but is not a constant")
                }
            }
            let outMetas: [ValueMeta]
            do { outMetas = try node.op.inferOutputs(inMetas, outputCount: node.outputs.count, pool: pool) } catch { throw fail(error) }
            for m in outMetas {
                // A malformed model must not make the executor allocate absurd buffers.
                let (count, overflow) = m.shape.reduce((1, false)) { acc, d in
                    let (p, o) = acc.0.multipliedReportingOverflow(by: max(d, 0))
                    return (p, acc.1 || o || d < 0)
                }
                guard !overflow, count <= Self.maximumElements else { throw fail(ONNXRuntimeError("output shape \(m.shape) is out of range")) }
            }
            let outs = zip(node.outputs, outMetas).map { name, m in name.isEmpty ? -1 : slot(name, m) }
            var step = Step(name: node.name, opType: node.opType, op: node.op, inputs: ins, outputs: outs, release: [])
            if case .conv(let a) = node.op, let x = inMetas[0], let w = inMetas[1]?.constant,
               inMetas.count < 3 || inMetas[2] == nil || inMetas[2]?.constant != nil {
                do {
                    step.preparedConv = try Self.prepareConv(a, input: x.shape, weights: w, bias: inMetas.count > 2 ? inMetas[2]?.constant : nil)
                } catch {
                    throw fail(error)
                }
            }
            steps.append(step)
        }

        let graphOutputs = Set(model.outputs.compactMap { slots[$0.name] })
        steps = Self.fuseSiLU(steps, keep: graphOutputs)
        if fusing {
            let shapeOf = metas.map(\.shape)
            let shape = { (slot: Int) in slot >= 0 && slot < shapeOf.count ? shapeOf[slot] : nil }
            steps = Self.fuseAttention(steps, keep: graphOutputs, shape: shape)
            steps = Self.fuseNormChains(steps, keep: graphOutputs, shape: shape)
            steps = Self.fuseConvResidual(steps, keep: graphOutputs, shape: shape)
        }
        var outputSlots: [(String, Int)] = []
        for o in model.outputs {
            guard let s = slots[o.name] else { throw ModelFormatError(.malformed, "onnx: graph output '\(o.name)' is never produced") }
            outputSlots.append((o.name, s))
        }
        // Release each computed value after its last reader.
        var lastUse: [Int: Int] = [:]
        for (i, step) in steps.enumerated() {
            for s in step.inputs.compactMap({ $0 }) where metas[s].constant == nil { lastUse[s] = i }
        }
        let kept = Set(outputSlots.map(\.1))
        for (s, i) in lastUse where !kept.contains(s) { steps[i].release.append(s) }

        self.steps = steps
        foldedNodeCount = folded
        slotCount = metas.count
        constantSlots = metas.enumerated().compactMap { i, m in m.constant.map { (i, $0) } }
        self.inputSlots = inputSlots
        self.outputSlots = outputSlots
        expectedShapes = Dictionary(uniqueKeysWithValues: metas.enumerated().map { ($0.offset, $0.element.shape) })
        shapes = slots.mapValues { metas[$0].shape }
    }

    /// Rewrites `s = Sigmoid(x); y = Mul(x, s)` (either operand order) into `y = SiLU(x)` when
    /// nothing else reads `s`: one pass over the tensor instead of two.
    static func fuseSiLU(_ steps: [Step], keep: Set<Int>) -> [Step] {
        var readers: [Int: Int] = [:]
        for step in steps { for s in step.inputs.compactMap({ $0 }) { readers[s, default: 0] += 1 } }
        var producer: [Int: Int] = [:]
        for (i, step) in steps.enumerated() { for o in step.outputs where o >= 0 { producer[o] = i } }
        var out = steps
        var removed = Set<Int>()
        for (i, step) in steps.enumerated() {
            guard case .binary(.mul) = step.op, step.inputs.count == 2,
                  let a = step.inputs[0], let b = step.inputs[1] else { continue }
            for (x, s) in [(a, b), (b, a)] {
                guard let p = producer[s], case .unary(.sigmoid) = steps[p].op, steps[p].inputs.first == x,
                      readers[s] == 1, !keep.contains(s), !removed.contains(p) else { continue }
                out[i].op = .unary(.silu)
                out[i].opType = "SiLU"
                out[i].inputs = [x]
                removed.insert(p)
                break
            }
        }
        return out.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Runs the plan.
    /// - Parameters:
    ///   - feeds: one tensor per graph input, shaped as planned.
    ///   - profile: called after each step with its op type and seconds taken.
    /// - Returns: the graph outputs by name.
    /// - Throws: ``ModelFormatError`` naming the node and op that failed, or the input that does not fit.
    public func run(_ feeds: [String: ONNXTensor], profile: ((String, Double) -> Void)? = nil) throws -> [String: ONNXTensor] {
        try run(feeds, stepProfile: profile.map { report in { step, seconds in report(step.opType, seconds) } })
    }

    /// Runs the plan, reporting each step (with its slots, for shape breakdowns) and its seconds.
    func run(_ feeds: [String: ONNXTensor], stepProfile profile: ((Step, Double) -> Void)?) throws -> [String: ONNXTensor] {
        var values = [ONNXTensor?](repeating: nil, count: slotCount)
        for (s, t) in constantSlots { values[s] = t }
        for (name, s, shape) in inputSlots {
            guard let t = feeds[name] else { throw ModelFormatError(.malformed, "onnx: input '\(name)' is missing") }
            guard t.shape == shape else { throw ModelFormatError(.malformed, "onnx: input '\(name)' is \(t.shape), planned for \(shape)") }
            values[s] = t
        }
        for step in steps {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            if runInPlace(step, &values) {
                for s in step.release { values[s] = nil }
                if let profile { profile(step, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
                continue
            }
            let outs: [ONNXTensor]
            do {
                if let chain = step.normChain {
                    outs = [try runNormChain(chain, step, &values)]
                } else if step.attention, let q = step.inputs[0].flatMap({ values[$0] }), let k = step.inputs[1].flatMap({ values[$0] }),
                   let v = step.inputs[2].flatMap({ values[$0] }) {
                    outs = [try runAttention(q: q, k: k, v: v)]
                } else if let conv = step.preparedConv, let s = step.inputs[0], let x = values[s] {
                    var residual = takeResidual(step, &values)
                    outs = [try run(conv, x, outputShape: expectedShapes[step.outputs[0]] ?? [], residual: &residual)]
                } else {
                    outs = try step.op.execute(step.inputs.map { $0.flatMap { values[$0] } }, outputCount: step.outputs.count, pool: pool)
                }
            } catch {
                throw ModelFormatError(.malformed, "onnx: \(step.opType) '\(step.name)': \(error)")
            }
            for (s, t) in zip(step.outputs, outs) where s >= 0 {
                guard t.shape == expectedShapes[s] else {
                    throw ModelFormatError(.malformed,
                        "onnx: \(step.opType) '\(step.name)' produced \(t.shape), shape inference said \(expectedShapes[s] ?? [])")
                }
                values[s] = t
            }
            for s in step.release { values[s] = nil }
            if let profile {
                profile(step, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        var result: [String: ONNXTensor] = [:]
        for (name, s) in outputSlots { result[name] = values[s] }
        return result
    }
}
