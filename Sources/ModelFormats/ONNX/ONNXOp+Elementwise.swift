import Foundation
import Kernels
import Tensor

/// Element-wise ONNX operators: unary math, broadcasting binary arithmetic and comparisons,
/// Clip, Where and Cast.
enum ONNXElementwise {
    static func unary(_ kind: ONNXOp.UnaryKind, _ x: ONNXTensor, pool: ComputePool) throws -> ONNXTensor {
        switch (kind, x.elements) {
        case (.identity, _):
            return x
        case (.not, .bool(let v)):
            return ONNXTensor(shape: x.shape, bools: v.map { !$0 })
        case (.neg, .int64(let v)):
            return ONNXTensor(shape: x.shape, ints: v.map { 0 &- $0 }, type: x.elementType)
        case (.abs, .int64(let v)):
            return ONNXTensor(shape: x.shape, ints: v.map { $0 < 0 ? 0 &- $0 : $0 }, type: x.elementType)
        case (.relu, .int64(let v)):
            return ONNXTensor(shape: x.shape, ints: v.map { max($0, 0) }, type: x.elementType)
        case (_, .float(var v)):
            guard let op = unaryOp(kind) else { break }
            try v.withMutableTensorView(shape: x.shape) { t in try Ops.unary(op, t, into: t, pool: pool) }
            return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
        default:
            break
        }
        throw ONNXRuntimeError("\(kind.rawValue) is not defined for \(x.elementType) tensors")
    }

    /// The engine's op for a float unary operator (nil for Identity and Not, which are no arithmetic).
    static func unaryOp(_ kind: ONNXOp.UnaryKind) -> UnaryOp? {
        switch kind {
        case .sigmoid: return .sigmoid
        case .tanh: return .tanh
        case .erf: return .erf
        case .sin: return .sin
        case .cos: return .cos
        case .exp: return .exp
        case .log: return .log
        case .sqrt: return .sqrt
        case .reciprocal: return .reciprocal
        case .neg: return .neg
        case .abs: return .abs
        case .relu: return .relu
        case .floor: return .floor
        case .ceil: return .ceil
        case .softplus: return .softplus
        case .gelu: return .gelu
        case .geluTanh: return .geluTanh
        case .silu: return .silu
        case .identity, .not: return nil
        }
    }

    /// The engine's op for a float arithmetic or comparison operator (nil for the logical ones).
    static func binaryOp(_ kind: ONNXOp.BinaryKind) -> BinaryOp? {
        switch kind {
        case .add: return .add
        case .sub: return .sub
        case .mul: return .mul
        case .div: return .div
        case .pow: return .pow
        case .max: return .max
        case .min: return .min
        case .mod: return .mod
        case .fmod: return .fmod
        case .equal: return .equal
        case .less: return .less
        case .greater: return .greater
        case .lessOrEqual: return .lessOrEqual
        case .greaterOrEqual: return .greaterOrEqual
        case .and, .or, .xor: return nil
        }
    }

    /// Numpy-broadcasting binary op. Comparisons yield booleans; And/Or/Xor take booleans.
    static func binary(_ kind: ONNXOp.BinaryKind, _ a: ONNXTensor, _ b: ONNXTensor, pool: ComputePool) throws -> ONNXTensor {
        guard let shape = Layout.broadcast([a.shape, b.shape]) else {
            throw ONNXRuntimeError("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        if kind.isLogical {
            let f: (Bool, Bool) -> Bool = kind == .and ? { $0 && $1 } : kind == .or ? { $0 || $1 } : { $0 != $1 }
            return ONNXTensor(shape: shape, bools: broadcastMap(a.bools, a.shape, b.bools, b.shape, shape, f))
        }
        switch (a.elements, b.elements) {
        case (.float, .float):
            guard let op = binaryOp(kind) else { break }
            // Written straight into the result's array (no copy out of a tensor).
            let count = shape.reduce(1, *)
            var out = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
            try out.withMutableTensorView(shape: shape) { o in
                try a.withTensorView { x in try b.withTensorView { y in try Ops.binary(op, x, y, into: o, pool: pool) } }
            }
            if kind.isComparison { return ONNXTensor(shape: shape, bools: out.map { $0 != 0 }) }
            return ONNXTensor(shape: shape, floats: out, type: a.elementType)
        case (.int64(let x), .int64(let y)):
            if kind.isComparison {
                let f = comparison(kind) as (Int64, Int64) -> Bool
                return ONNXTensor(shape: shape, bools: broadcastMap(x, a.shape, y, b.shape, shape, f))
            }
            let f = try intFunction(kind)
            return ONNXTensor(shape: shape, ints: broadcastMap(x, a.shape, y, b.shape, shape, f), type: a.elementType)
        case (.bool(let x), .bool(let y)) where kind == .equal:
            return ONNXTensor(shape: shape, bools: broadcastMap(x, a.shape, y, b.shape, shape, ==))
        case (.float, .int64) where kind == .pow:
            let out = try a.withTensorView { x in try b.withTensorView { y in try Ops.binary(.pow, x, y, pool: pool) } }.toArray()
            return ONNXTensor(shape: shape, floats: out, type: a.elementType)
        default:
            break
        }
        throw ONNXRuntimeError("\(kind.rawValue) of \(a.elementType) and \(b.elementType) tensors is not supported")
    }

    private static func comparison<T: Comparable>(_ kind: ONNXOp.BinaryKind) -> (T, T) -> Bool {
        switch kind {
        case .less: return (<)
        case .greater: return (>)
        case .lessOrEqual: return (<=)
        case .greaterOrEqual: return (>=)
        default: return (==)
        }
    }

    private static func intFunction(_ kind: ONNXOp.BinaryKind) throws -> (Int64, Int64) -> Int64 {
        switch kind {
        case .add: return { $0 &+ $1 }
        case .sub: return { $0 &- $1 }
        case .mul: return { $0 &* $1 }
        case .div: return { $1 == 0 ? 0 : $0 / $1 }
        case .max: return { Swift.max($0, $1) }
        case .min: return { Swift.min($0, $1) }
        case .fmod: return { b, m in m == 0 ? 0 : b % m }
        case .mod: return { b, m in
            guard m != 0 else { return 0 }
            let r = b % m
            return r != 0 && (r < 0) != (m < 0) ? r + m : r
        }
        case .pow: return { b, e in
            guard e >= 0 else { return 0 }
            var r: Int64 = 1
            for _ in 0..<e { r = r &* b }
            return r
        }
        default: throw ONNXRuntimeError("\(kind.rawValue) is not an integer operation")
        }
    }

    /// `out[i] = f(a[ia], b[ib])` under numpy broadcasting.
    @inline(__always)
    static func broadcastMap<A, B, R>(_ a: [A], _ aShape: [Int], _ b: [B], _ bShape: [Int], _ shape: [Int],
                                      _ f: (A, B) -> R) -> [R] {
        let total = shape.reduce(1, *)
        if aShape == bShape {
            return [R](unsafeUninitializedCapacity: total) { out, n in
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        for i in 0..<total { (out.baseAddress! + i).initialize(to: f(pa[i], pb[i])) }
                    }
                }
                n = total
            }
        }
        return [R](unsafeUninitializedCapacity: total) { out, n in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let po = out.baseAddress!
                    Layout.forEachRow(outShape: shape, operandShapes: [aShape, bShape]) { o, offs, inner, st in
                        let sa = st[0], sb = st[1]
                        var ia = offs[0], ib = offs[1]
                        if sa == 1 && sb == 0 {
                            let bv = pb[ib]
                            for j in 0..<inner { (po + o + j).initialize(to: f(pa[ia + j], bv)) }
                        } else if sa == 1 && sb == 1 {
                            for j in 0..<inner { (po + o + j).initialize(to: f(pa[ia + j], pb[ib + j])) }
                        } else {
                            for j in 0..<inner {
                                (po + o + j).initialize(to: f(pa[ia], pb[ib]))
                                ia += sa
                                ib += sb
                            }
                        }
                    }
                }
            }
            n = total
        }
    }

    /// `Clip(x, min?, max?)`.
    static func clip(_ x: ONNXTensor, _ lo: ONNXTensor?, _ hi: ONNXTensor?, pool: ComputePool) throws -> ONNXTensor {
        switch x.elements {
        case .float:
            let l = lo?.floats.first ?? -.infinity, h = hi?.floats.first ?? .infinity
            let out = try x.withTensorView { try Ops.clip($0, lower: l, upper: h, pool: pool) }
            return ONNXTensor(shape: x.shape, floats: out.toArray(), type: x.elementType)
        case .int64(let v):
            let l = lo?.ints.first ?? .min, h = hi?.ints.first ?? .max
            return ONNXTensor(shape: x.shape, ints: v.map { Swift.min(Swift.max($0, l), h) }, type: x.elementType)
        case .bool:
            throw ONNXRuntimeError("Clip of a bool tensor")
        }
    }

    /// `Where(condition, x, y)` with three-way broadcasting.
    static func select(_ c: ONNXTensor, _ x: ONNXTensor, _ y: ONNXTensor, pool: ComputePool) throws -> ONNXTensor {
        guard let shape = Layout.broadcast([c.shape, x.shape, y.shape]) else {
            throw ONNXRuntimeError("shapes \(c.shape), \(x.shape), \(y.shape) do not broadcast")
        }
        // Integers and booleans: expand the condition to the output, then pick per element.
        var cond: [Bool] { ONNXShapeOps.expandValues(c.bools, from: c.shape, to: shape) }
        switch (x.elements, y.elements) {
        case (.float, .float):
            let out = try c.withTensorView { cv in
                try x.withTensorView { xv in try y.withTensorView { yv in try Ops.select(cv, xv, yv, pool: pool) } }
            }
            return ONNXTensor(shape: shape, floats: out.toArray(), type: x.elementType)
        case (.int64(let xv), .int64(let yv)):
            let xe = ONNXShapeOps.expandValues(xv, from: x.shape, to: shape)
            let ye = ONNXShapeOps.expandValues(yv, from: y.shape, to: shape)
            return ONNXTensor(shape: shape, ints: zip(cond, zip(xe, ye)).map { $0 ? $1.0 : $1.1 }, type: x.elementType)
        case (.bool(let xv), .bool(let yv)):
            let xe = ONNXShapeOps.expandValues(xv, from: x.shape, to: shape)
            let ye = ONNXShapeOps.expandValues(yv, from: y.shape, to: shape)
            return ONNXTensor(shape: shape, bools: zip(cond, zip(xe, ye)).map { $0 ? $1.0 : $1.1 })
        default:
            throw ONNXRuntimeError("Where of \(x.elementType) and \(y.elementType) tensors")
        }
    }

    /// `Cast(x, to)`: float16/bfloat16 targets round to their precision; integer targets
    /// truncate toward zero and wrap to the target's width.
    static func cast(_ x: ONNXTensor, to type: ONNX.DataType) -> ONNXTensor {
        switch type {
        case .bool:
            return ONNXTensor(shape: x.shape, bools: x.bools)
        case .float, .double:
            return ONNXTensor(shape: x.shape, floats: x.floats, type: type)
        case .float16:
            return ONNXTensor(shape: x.shape, floats: x.floats.map { Float(Float16($0)) }, type: type)
        case .bfloat16:
            return ONNXTensor(shape: x.shape, floats: x.floats.map {
                Float(bitPattern: UInt32(HalfConversion.bf16(from: $0)) << 16)
            }, type: type)
        default:
            let wrap: (Int64) -> Int64
            switch type {
            case .int8: wrap = { Int64(Int8(truncatingIfNeeded: $0)) }
            case .uint8: wrap = { Int64(UInt8(truncatingIfNeeded: $0)) }
            case .int16: wrap = { Int64(Int16(truncatingIfNeeded: $0)) }
            case .uint16: wrap = { Int64(UInt16(truncatingIfNeeded: $0)) }
            case .int32: wrap = { Int64(Int32(truncatingIfNeeded: $0)) }
            case .uint32: wrap = { Int64(UInt32(truncatingIfNeeded: $0)) }
            default: wrap = { $0 }
            }
            return ONNXTensor(shape: x.shape, ints: x.ints.map(wrap), type: type)
        }
    }
}
