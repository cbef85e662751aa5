import Kernels

/// `alpha * op(a) @ op(b) + beta * c` (ONNX Gemm): `op` transposes when asked.
public struct Gemm: Sendable, Equatable {
    /// Factor on the product.
    public var alpha: Float
    /// Factor on the optional third input.
    public var beta: Float
    /// Whether `a` is stored transposed (`[K, M]`).
    public var transA: Bool
    /// Whether `b` is stored transposed (`[N, K]`).
    public var transB: Bool

    /// Creates a Gemm.
    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        self.transB = transB
    }
}

/// Which statistics a normalization takes; inputs are `x` and optional per-element scale and bias.
public enum Normalization: Sendable, Equatable {
    /// Over the dimensions from `axis` on; scale and bias have those dimensions' element count.
    case layer(axis: Int, epsilon: Float)
    /// Over each group of `groups` consecutive channels (dimension 1) and everything after
    /// them; scale and bias have one value per channel.
    case group(groups: Int, epsilon: Float)
    /// Over each channel's elements (dimension 1 and on); one scale and bias per channel.
    case instance(epsilon: Float)
    /// Over dimension 1 at each position of the dimensions after it (LayerNorm with features
    /// as rows, ConvNeXt's LayerNorm2d); one scale and bias per channel.
    case channel(epsilon: Float)
    /// ``group(groups:epsilon:)`` followed by an element-wise activation and, when `residual`,
    /// the addition of a fourth input of `x`'s shape: a diffusion UNet's norm chain in two
    /// passes over the tensor (``Graph/fuseNormChains(shapes:)`` builds it).
    case groupChain(groups: Int, epsilon: Float, activation: UnaryOp?, residual: Bool)

    /// Op name for errors and profiles.
    public var name: String {
        switch self {
        case .layer: return "layer_norm"
        case .group: return "group_norm"
        case .instance: return "instance_norm"
        case .channel: return "channel_norm"
        case .groupChain: return "norm_chain"
        }
    }
}

/// A strided window (ONNX Slice): along each of `axes`, elements `starts[i]` up to (excluded)
/// `ends[i]`, stepping by `steps[i]`. Negative starts and ends count from the end; everything
/// clamps to the extent as in ONNX, so a slice never leaves its input.
public struct Slice: Sendable, Equatable {
    /// First element along each axis.
    public var starts: [Int]
    /// One past the last element along each axis (clamped).
    public var ends: [Int]
    /// The axes (negative count from the end).
    public var axes: [Int]
    /// Steps (non-zero; negative walks backwards).
    public var steps: [Int]

    /// Creates a slice; `axes` default to `0..<starts.count`, steps to 1.
    public init(starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) {
        self.starts = starts
        self.ends = ends
        self.axes = axes ?? Array(0..<starts.count)
        self.steps = steps ?? [Int](repeating: 1, count: starts.count)
    }

    /// Per axis of a rank-`rank` input: `(axis, first index, count, step)` with every index in
    /// range; nil when the slice is malformed (axis out of range, repeated, zero step).
    func resolved(_ dims: [Int]) -> [(axis: Int, start: Int, count: Int, step: Int)]? {
        let rank = dims.count
        guard starts.count == ends.count, starts.count == axes.count, steps.count == axes.count else { return nil }
        var seen = Set<Int>()
        var out: [(Int, Int, Int, Int)] = []
        for i in axes.indices {
            let ax = axes[i] < 0 ? axes[i] + rank : axes[i]
            let step = steps[i]
            guard ax >= 0, ax < rank, step != 0, seen.insert(ax).inserted else { return nil }
            let d = dims[ax]
            // ONNX clamping: starts to [0, d] (forward) or [0, d-1] (backward), ends to
            // [0, d] or [-1, d-1]; values beyond Int range are already saturated by the importer.
            func norm(_ v: Int) -> Int { v < 0 ? v.addingReportingOverflow(d).partialValue : v }
            var s = norm(starts[i]), e = norm(ends[i])
            let count: Int
            if step > 0 {
                s = min(max(s, 0), d)
                e = min(max(e, 0), d)
                count = e > s ? (e - s - 1) / step + 1 : 0
            } else {
                s = min(max(s, 0), d - 1)
                e = min(max(e, -1), d - 1)
                count = s > e ? (s - e - 1) / -step + 1 : 0
            }
            out.append((ax, count == 0 ? 0 : s, count, step))
        }
        return out
    }
}
