import Tensor

/// A tensor as ONNX graphs pass them around: any rank, and besides floats the integer and
/// boolean values that shape arithmetic, indices and masks need.
///
/// Floating-point types (float, float16, bfloat16, double) compute in `Float`; integer types
/// compute in `Int64`. ``elementType`` keeps the declared type so that `Cast`, `Shape` and the
/// graph's outputs stay faithful (a value cast to float16 is rounded to float16's precision).
public struct ONNXTensor: Sendable, CustomStringConvertible {
    /// The elements, row-major.
    public enum Elements: Sendable {
        /// Floating-point values.
        case float([Float])
        /// Integer values.
        case int64([Int64])
        /// Booleans.
        case bool([Bool])
    }

    /// Extents, outermost first (empty for a scalar).
    public var shape: [Int]
    /// The declared ONNX element type.
    public var elementType: ONNX.DataType
    /// The values.
    public var elements: Elements

    /// Creates a float tensor.
    /// - Precondition: `values.count` is the product of `shape`.
    public init(shape: [Int], floats values: [Float], type: ONNX.DataType = .float) {
        precondition(values.count == shape.reduce(1, *), "ONNXTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        elementType = type
        elements = .float(values)
    }

    /// Creates an integer tensor.
    public init(shape: [Int], ints values: [Int64], type: ONNX.DataType = .int64) {
        precondition(values.count == shape.reduce(1, *), "ONNXTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        elementType = type
        elements = .int64(values)
    }

    /// Creates a boolean tensor.
    public init(shape: [Int], bools values: [Bool]) {
        precondition(values.count == shape.reduce(1, *), "ONNXTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        elementType = .bool
        elements = .bool(values)
    }

    /// Wraps an `f32` engine tensor (copies the elements).
    public init(_ tensor: Tensor) {
        self.init(shape: tensor.shape.dims, floats: tensor.toArray())
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The values as floats (integers and booleans converted).
    public var floats: [Float] {
        switch elements {
        case .float(let v): return v
        case .int64(let v): return v.map { Float($0) }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        }
    }

    /// The values as integers (floats truncated toward zero, as `Cast` does).
    public var ints: [Int64] {
        switch elements {
        case .int64(let v): return v
        case .float(let v): return v.map { $0.isFinite ? Int64(max(min($0, 9.2e18), -9.2e18)) : 0 }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        }
    }

    /// The values as booleans (non-zero is true).
    public var bools: [Bool] {
        switch elements {
        case .bool(let v): return v
        case .float(let v): return v.map { $0 != 0 }
        case .int64(let v): return v.map { $0 != 0 }
        }
    }

    /// The float values as an engine tensor of the same shape.
    public func toTensor() -> Tensor {
        Tensor(shape: Shape(shape), values: floats)
    }

    /// The same elements under another shape of equal count.
    func reshaped(_ newShape: [Int]) -> ONNXTensor {
        var t = self
        t.shape = newShape
        return t
    }

    /// `float[1, 64, 32, 32]`.
    public var description: String { "\(elementType)\(shape)" }
}
