import CKernels
import Foundation
import Tensor

extension Ops {
    /// Applies an activation elementwise; channel (for PReLU) is dimension 1 of NCHW.
    public static func activation(_ x: Tensor, _ activation: Activation, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        try self.activation(x, activation, into: out, pool: pool)
        return out
    }

    /// Applies an activation into `output` (may be `x` itself for in-place).
    public static func activation(_ x: Tensor, _ activation: Activation, into output: Tensor, pool: ComputePool) throws {
        try checkF32(x, output, op: "activation")
        guard output.count == x.count else {
            throw KernelError(.shapeMismatch, "activation: output \(output.shape) for input \(x.shape)")
        }
        let (n, c, h, w) = x.nchw
        try activation.validate(channels: c, op: "activation")
        let src = x.floatPointer, dst = output.floatPointer
        let plane = h * w
        activation.withC(channels: c) { act in
            pool.parallelFor(n * c) { r in
                for i in r {
                    let s = src + i * plane, d = dst + i * plane
                    if s != d { d.update(from: s, count: plane) }
                    pg_bias_activation(d, plane, 0, act, Int32(i % c))
                }
            }
        }
    }
}

extension Reference {
    /// Activation by definition.
    public static func activation(_ x: Tensor, _ activation: Activation) -> Tensor {
        let (_, c, h, w) = x.nchw
        let v = x.toArray()
        return Tensor(shape: x.shape, values: v.indices.map { activation.apply(v[$0], channel: ($0 / (h * w)) % c) })
    }
}

/// An elementwise function of one tensor.
public enum UnaryOp: Sendable, Hashable, CaseIterable {
    /// |x|
    case abs
    /// -x
    case neg
    /// x²
    case square
    /// √x
    case sqrt
    /// 1/√x
    case rsqrt
    /// eˣ
    case exp
    /// natural logarithm
    case log
    /// sine
    case sin
    /// cosine
    case cos
    /// tangent
    case tan
    /// hyperbolic tangent
    case tanh
    /// round down
    case floor
    /// round up
    case ceil
    /// round to nearest, ties to even
    case round
    /// 1/x
    case reciprocal
    /// 1/(1+e⁻ˣ)
    case sigmoid
    /// max(x, 0)
    case relu
    /// x·Φ(x) (exact, erf-based)
    case gelu
    /// x·Φ(x) with Φ approximated through tanh (GELU's `approximate="tanh"`)
    case geluTanh
    /// error function
    case erf
    /// log(1+eˣ)
    case softplus
    /// x·tanh(softplus(x))
    case mish
    /// clamp(x/6 + 1/2, 0, 1)
    case hardSigmoid
    /// x·clamp(x+3, 0, 6)/6
    case hardSwish
    /// x·sigmoid(x)
    case silu
    /// x rounded to the nearest float16 (ties to even; ±inf beyond 65504): a value cast to half
    /// precision and back, as a graph that stores an intermediate in float16 computes it
    case roundToFloat16
    /// x rounded to the nearest bfloat16 (ties to even)
    case roundToBFloat16

    /// The function on one value.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .abs: return Swift.abs(x)
        case .neg: return -x
        case .square: return x * x
        case .sqrt: return x.squareRoot()
        case .rsqrt: return 1 / x.squareRoot()
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .tan: return Foundation.tan(x)
        case .tanh: return Foundation.tanh(x)
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .round: return x.rounded(.toNearestOrEven)
        case .reciprocal: return 1 / x
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .relu: return Swift.max(x, 0)
        case .gelu: return 0.5 * x * (1 + Foundation.erf(x * 0.70710678118654752))
        case .geluTanh: return 0.5 * x * (1 + Foundation.tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)))
        case .erf: return Foundation.erf(x)
        case .softplus: return x > 20 ? x : Foundation.log1p(Foundation.exp(x))
        case .mish: return x * Foundation.tanh(x > 20 ? x : Foundation.log1p(Foundation.exp(x)))
        case .hardSigmoid: return Swift.min(Swift.max(x / 6 + 0.5, 0), 1)
        case .hardSwish: return x * Swift.min(Swift.max(x + 3, 0), 6) / 6
        case .silu: return x / (1 + Foundation.exp(-x))
        case .roundToFloat16: return HalfConversion.float(fromF16: HalfConversion.f16(from: x))
        case .roundToBFloat16: return HalfConversion.float(fromBF16: HalfConversion.bf16(from: x))
        }
    }
}

extension Double {
    @usableFromInline var float: Float { Float(self) }
}

extension Ops {
    /// Applies a unary function elementwise, in parallel.
    public static func unary(_ op: UnaryOp, _ x: Tensor, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        try unary(op, x, into: out, pool: pool)
        return out
    }

    /// Applies a unary function into `output` (may be `x`).
    public static func unary(_ op: UnaryOp, _ x: Tensor, into output: Tensor, pool: ComputePool) throws {
        try checkF32(x, output, op: "unary")
        guard output.count == x.count else {
            throw KernelError(.shapeMismatch, "unary \(op): output \(output.shape) for input \(x.shape)")
        }
        let src = x.floatPointer, dst = output.floatPointer
        if let kernel = FastMath.kernel(op) {
            if x.count > 0 { FastMath.map(src, dst, x.count, kernel, pool: pool) }
            return
        }
        pool.parallelFor(x.count, minimumPerPart: 16384) { r in
            switch op {
            case .relu: for i in r { dst[i] = Swift.max(src[i], 0) }
            case .neg: for i in r { dst[i] = -src[i] }
            case .abs: for i in r { dst[i] = Swift.abs(src[i]) }
            case .square: for i in r { dst[i] = src[i] * src[i] }
            case .sqrt: for i in r { dst[i] = src[i].squareRoot() }
            default: for i in r { dst[i] = op.apply(src[i]) }
            }
        }
    }
}

extension Reference {
    /// Unary function by definition.
    public static func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, values: x.toArray().map(op.apply))
    }
}
