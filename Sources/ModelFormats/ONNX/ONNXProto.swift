/// The ONNX file format's messages, as far as the importer reads them (field numbers from
/// onnx.proto, IR version 10+). Unknown fields are skipped, as protobuf requires.
public enum ONNX {}

extension ONNX {
    /// `TensorProto.DataType`: element types of tensors and of typed values.
    public enum DataType: Int32, Sendable, CustomStringConvertible {
        case undefined = 0, float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
        case string = 8, bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13
        case complex64 = 14, complex128 = 15, bfloat16 = 16

        /// Bytes per element in `raw_data` (0 for strings and unknown types).
        public var byteSize: Int {
            switch self {
            case .float, .int32, .uint32: return 4
            case .uint8, .int8, .bool: return 1
            case .uint16, .int16, .float16, .bfloat16: return 2
            case .int64, .double, .uint64, .complex64: return 8
            case .complex128: return 16
            case .string, .undefined: return 0
            }
        }

        /// Whether values of this type compute as floating point.
        public var isFloatingPoint: Bool {
            switch self {
            case .float, .float16, .bfloat16, .double: return true
            default: return false
            }
        }

        /// The lower-case onnx.proto name.
        public var description: String {
            switch self {
            case .undefined: return "undefined"
            case .float: return "float"
            case .uint8: return "uint8"
            case .int8: return "int8"
            case .uint16: return "uint16"
            case .int16: return "int16"
            case .int32: return "int32"
            case .int64: return "int64"
            case .string: return "string"
            case .bool: return "bool"
            case .float16: return "float16"
            case .double: return "double"
            case .uint32: return "uint32"
            case .uint64: return "uint64"
            case .complex64: return "complex64"
            case .complex128: return "complex128"
            case .bfloat16: return "bfloat16"
            }
        }
    }

    /// `ModelProto`: the file's root.
    public struct ModelProto: Sendable {
        /// `ir_version` (1).
        public var irVersion: Int64 = 0
        /// `opset_import` (8): operator set versions by domain ("" is the default domain).
        public var opsetImport: [String: Int64] = [:]
        /// `producer_name` (2).
        public var producerName = ""
        /// `graph` (7).
        public var graph = GraphProto()
    }

    /// `GraphProto`: nodes in topological order with their constants and typed inputs/outputs.
    public struct GraphProto: Sendable {
        /// `node` (1).
        public var nodes: [NodeProto] = []
        /// `name` (2).
        public var name = ""
        /// `initializer` (5).
        public var initializers: [TensorProto] = []
        /// `input` (11): graph inputs; in IR < 4 these may also list initializers.
        public var inputs: [ValueInfoProto] = []
        /// `output` (12).
        public var outputs: [ValueInfoProto] = []
        /// `value_info` (13): shapes of intermediate values, when the exporter recorded them.
        public var valueInfo: [ValueInfoProto] = []
    }

    /// `NodeProto`: one operator invocation.
    public struct NodeProto: Sendable {
        /// `input` (1): value names; "" marks an omitted optional input.
        public var inputs: [String] = []
        /// `output` (2).
        public var outputs: [String] = []
        /// `name` (3).
        public var name = ""
        /// `op_type` (4).
        public var opType = ""
        /// `domain` (7).
        public var domain = ""
        /// `attribute` (5).
        public var attributes: [AttributeProto] = []

        /// The attribute named `name`, if present.
        public func attribute(_ name: String) -> AttributeProto? {
            attributes.first { $0.name == name }
        }
    }

    /// `AttributeProto`: a named constant parameter of a node.
    public struct AttributeProto: Sendable {
        /// `AttributeType`.
        public enum Kind: Int32, Sendable {
            case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5
            case floats = 6, ints = 7, strings = 8, tensors = 9, graphs = 10
            case sparseTensor = 11, sparseTensors = 12, typeProto = 13, typeProtos = 14
        }
        /// `name` (1).
        public var name = ""
        /// `type` (20).
        public var kind: Kind = .undefined
        /// `f` (2).
        public var f: Float = 0
        /// `i` (3).
        public var i: Int64 = 0
        /// `s` (4).
        public var s: [UInt8] = []
        /// `t` (5).
        public var t: TensorProto?
        /// `g` (6): a subgraph (If/Loop bodies); decoded so it can be named in errors.
        public var g: GraphBox?
        /// `floats` (7).
        public var floats: [Float] = []
        /// `ints` (8).
        public var ints: [Int64] = []
        /// `strings` (9).
        public var strings: [[UInt8]] = []

        /// `s` as text.
        public var string: String { String(decoding: s, as: UTF8.self) }
    }

    /// A subgraph held by reference (a struct cannot contain itself).
    public final class GraphBox: Sendable {
        /// The subgraph.
        public let graph: GraphProto
        init(_ graph: GraphProto) { self.graph = graph }
    }

    /// `TensorProto`: a constant tensor, its bytes inline or in an external file.
    public struct TensorProto: Sendable {
        /// `dims` (1).
        public var dims: [Int64] = []
        /// `data_type` (2), as its raw number (unknown types are reported when used).
        public var dataTypeRaw: Int32 = 0
        /// `float_data` (4).
        public var floatData: [Float] = []
        /// `int32_data` (5): also holds int8/16, uint8/16, bool, float16 and bfloat16 bits.
        public var int32Data: [Int64] = []
        /// `int64_data` (7).
        public var int64Data: [Int64] = []
        /// `name` (8).
        public var name = ""
        /// `raw_data` (9): little-endian packed elements (a view of the file's bytes).
        public var rawData: ArraySlice<UInt8>?
        /// `double_data` (10).
        public var doubleData: [Double] = []
        /// `uint64_data` (11).
        public var uint64Data: [Int64] = []
        /// `external_data` (13): `location`, `offset`, `length`, `checksum` entries.
        public var externalData: [String: String] = [:]
        /// `data_location` (14): 1 means the bytes live in ``externalData``'s file.
        public var dataLocation: Int64 = 0

        /// The element type, if this importer knows it.
        public var dataType: DataType? { DataType(rawValue: dataTypeRaw) }
        /// Number of elements.
        public var elementCount: Int { dims.reduce(1) { $0 * Int($1) } }
    }

    /// `ValueInfoProto`: a named value with its type.
    public struct ValueInfoProto: Sendable {
        /// `name` (1).
        public var name = ""
        /// `type.tensor_type.elem_type`.
        public var elementType: Int32 = 0
        /// `type.tensor_type.shape`; nil when the shape is not recorded (unknown rank).
        public var shape: [Dimension]?
    }

    /// One extent of a recorded shape.
    public enum Dimension: Sendable, Equatable, CustomStringConvertible {
        /// A fixed extent (`dim_value`).
        case value(Int64)
        /// A symbolic extent (`dim_param`), e.g. `batch`.
        case param(String)
        /// Neither was recorded.
        case unknown

        /// `128`, `batch` or `?`.
        public var description: String {
            switch self {
            case .value(let v): return "\(v)"
            case .param(let p): return p
            case .unknown: return "?"
            }
        }
    }
}
