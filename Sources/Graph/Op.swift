import Foundation
import Kernels

/// What a node computes.
///
/// The image ops (convolution through shuffle-add) take NCHW float32 and loop over the batch;
/// the tensor ops (``matMul`` onwards, see `TensorOps.swift`) take any rank with ONNX/NumPy
/// semantics (broadcasting, negative axes counting from the end).
public enum Op: Sendable {
    /// 2-D convolution (with its fused epilogue).
    case convolution(Convolution)
    /// 2-D transposed convolution.
    case deconvolution(Deconvolution)
    /// An element-wise activation.
    case activation(Activation)
    /// Depth-to-space in PyTorch's channel order: channel `c*r*r + i*r + j` goes to
    /// output channel `c`, row offset `i`, column offset `j`.
    case pixelShuffle(factor: Int)
    /// Spatial resize by a scale factor.
    case resize(Resize)
    /// `a (op) b` with `b` either the same shape, one value per channel, or one scalar.
    case binary(BinaryKind)
    /// `sum(coefficient[i] * input[i])`, or element-wise product / maximum of all inputs.
    case eltwise(Eltwise)
    /// Window of the first input at an offset; its size is the second input's or given.
    case crop(Crop)
    /// Concatenation along the channel axis.
    case concat
    /// Spatial pooling.
    case pooling(Pooling)
    /// Fully connected layer over the flattened `C*H*W` of each image; output `[N, O, 1, 1]`.
    case innerProduct(FullyConnected)
    /// `input[0][n,c,y,x] * input[1][n,c]`: per-image, per-channel scaling (squeeze-excitation).
    case channelScale
    /// Fused `pixelShuffle(input[0], r) + nearestUpsample(input[1], r)`: the residual of
    /// sub-pixel upscalers, computed without materializing either intermediate.
    case shuffleAdd(factor: Int)

    // MARK: Tensor ops (any rank)

    /// `a @ b` with NumPy batch broadcasting; rank-1 operands are promoted and the added
    /// dimension removed again (ONNX MatMul).
    case matMul
    /// `alpha * op(a) @ op(b) + beta * c` on matrices, `c` (optional third input) broadcast
    /// to the output (ONNX Gemm).
    case gemm(Gemm)
    /// `softmax(q @ kᵀ * scale) @ v` over the last two dimensions of `[..., T, D]` queries,
    /// `[..., S, D]` keys and `[..., S, Dv]` values (leading dimensions equal).
    case attention(scale: Float)
    /// ``attention(scale:)`` with features as rows, the layout exported UNets compute in:
    /// `[..., D, T]` queries, `[..., D, S]` keys and `[..., Dv, S]` values give `[..., Dv, T]`
    /// (leading dimensions equal), so no operand or result is transposed.
    case attentionFeatureMajor(scale: Float)
    /// ``attention(scale:)`` with the heads interleaved in the last dimension, the layout linear
    /// projections produce: `[N, T, H·D]` queries, `[N, S, H·D]` keys and `[N, S, H·Dv]` values
    /// give `[N, T, H·Dv]`, so no head is split out or merged back by a transpose.
    case attentionHeads(heads: Int, scale: Float)
    /// GEGLU: `a · gelu(b)` (exact GELU) where `a` and `b` are the first and second halves of
    /// the input's last dimension, read in place (no slice copies).
    case gatedGELU
    /// Softmax along an axis.
    case softmax(axis: Int)
    /// Layer, group or instance normalization; inputs `x` and optional scale and bias.
    case normalization(Normalization)
    /// An element-wise function.
    case unary(UnaryOp)
    /// A broadcasting element-wise binary op.
    case elementwise(BinaryOp)
    /// `condition != 0 ? x : y`, all three broadcast (ONNX Where).
    case select
    /// Element-wise clamp to `[min, max]`.
    case clip(min: Float, max: Float)
    /// `take(input, indices, axis)`: the second input holds indices (negative count from the end).
    case gather(axis: Int)
    /// Concatenation along any axis.
    case concatenate(axis: Int)
    /// A strided window along some axes.
    case slice(Slice)
    /// The same elements under another shape: extents, `0` copying the input's extent at that
    /// position and one `-1` inferred (ONNX Reshape without `allowzero`). A view in the memory
    /// plan, never a copy. With a second input, the target is that input's shape instead (its
    /// contents are not read): how a layer returns to a shape known only at run time, such as a
    /// UNet's `[N, C, H·W]` tokens going back to `[N, C, H, W]`.
    case reshape([Int])
    /// Permutes dimensions: output dimension `i` is input dimension `perm[i]`.
    case transpose([Int])
    /// Broadcasts the input to the NumPy broadcast of its shape and `shape` (ONNX Expand).
    case expand([Int])
    /// Reduces over `axes` (all when empty).
    case reduce(ReduceOp, axes: [Int], keepDimensions: Bool)
    /// The input's extents `start..<end` as an `i64` vector (ONNX Shape); always folded to a
    /// constant once the input shapes are known.
    case shapeOf(start: Int, end: Int?)

    /// Short op name for errors and profiles.
    public var name: String {
        switch self {
        case .convolution: return "convolution"
        case .deconvolution: return "deconvolution"
        case .activation: return "activation"
        case .pixelShuffle: return "pixel_shuffle"
        case .resize: return "resize"
        case .binary: return "binary"
        case .eltwise: return "eltwise"
        case .crop: return "crop"
        case .concat: return "concat"
        case .pooling: return "pooling"
        case .innerProduct: return "inner_product"
        case .channelScale: return "channel_scale"
        case .shuffleAdd: return "shuffle_add"
        case .matMul: return "matmul"
        case .gemm: return "gemm"
        case .attention, .attentionFeatureMajor, .attentionHeads: return "attention"
        case .gatedGELU: return "gated_gelu"
        case .softmax: return "softmax"
        case .normalization(let n): return n.name
        case .unary: return "unary"
        case .elementwise: return "elementwise"
        case .select: return "where"
        case .clip: return "clip"
        case .gather: return "gather"
        case .concatenate: return "concatenate"
        case .slice: return "slice"
        case .reshape: return "reshape"
        case .transpose: return "transpose"
        case .expand: return "expand"
        case .reduce: return "reduce"
        case .shapeOf: return "shape"
        }
    }

    /// Whether this is one of the rank-N tensor ops (run through `TensorOpKernels`).
    var isTensorOp: Bool {
        switch self {
        case .convolution, .deconvolution, .activation, .pixelShuffle, .resize, .binary, .eltwise, .crop, .concat, .pooling,
             .innerProduct, .channelScale, .shuffleAdd:
            return false
        default:
            return true
        }
    }

    /// Whether output element i depends only on input elements i (same shapes), so the output
    /// may overwrite the first input's buffer when that input is read by no one else.
    var isElementwiseInPlace: Bool {
        switch self {
        case .activation, .eltwise: return true
        case .binary: return true
        case .channelScale: return true
        case .unary, .clip, .elementwise: return true
        default: return false
        }
    }
}

/// Convolution weights `[out, in/groups, kh, kw]` (PyTorch layout) and geometry.
public struct Convolution: Sendable {
    /// Output channels.
    public var outChannels: Int
    /// Input channels.
    public var inChannels: Int
    /// Kernel height and width.
    public var kernel: (h: Int, w: Int)
    /// Stride.
    public var stride: (h: Int, w: Int)
    /// Dilation.
    public var dilation: (h: Int, w: Int)
    /// Zero padding.
    public var padding: Padding
    /// Channel groups (`groups == inChannels == outChannels` is depth-wise).
    public var groups: Int
    /// `outChannels * inChannels/groups * kh * kw` values (``weightCount``). Empty in a
    /// ``GraphExecutor``'s graph where the packed form holds them
    /// (``GraphExecutor/convolutionWeights(named:)``).
    public var weights: [Float]
    /// One bias per output channel, or empty.
    public var bias: [Float]
    /// Applied after the bias.
    public var activation: Activation
    /// Optional fused residual: `out = scale * act(conv) + residualScale * input[1]`
    /// (`+ secondScale * input[2]` when a second sum was folded in).
    public var residual: Residual?

    /// Creates a convolution.
    public init(outChannels: Int, inChannels: Int, kernel: (h: Int, w: Int), stride: (h: Int, w: Int) = (1, 1),
                dilation: (h: Int, w: Int) = (1, 1), padding: Padding = .zero, groups: Int = 1,
                weights: [Float], bias: [Float] = [], activation: Activation = .none) {
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.padding = padding
        self.groups = groups
        self.weights = weights
        self.bias = bias
        self.activation = activation
        self.residual = nil
    }

    /// Multiply-adds per output pixel.
    public var macsPerPixel: Int { outChannels * (inChannels / groups) * kernel.h * kernel.w }

    /// Values the weights hold (the layer's shape says it, whether or not ``weights`` is kept).
    public var weightCount: Int { macsPerPixel }
}

/// A fused residual term of a convolution's epilogue.
public struct Residual: Sendable, Equatable {
    /// Factor on the convolution's (activated) output.
    public var scale: Float
    /// Factor on the residual input.
    public var residualScale: Float
    /// Factor on a second residual input (RRDB's outer skip after its last dense block).
    public var secondScale: Float?

    /// Creates a residual term.
    public init(scale: Float, residualScale: Float, secondScale: Float? = nil) {
        self.scale = scale
        self.residualScale = residualScale
        self.secondScale = secondScale
    }
}

/// Transposed convolution. Weights are `[out, in, kh, kw]` (ncnn's layout).
public struct Deconvolution: Sendable {
    /// Output channels.
    public var outChannels: Int
    /// Input channels.
    public var inChannels: Int
    /// Kernel height and width.
    public var kernel: (h: Int, w: Int)
    /// Stride.
    public var stride: (h: Int, w: Int)
    /// Dilation.
    public var dilation: (h: Int, w: Int)
    /// Rows/columns removed from the full output's borders.
    public var padding: Padding
    /// Extra rows/columns added at the bottom/right.
    public var outputPadding: (h: Int, w: Int)
    /// Channel groups; both channel counts are divisible by it.
    public var groups: Int
    /// `outChannels * inChannels/groups * kh * kw` values (``weightCount``). Empty in a
    /// ``GraphExecutor``'s graph where the packed form holds them
    /// (``GraphExecutor/convolutionWeights(named:)``).
    public var weights: [Float]
    /// One bias per output channel, or empty.
    public var bias: [Float]
    /// Applied after the bias.
    public var activation: Activation

    /// Creates a transposed convolution.
    public init(outChannels: Int, inChannels: Int, kernel: (h: Int, w: Int), stride: (h: Int, w: Int),
                dilation: (h: Int, w: Int) = (1, 1), padding: Padding = .zero, outputPadding: (h: Int, w: Int) = (0, 0),
                groups: Int = 1, weights: [Float], bias: [Float] = [], activation: Activation = .none) {
        self.groups = groups
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.padding = padding
        self.outputPadding = outputPadding
        self.weights = weights
        self.bias = bias
        self.activation = activation
    }
}

/// A resize by scale factors (output size `Int(in * scale)`).
public struct Resize: Sendable, Equatable {
    /// Interpolation.
    public var mode: ResizeMode
    /// Height factor.
    public var scaleH: Float
    /// Width factor.
    public var scaleW: Float
    /// Sampling conventions other than ncnn's `Interp` (ONNX Resize's coordinate modes,
    /// rounding, cubic coefficient); nil: ncnn's, as ``ResizeKernel`` documents.
    public var options: ResizeOptions?
    /// An exact output size `(height, width)` where `in * scale` would round differently
    /// (ONNX `sizes`); nil: `Int(in * scale)`.
    public var outputHeight: Int?, outputWidth: Int?

    /// Creates a resize.
    public init(mode: ResizeMode, scaleH: Float, scaleW: Float, options: ResizeOptions? = nil,
                outputHeight: Int? = nil, outputWidth: Int? = nil) {
        self.mode = mode
        self.scaleH = scaleH
        self.scaleW = scaleW
        self.options = options
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
    }
}

/// Element-wise binary operations.
public enum BinaryKind: Sendable, Equatable {
    case add, sub, mul, div, max, min
    /// `b - a`.
    case rsub
    /// `b / a`.
    case rdiv
    /// The op with a constant second operand.
    indirect case withScalar(BinaryKind, Float)

    @inline(__always) func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .max: return Swift.max(a, b)
        case .min: return Swift.min(a, b)
        case .rsub: return b - a
        case .rdiv: return b / a
        case .withScalar(let k, let s): return k.apply(a, s)
        }
    }
}

/// An n-ary element-wise op.
public enum Eltwise: Sendable, Equatable {
    /// Product of all inputs.
    case product
    /// Weighted sum; empty coefficients mean all ones.
    case sum([Float])
    /// Maximum of all inputs.
    case max
}

/// A crop window.
public struct Crop: Sendable, Equatable {
    /// Offsets into the first input.
    public var offsetH: Int, offsetW: Int, offsetC: Int
    /// Explicit output extents (nil: take them from the second input, or to the end).
    public var outH: Int?, outW: Int?, outC: Int?

    /// Creates a crop.
    public init(offsetH: Int, offsetW: Int, offsetC: Int = 0, outH: Int? = nil, outW: Int? = nil, outC: Int? = nil) {
        self.offsetH = offsetH
        self.offsetW = offsetW
        self.offsetC = offsetC
        self.outH = outH
        self.outW = outW
        self.outC = outC
    }
}

/// Pooling geometry.
public struct Pooling: Sendable, Equatable {
    /// Max or average.
    public enum Kind: Sendable, Equatable { case max, average }
    /// Max or average.
    public var kind: Kind
    /// Pool over the whole plane (output 1×1).
    public var global: Bool
    /// Window.
    public var kernel: (h: Int, w: Int)
    /// Step.
    public var stride: (h: Int, w: Int)
    /// Padding (ignored by global pooling).
    public var padding: Padding
    /// Output size rounds up (``PoolingParameters/ceilMode``).
    public var ceilMode: Bool
    /// Averages divide by the whole window, padding included (``PoolingParameters/countIncludePad``).
    public var countIncludePad: Bool

    /// Creates pooling.
    public init(kind: Kind, global: Bool, kernel: (h: Int, w: Int) = (1, 1), stride: (h: Int, w: Int) = (1, 1), padding: Padding = .zero,
                ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kind = kind
        self.global = global
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    /// Whether the graph's own pooling loop covers this geometry (floor mode, padding counted);
    /// the rest runs on ``Ops/pool2d(_:_:pool:)``.
    var isPlain: Bool { global || (!ceilMode && (countIncludePad || kind == .max)) }

    /// The `Kernels` parameters of a windowed pooling.
    var parameters: PoolingParameters {
        PoolingParameters(kind: kind == .max ? .max : .average, kernel: (kernel.h, kernel.w), stride: (stride.h, stride.w),
                          padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    public static func == (a: Pooling, b: Pooling) -> Bool {
        a.kind == b.kind && a.global == b.global && a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding
            && a.ceilMode == b.ceilMode && a.countIncludePad == b.countIncludePad
    }
}

/// Fully connected layer: weights `[out, in]`.
public struct FullyConnected: Sendable {
    /// Outputs.
    public var outFeatures: Int
    /// Inputs (`C*H*W` of the input).
    public var inFeatures: Int
    /// `outFeatures * inFeatures` values.
    public var weights: [Float]
    /// One bias per output, or empty.
    public var bias: [Float]
    /// Applied after the bias.
    public var activation: Activation

    /// Creates a fully connected layer.
    public init(outFeatures: Int, inFeatures: Int, weights: [Float], bias: [Float] = [], activation: Activation = .none) {
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.weights = weights
        self.bias = bias
        self.activation = activation
    }
}
