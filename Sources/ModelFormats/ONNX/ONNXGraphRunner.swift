import Graph
import Kernels
import Tensor

/// An ONNX model translated to the engine graph for one set of input shapes
/// (``ONNXModel/engineGraph(inputShapes:)``) and run by ``GraphExecutor``, fed and read by
/// the model's tensor names.
///
/// Run-time values are f32 in the graph: integer and boolean feeds are converted on the way
/// in, and outputs come back as the element type the model declares for them.
public final class ONNXGraphRunner: Sendable {
    /// The executor, for its memory and kernel-path reports.
    public let executor: GraphExecutor
    /// The input shapes this runner was built for, by name.
    public let inputShapes: [String: [Int]]
    private let inputNames: [String]
    private let outputs: [(name: String, type: ONNX.DataType)]

    /// Translates `model` for `inputShapes` and prepares its kernels on `pool`.
    /// - Throws: ``ModelFormatError`` from the translation; ``GraphError`` or `KernelError`
    ///   when a layer cannot be prepared.
    public init(model: ONNXModel, inputShapes: [String: [Int]], pool: ComputePool, precision: ComputePrecision = .fp32) throws {
        let graph = try model.engineGraph(inputShapes: inputShapes)
        executor = try GraphExecutor(graph: graph, pool: pool, precision: precision)
        self.inputShapes = inputShapes
        inputNames = model.inputs.map(\.name)
        outputs = model.outputs.map { ($0.name, ONNX.DataType(rawValue: $0.elementType) ?? .float) }
    }

    /// Runs the graph once.
    /// - Parameters:
    ///   - feeds: one tensor per model input, shaped as this runner was built for.
    ///   - checkpoint: called between layers on the running thread (cancellation checks);
    ///     what it throws ends the run and is rethrown.
    /// - Returns: the model outputs by name.
    /// - Throws: ``ModelFormatError`` `.malformed` when a feed is missing or shaped otherwise.
    public func run(_ feeds: [String: ONNXTensor], checkpoint: () throws -> Void = {}) throws -> [String: ONNXTensor] {
        let inputs = try inputNames.map { name -> Tensor in
            guard let t = feeds[name] else { throw ModelFormatError(.malformed, "onnx: no feed for input '\(name)'") }
            guard t.shape == inputShapes[name] else {
                throw ModelFormatError(.malformed, "onnx: input '\(name)' is \(t.shape), the graph was built for \(inputShapes[name] ?? [])")
            }
            return ONNXGraphBuilder.tensor(t).converted(to: .f32)
        }
        let results = try executor.run(inputs, checkpoint: checkpoint)
        var out: [String: ONNXTensor] = [:]
        for ((name, type), t) in zip(outputs, results) {
            switch type {
            case .bool: out[name] = ONNXTensor(shape: t.shape.dims, bools: t.toArray().map { $0 != 0 })
            case let f where f.isFloatingPoint: out[name] = ONNXTensor(shape: t.shape.dims, floats: t.toArray(), type: f)
            default: out[name] = ONNXTensor(shape: t.shape.dims, ints: t.toInt64Array(), type: type)
            }
        }
        return out
    }
}

extension ONNXModel {
    /// Translates the model for the feeds' shapes and runs it once on `pool` (tests and tools;
    /// serving keeps an ``ONNXGraphRunner`` per input shape).
    /// - Returns: the model outputs by name.
    public func run(_ feeds: [String: ONNXTensor], pool: ComputePool = .shared) throws -> [String: ONNXTensor] {
        try ONNXGraphRunner(model: self, inputShapes: feeds.mapValues(\.shape), pool: pool).run(feeds)
    }
}
