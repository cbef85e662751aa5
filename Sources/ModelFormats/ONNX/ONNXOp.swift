/// One imported ONNX operator with its attributes checked and decoded.
enum ONNXOp: Sendable {
    case unary(UnaryKind)
    case binary(BinaryKind)
    case clip
    case whereSelect
    case conv(ConvAttributes)
    case convTranspose(ConvAttributes)
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    case matMul
    case einsum(EinsumEquation)
    case softmax(axis: Int, flattened: Bool)
    case instanceNorm(epsilon: Float)
    case groupNorm(groups: Int, epsilon: Float)
    case layerNorm(axis: Int, epsilon: Float)
    case resize(ResizeAttributes)
    case pool(PoolAttributes)
    case reshape(allowZero: Bool)
    case transpose(perm: [Int]?)
    case split(axis: Int, sizes: [Int]?, outputs: Int)
    case concat(axis: Int)
    case slice(attributes: (starts: [Int], ends: [Int], axes: [Int]?)?)
    case gather(axis: Int)
    case unsqueeze(axes: [Int]?)
    case squeeze(axes: [Int]?)
    case expand
    case constant(ONNXTensor)
    case constantOfShape(ONNXTensor?)
    case shape(start: Int, end: Int?)
    case cast(ONNX.DataType)
    case range
    case flatten(axis: Int)
    case reduce(ReduceKind, axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)

    enum UnaryKind: String, Sendable {
        case sigmoid, tanh, erf, sin, cos, exp, log, sqrt, reciprocal, neg, abs, relu, floor, ceil
        case identity, gelu, geluTanh, not, softplus
    }

    enum BinaryKind: String, Sendable {
        case add, sub, mul, div, pow, max, min, mod
        case equal, less, greater, lessOrEqual, greaterOrEqual, and, or, xor

        var isComparison: Bool {
            switch self {
            case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual: return true
            default: return false
            }
        }
        var isLogical: Bool { self == .and || self == .or || self == .xor }
    }

    enum ReduceKind: String, Sendable { case mean, sum, max, min, prod }
}

/// Geometry of Conv and ConvTranspose (2-D; 1-D is treated as height 1).
struct ConvAttributes: Sendable {
    var kernel: [Int]?
    var strides: [Int]?
    var dilations: [Int]?
    var pads: [Int]?
    var outputPadding: [Int]?
    var group: Int
    var autoPad: String
}

/// Resize's interpolation settings.
struct ResizeAttributes: Sendable {
    var mode: String
    var coordinateMode: String
    var nearestMode: String
    var cubicA: Float
    var excludeOutside: Bool
    var extrapolation: Float
    /// Opset 10's Resize takes the scales as its second input.
    var scalesInput: Int
}

/// AveragePool / MaxPool / global pooling settings (2-D).
struct PoolAttributes: Sendable {
    var isMax: Bool
    var global: Bool
    var kernel: [Int]
    var strides: [Int]?
    var pads: [Int]?
    var dilations: [Int]?
    var ceilMode: Bool
    var countIncludePad: Bool
    var autoPad: String
}

extension ONNXOp {
    /// Decodes a node of the default domain.
    /// - Parameter opset: the model's default-domain opset version.
    /// - Throws: ``ModelFormatError`` `.unsupportedLayer` naming the node and op for an unknown
    ///   operator, a foreign domain, or an attribute (or attribute value) this importer does not implement.
    static func parse(_ node: ONNX.NodeProto, opset: Int) throws -> ONNXOp {
        var a = ONNXAttributes(node)
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw a.error("operator domain '\(node.domain)' is not supported")
        }
        let op = try parseAttributes(node.opType, &a, opset: opset)
        try a.checkAllUsed()
        return op
    }

    private static let unaryOps: [String: UnaryKind] = [
        "Sigmoid": .sigmoid, "Tanh": .tanh, "Erf": .erf, "Sin": .sin, "Cos": .cos, "Exp": .exp, "Log": .log,
        "Sqrt": .sqrt, "Reciprocal": .reciprocal, "Neg": .neg, "Abs": .abs, "Relu": .relu, "Floor": .floor,
        "Ceil": .ceil, "Identity": .identity, "Not": .not, "Softplus": .softplus,
    ]
    private static let binaryOps: [String: BinaryKind] = [
        "Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div, "Pow": .pow, "Max": .max, "Min": .min,
        "Equal": .equal, "Less": .less, "Greater": .greater, "LessOrEqual": .lessOrEqual,
        "GreaterOrEqual": .greaterOrEqual, "And": .and, "Or": .or, "Xor": .xor,
    ]

    private static func parseAttributes(_ type: String, _ a: inout ONNXAttributes, opset: Int) throws -> ONNXOp {
        if let u = unaryOps[type] { return .unary(u) }
        if let b = binaryOps[type] { return .binary(b) }
        switch type {
        case "Mod":
            let fmod = try a.int("fmod", 0)
            try a.require("fmod", fmod, in: [0, 1])
            return .binary(.mod)
        case "Gelu":
            let approx = try a.string("approximate", "none")
            try a.require("approximate", approx, in: ["none", "tanh"])
            return .unary(approx == "none" ? .gelu : .geluTanh)
        case "Dropout":
            _ = try a.float("ratio", 0.5)
            _ = try a.intOrNil("seed")
            return .unary(.identity)
        case "Clip":
            if opset < 11 { throw a.error("Clip before opset 11 (min/max attributes) is not supported") }
            return .clip
        case "Where": return .whereSelect
        case "Conv", "ConvTranspose":
            var c = ConvAttributes(kernel: try a.ints("kernel_shape"), strides: try a.ints("strides"),
                                   dilations: try a.ints("dilations"), pads: try a.ints("pads"), outputPadding: nil,
                                   group: try a.int("group", 1), autoPad: try a.string("auto_pad", "NOTSET"))
            try a.require("auto_pad", c.autoPad, in: ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"])
            if type == "Conv" { return .conv(c) }
            c.outputPadding = try a.ints("output_padding")
            if try a.ints("output_shape") != nil { throw a.error("attribute output_shape is not supported") }
            try a.require("auto_pad", c.autoPad, in: ["NOTSET", "VALID"])
            return .convTranspose(c)
        case "Gemm":
            return .gemm(alpha: try a.float("alpha", 1), beta: try a.float("beta", 1),
                         transA: try a.int("transA", 0) != 0, transB: try a.int("transB", 0) != 0)
        case "MatMul": return .matMul
        case "Einsum":
            let eq = try a.string("equation", "")
            do { return .einsum(try EinsumEquation(eq)) } catch { throw a.error("equation '\(eq)': \(error)") }
        case "Softmax":
            return .softmax(axis: try a.int("axis", opset >= 13 ? -1 : 1), flattened: opset < 13)
        case "InstanceNormalization":
            return .instanceNorm(epsilon: try a.float("epsilon", 1e-5))
        case "GroupNormalization":
            let groups = try a.intOrNil("num_groups")
            guard let groups, groups > 0 else { throw a.error("attribute num_groups is missing") }
            let stash = try a.int("stash_type", 1)
            try a.require("stash_type", stash, in: [1])
            return .groupNorm(groups: groups, epsilon: try a.float("epsilon", 1e-5))
        case "LayerNormalization":
            let stash = try a.int("stash_type", 1)
            try a.require("stash_type", stash, in: [1])
            return .layerNorm(axis: try a.int("axis", -1), epsilon: try a.float("epsilon", 1e-5))
        case "Resize", "Upsample":
            let r = ResizeAttributes(
                mode: try a.string("mode", "nearest"),
                coordinateMode: try a.string("coordinate_transformation_mode", type == "Upsample" || opset < 11 ? "asymmetric" : "half_pixel"),
                nearestMode: try a.string("nearest_mode", type == "Upsample" || opset < 11 ? "floor" : "round_prefer_floor"),
                cubicA: try a.float("cubic_coeff_a", -0.75),
                excludeOutside: try a.int("exclude_outside", 0) != 0,
                extrapolation: try a.float("extrapolation_value", 0),
                scalesInput: type == "Upsample" || opset < 11 ? 1 : 2)
            try a.require("mode", r.mode, in: ["nearest", "linear", "cubic", "bilinear"])
            try a.require("coordinate_transformation_mode", r.coordinateMode,
                          in: ["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_crop_and_resize"])
            if r.coordinateMode == "tf_crop_and_resize" { throw a.error("coordinate_transformation_mode=tf_crop_and_resize is not supported") }
            try a.require("nearest_mode", r.nearestMode, in: ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"])
            let antialias = try a.int("antialias", 0)
            try a.require("antialias", antialias, in: [0])
            if let axes = try a.ints("axes") { throw a.error("attribute axes=\(axes) is not supported") }
            let policy = try a.string("keep_aspect_ratio_policy", "stretch")
            try a.require("keep_aspect_ratio_policy", policy, in: ["stretch"])
            return .resize(r)
        case "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool":
            let global = type.hasPrefix("Global")
            let p = PoolAttributes(
                isMax: type.hasSuffix("MaxPool"), global: global,
                kernel: global ? [] : (try a.ints("kernel_shape") ?? []),
                strides: global ? nil : try a.ints("strides"), pads: global ? nil : try a.ints("pads"),
                dilations: type == "MaxPool" || (type == "AveragePool" && opset >= 19) ? try a.ints("dilations") : nil,
                ceilMode: global ? false : try a.int("ceil_mode", 0) != 0,
                countIncludePad: type == "AveragePool" ? try a.int("count_include_pad", 0) != 0 : false,
                autoPad: global ? "NOTSET" : try a.string("auto_pad", "NOTSET"))
            if type == "MaxPool" {
                let order = try a.int("storage_order", 0)
                try a.require("storage_order", order, in: [0])
            }
            if !global && p.kernel.isEmpty { throw a.error("attribute kernel_shape is missing") }
            try a.require("auto_pad", p.autoPad, in: ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"])
            return .pool(p)
        case "Reshape": return .reshape(allowZero: try a.int("allowzero", 0) != 0)
        case "Transpose": return .transpose(perm: try a.ints("perm"))
        case "Split":
            let axis = try a.int("axis", 0)
            let sizes = opset < 13 ? try a.ints("split") : nil
            let outputs = opset >= 18 ? try a.intOrNil("num_outputs") : nil
            return .split(axis: axis, sizes: sizes, outputs: outputs ?? a.node.outputs.count)
        case "Concat": return .concat(axis: try a.int("axis", 0))
        case "Slice":
            if opset < 10 {
                guard let starts = try a.ints("starts"), let ends = try a.ints("ends") else {
                    throw a.error("attributes starts and ends are required")
                }
                return .slice(attributes: (starts, ends, try a.ints("axes")))
            }
            return .slice(attributes: nil)
        case "Gather": return .gather(axis: try a.int("axis", 0))
        case "Unsqueeze": return .unsqueeze(axes: opset < 13 ? try a.ints("axes") : nil)
        case "Squeeze": return .squeeze(axes: opset < 13 ? try a.ints("axes") : nil)
        case "Expand": return .expand
        case "Constant": return .constant(try parseConstant(&a))
        case "ConstantOfShape":
            return .constantOfShape(try a.tensor("value").map { try ONNXTensor(proto: $0) })
        case "Shape": return .shape(start: try a.int("start", 0), end: try a.intOrNil("end"))
        case "Cast":
            let to = try a.int("to", 0)
            _ = try a.int("saturate", 1)
            guard let t = ONNX.DataType(rawValue: Int32(truncatingIfNeeded: to)), ONNXTensor.supportedTypes.contains(t) else {
                throw a.error("cast to data type \(to) is not supported")
            }
            return .cast(t)
        case "Range": return .range
        case "Flatten": return .flatten(axis: try a.int("axis", 1))
        case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd":
            let kind = ReduceKind(rawValue: String(type.dropFirst(6)).lowercased())!
            // ReduceSum took axes as an input from opset 13, the others from opset 18.
            let axesAsInput = kind == .sum ? opset >= 13 : opset >= 18
            return .reduce(kind, axes: axesAsInput ? nil : try a.ints("axes"), keepDims: try a.int("keepdims", 1) != 0,
                           noopWithEmptyAxes: axesAsInput ? try a.int("noop_with_empty_axes", 0) != 0 : false)
        default:
            throw a.error("operator \(type) is not supported")
        }
    }

    private static func parseConstant(_ a: inout ONNXAttributes) throws -> ONNXTensor {
        if let t = try a.tensor("value") { return try ONNXTensor(proto: t) }
        if let f = try a.node.attribute("value_float").map({ _ in try a.float("value_float", 0) }) {
            return ONNXTensor(shape: [], floats: [f])
        }
        if let fs = try a.floats("value_floats") { return ONNXTensor(shape: [fs.count], floats: fs) }
        if let i = try a.intOrNil("value_int") { return ONNXTensor(shape: [], ints: [Int64(i)]) }
        if let is_ = try a.ints("value_ints") { return ONNXTensor(shape: [is_.count], ints: is_.map { Int64($0) }) }
        throw a.error("no supported value attribute (value, value_float(s), value_int(s))")
    }
}
