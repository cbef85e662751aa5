import Kernels
import Tensor

/// Builds a ``Graph`` layer by layer, the way model code describes a network (linear layers,
/// convolutions, norms, attention), so model families written in Swift (the diffusion UNets,
/// text encoders and autoencoders) emit the same IR the importers emit and run on the same
/// executor with the same fusions.
///
/// Every helper appends one or a few nodes and returns the value they produce; names are
/// `prefix.what`, so errors and profiles name the layer a node belongs to.
public struct GraphBuilder: Sendable {
    /// The graph so far.
    public private(set) var graph = Graph()
    private var serial = 0

    /// Creates an empty builder.
    public init() {}

    /// A value the caller provides at run time.
    public mutating func input(_ name: String) -> ValueID {
        let v = graph.addValue(named: name)
        graph.inputs.append(v)
        return v
    }

    /// Marks a value as a graph output (in call order).
    public mutating func output(_ value: ValueID) {
        graph.outputs.append(value)
    }

    /// A constant (weights, masks, index tables).
    public mutating func constant(_ name: String, _ tensor: Tensor) -> ValueID {
        graph.addConstant(named: name, tensor)
    }

    /// Appends one node computing `op` over `inputs` and returns its output.
    public mutating func node(_ name: String, _ op: Op, _ inputs: [ValueID]) -> ValueID {
        serial += 1
        let out = graph.addValue(named: "\(name)#\(serial)")
        graph.nodes.append(Node(name: name, op: op, inputs: inputs, output: out))
        return out
    }

    // MARK: Layers

    /// `x @ weightᵀ + bias` over the last dimension of `x` (PyTorch `nn.Linear`).
    /// - Parameters:
    ///   - weight: `[out, in]`.
    ///   - bias: `[out]` or nil.
    public mutating func linear(_ name: String, _ x: ValueID, weight: Tensor, bias: Tensor?) throws -> ValueID {
        guard weight.shape.rank == 2 else { throw GraphError(.invalidGraph, "\(name): linear weight has shape \(weight.shape)") }
        let rows = weight.shape[0], cols = weight.shape[1]
        if let bias, bias.count != rows { throw GraphError(.invalidGraph, "\(name): bias has \(bias.count) values for \(rows) outputs") }
        let transposed = Tensor(uninitialized: Shape([cols, rows]))
        let src = weight.floatPointer, dst = transposed.floatPointer
        for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
        var y = node(name, .matMul, [x, constant("\(name).weight", transposed)])
        if let bias { y = node("\(name).bias", .elementwise(.add), [y, constant("\(name).bias", bias)]) }
        return y
    }

    /// A 2-D convolution over NCHW `x` (PyTorch `nn.Conv2d`).
    /// - Parameters:
    ///   - weight: `[out, in/groups, kh, kw]`.
    ///   - bias: `[out]` or nil.
    public mutating func conv2d(_ name: String, _ x: ValueID, weight: Tensor, bias: Tensor?, stride: Int = 1,
                                padding: Int = 0, groups: Int = 1) throws -> ValueID {
        guard weight.shape.rank == 4 else { throw GraphError(.invalidGraph, "\(name): convolution weight has shape \(weight.shape)") }
        let s = weight.shape
        if let bias, bias.count != s[0] { throw GraphError(.invalidGraph, "\(name): bias has \(bias.count) values for \(s[0]) outputs") }
        let conv = Convolution(outChannels: s[0], inChannels: s[1] * groups, kernel: (s[2], s[3]), stride: (stride, stride),
                               padding: Padding(padding), groups: groups, weights: weight.toArray(),
                               bias: bias?.toArray() ?? [])
        return node(name, .convolution(conv), [x])
    }

    /// Group normalization over NCHW (or `[N, C, ...]`) `x` with a per-channel scale and bias.
    public mutating func groupNorm(_ name: String, _ x: ValueID, groups: Int, epsilon: Float, scale: Tensor,
                                   bias: Tensor) -> ValueID {
        node(name, .normalization(.group(groups: groups, epsilon: epsilon)),
             [x, constant("\(name).weight", scale), constant("\(name).bias", bias)])
    }

    /// Layer normalization over the last dimension.
    public mutating func layerNorm(_ name: String, _ x: ValueID, epsilon: Float, scale: Tensor, bias: Tensor) -> ValueID {
        node(name, .normalization(.layer(axis: -1, epsilon: epsilon)),
             [x, constant("\(name).weight", scale), constant("\(name).bias", bias)])
    }

    /// Layer normalization over the channels (dimension 1) at each position: a transformer
    /// block's LayerNorm on features-as-rows `[N, C, ...]` values.
    public mutating func channelNorm(_ name: String, _ x: ValueID, epsilon: Float, scale: Tensor, bias: Tensor) -> ValueID {
        node(name, .normalization(.channel(epsilon: epsilon)),
             [x, constant("\(name).weight", scale), constant("\(name).bias", bias)])
    }

    /// An element-wise function.
    public mutating func unary(_ name: String, _ op: UnaryOp, _ x: ValueID) -> ValueID {
        node(name, .unary(op), [x])
    }

    /// `x · sigmoid(1.702 x)`, the "quick GELU" of OpenAI's CLIP.
    public mutating func quickGELU(_ name: String, _ x: ValueID) -> ValueID {
        let scaled = scale("\(name).scale", x, by: 1.702)
        let gate = unary("\(name).sigmoid", .sigmoid, scaled)
        return elementwise(name, .mul, x, gate)
    }

    /// A broadcasting element-wise binary op.
    public mutating func elementwise(_ name: String, _ op: BinaryOp, _ a: ValueID, _ b: ValueID) -> ValueID {
        node(name, .elementwise(op), [a, b])
    }

    /// `x * factor`.
    public mutating func scale(_ name: String, _ x: ValueID, by factor: Float) -> ValueID {
        elementwise(name, .mul, x, constant("\(name).factor", Tensor(shape: Shape([1]), values: [factor])))
    }

    /// The same elements under another shape (`0` keeps the input's extent, one `-1` is inferred).
    public mutating func reshape(_ name: String, _ x: ValueID, _ shape: [Int]) -> ValueID {
        node(name, .reshape(shape), [x])
    }

    /// The elements of `x` under the shape of `like` (same element count), a view.
    public mutating func reshape(_ name: String, _ x: ValueID, like: ValueID) -> ValueID {
        node(name, .reshape([]), [x, like])
    }

    /// Permutes dimensions.
    public mutating func transpose(_ name: String, _ x: ValueID, _ permutation: [Int]) -> ValueID {
        node(name, .transpose(permutation), [x])
    }

    /// Concatenation along `axis`.
    public mutating func concatenate(_ name: String, _ values: [ValueID], axis: Int) -> ValueID {
        node(name, .concatenate(axis: axis), values)
    }

    /// Elements `start..<end` of `axis`.
    public mutating func slice(_ name: String, _ x: ValueID, axis: Int, start: Int, end: Int) -> ValueID {
        node(name, .slice(Slice(starts: [start], ends: [end], axes: [axis])), [x])
    }

    /// `softmax(q @ kᵀ * scale) @ v` over `[..., T, D]` queries, `[..., S, D]` keys and
    /// `[..., S, Dv]` values.
    public mutating func attention(_ name: String, query: ValueID, key: ValueID, value: ValueID, scale: Float) -> ValueID {
        node(name, .attention(scale: scale), [query, key, value])
    }

    /// Multi-head attention on `[N, T, heads·D]` queries, `[N, S, heads·D]` keys and
    /// `[N, S, heads·Dv]` values as the projections produce them, giving `[N, T, heads·Dv]`
    /// (the heads merged as PyTorch's `transpose(1, 2).reshape` would), with no transposes.
    public mutating func attention(_ name: String, query: ValueID, key: ValueID, value: ValueID, heads: Int,
                                   scale: Float) -> ValueID {
        node(name, .attentionHeads(heads: heads, scale: scale), [query, key, value])
    }

    /// GEGLU's gate: `a · gelu(b)` over the halves `a`, `b` of `x`'s last dimension (diffusers'
    /// `GEGLU` after its projection), in one pass.
    public mutating func gatedGELU(_ name: String, _ x: ValueID) -> ValueID {
        node(name, .gatedGELU, [x])
    }

    /// Nearest-neighbour upsampling of NCHW `x` by an integer factor (PyTorch
    /// `F.interpolate(mode="nearest", scale_factor=factor)`).
    public mutating func upsampleNearest(_ name: String, _ x: ValueID, factor: Int) -> ValueID {
        node(name, .resize(Resize(mode: .nearest, scaleH: Float(factor), scaleW: Float(factor))), [x])
    }

    /// Nearest-neighbour resampling of NCHW `x` to the height and width of `like` (PyTorch
    /// `F.interpolate(mode="nearest", size=like.shape[2:])`: source index `floor(i * in / out)`),
    /// so a map halved from an odd size comes back to that size.
    public mutating func upsampleNearest(_ name: String, _ x: ValueID, like: ValueID) -> ValueID {
        let options = ResizeOptions(mode: .nearest, coordinates: .asymmetric, nearestRounding: .floor)
        return node(name, .resize(Resize(mode: .nearest, scaleH: 2, scaleW: 2, options: options)), [x, like])
    }
}
