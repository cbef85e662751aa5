import Foundation
import Tensor

/// An elementwise function of two tensors with NumPy broadcasting.
public enum BinaryOp: Sendable, Hashable, CaseIterable {
    /// a + b
    case add
    /// a - b
    case sub
    /// a * b
    case mul
    /// a / b
    case div
    /// max(a, b)
    case max
    /// min(a, b)
    case min
    /// a raised to b
    case pow
    /// a mod b, the remainder taking the divisor's sign (Python's `%`, ONNX Mod with `fmod=0`)
    case mod
    /// C `fmod(a, b)`: the remainder takes the dividend's sign
    case fmod
    /// 1 where a == b, else 0
    case equal
    /// 1 where a < b, else 0
    case less
    /// 1 where a > b, else 0
    case greater
    /// 1 where a <= b, else 0
    case lessOrEqual
    /// 1 where a >= b, else 0
    case greaterOrEqual

    /// Whether the result is a 0/1 truth value.
    public var isComparison: Bool {
        switch self {
        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual: return true
        default: return false
        }
    }

    /// The function on one pair.
    @inlinable
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        // NaN propagates (numpy's maximum/minimum; Swift.max would drop it on one side).
        case .max: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        case .min: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
        case .pow: return b == 2 ? a * a : b == 1 ? a : Foundation.pow(a, b)
        case .mod:
            let r = Foundation.fmod(a, b)
            return r != 0 && (r < 0) != (b < 0) ? r + b : r
        case .fmod: return Foundation.fmod(a, b)
        case .equal: return a == b ? 1 : 0
        case .less: return a < b ? 1 : 0
        case .greater: return a > b ? 1 : 0
        case .lessOrEqual: return a <= b ? 1 : 0
        case .greaterOrEqual: return a >= b ? 1 : 0
        }
    }
}

/// NumPy broadcasting of two shapes: right-aligned, each pair equal or one of them 1.
func broadcastShape(_ a: Shape, _ b: Shape, op: String) throws -> Shape {
    let rank = max(a.rank, b.rank)
    var dims = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.rank ? 1 : a.dims[i - (rank - a.rank)]
        let db = i < rank - b.rank ? 1 : b.dims[i - (rank - b.rank)]
        guard da == db || da == 1 || db == 1 else {
            throw KernelError(.shapeMismatch, "\(op): shapes \(a) and \(b) do not broadcast")
        }
        dims[i] = da == 1 ? db : da
    }
    return Shape(dims)
}

/// Element strides of `s` seen as a tensor of `rank` dims, 0 along broadcast dimensions.
func broadcastStrides(_ s: Shape, to out: Shape) -> [Int] {
    let pad = out.rank - s.rank
    let st = s.strides
    return (0..<out.rank).map { i in i < pad || s.dims[i - pad] == 1 ? 0 : st[i - pad] }
}

extension Ops {
    /// `op(a, b)` with NumPy broadcasting.
    /// - Throws: ``KernelError`` when the shapes do not broadcast.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: try broadcastShape(a.shape, b.shape, op: "\(op)"))
        try binary(op, a, b, into: out, pool: pool)
        return out
    }

    /// `op(a, b)` into `output`, which must have the broadcast shape's element count; it may be
    /// `a` or `b` when that one already has the full shape.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into output: Tensor, pool: ComputePool) throws {
        try checkF32(a, b, output, op: "\(op)")
        let shape = try broadcastShape(a.shape, b.shape, op: "\(op)")
        guard output.count == shape.count else {
            throw KernelError(.shapeMismatch, "\(op): output \(output.shape) for \(a.shape) and \(b.shape)")
        }
        let pa = a.floatPointer, pb = b.floatPointer, po = output.floatPointer
        // Collapse the innermost dimensions into one run in which each operand is either
        // contiguous or a repeated scalar; the outer index walks the remaining dimensions.
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        var inner = 1, k = shape.rank
        var contigA: Bool?, contigB: Bool?
        func mode(_ stride: Int, _ current: Bool?) -> Bool?? {
            let m: Bool
            if stride == 0 { m = false } else if stride == inner { m = true } else { return .none }
            if let current, current != m { return .none }
            return .some(m)
        }
        while k > 0 {
            let e = shape.dims[k - 1]
            if e == 1 { k -= 1; continue }
            guard let ma = mode(sa[k - 1], contigA), let mb = mode(sb[k - 1], contigB) else { break }
            contigA = ma
            contigB = mb
            inner *= e
            k -= 1
        }
        let vx = contigA ?? true, vy = contigB ?? true
        let outerDims = Array(shape.dims[0..<k]), outerSA = Array(sa[0..<k]), outerSB = Array(sb[0..<k])
        let outer = shape.count / max(inner, 1)
        guard shape.count > 0 else { return }
        pool.parallelFor(outer, minimumPerPart: max(1, 16384 / max(inner, 1))) { r in
            for o in r {
                var rem = o, offA = 0, offB = 0
                for d in stride(from: outerDims.count - 1, through: 0, by: -1) {
                    let i = rem % outerDims[d]
                    rem /= outerDims[d]
                    offA += i * outerSA[d]
                    offB += i * outerSB[d]
                }
                Self.binaryRun(op, pa + offA, vx, pb + offB, vy, po + o * inner, inner)
            }
        }
    }

    /// One contiguous run: each operand either advances (`true`) or is a repeated scalar.
    @inline(__always)
    static func binaryRun(_ op: BinaryOp, _ x: UnsafePointer<Float>, _ vx: Bool, _ y: UnsafePointer<Float>,
                          _ vy: Bool, _ z: UnsafeMutablePointer<Float>, _ n: Int) {
        switch (vx, vy) {
        case (true, true):
            switch op {
            case .add: for i in 0..<n { z[i] = x[i] + y[i] }
            case .sub: for i in 0..<n { z[i] = x[i] - y[i] }
            case .mul: for i in 0..<n { z[i] = x[i] * y[i] }
            case .div: for i in 0..<n { z[i] = x[i] / y[i] }
            default: for i in 0..<n { z[i] = op.apply(x[i], y[i]) }
            }
        case (true, false):
            let s = y[0]
            switch op {
            case .add: for i in 0..<n { z[i] = x[i] + s }
            case .sub: for i in 0..<n { z[i] = x[i] - s }
            case .mul: for i in 0..<n { z[i] = x[i] * s }
            default: for i in 0..<n { z[i] = op.apply(x[i], s) }
            }
        case (false, true):
            let s = x[0]
            switch op {
            case .add: for i in 0..<n { z[i] = s + y[i] }
            case .mul: for i in 0..<n { z[i] = s * y[i] }
            default: for i in 0..<n { z[i] = op.apply(s, y[i]) }
            }
        case (false, false):
            let v = op.apply(x[0], y[0])
            for i in 0..<n { z[i] = v }
        }
    }
}

extension Reference {
    /// `op(a, b)` with NumPy broadcasting, one element at a time.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShape(a.shape, b.shape, op: "\(op)")
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let va = a.toArray(), vb = b.toArray()
        var out = [Float](repeating: 0, count: shape.count)
        for flat in 0..<shape.count {
            var rem = flat, ia = 0, ib = 0
            for d in stride(from: shape.rank - 1, through: 0, by: -1) {
                let i = rem % shape.dims[d]
                rem /= shape.dims[d]
                ia += i * sa[d]
                ib += i * sb[d]
            }
            out[flat] = op.apply(va[ia], vb[ib])
        }
        return Tensor(shape: shape, values: out)
    }
}
