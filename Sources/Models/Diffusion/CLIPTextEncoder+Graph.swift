// The layers of transformers' CLIPEncoder (pre-norm, causal self-attention, MLP), final_layer_norm, pooling and text_projection as engine graph.
import Graph
import Kernels
import Tensor

extension CLIPTextEncoder {
    /// The graph from the embeddings to every output.
    ///
    /// Inputs: `embeddings` `[N, T, C]`, `causal_mask` `[T, T]` (added to the attention scores),
    /// `layer_selector` `[layers + 1]` (one-hot over the hidden states, embeddings first) and
    /// `pool_selector` `[N, 1, T]` (one-hot over positions). Outputs: the last hidden state after
    /// the final layer norm, the selected hidden state, the selected hidden state after the final
    /// layer norm, and the pooled (projected) rows.
    static func graph(configuration c: CLIPTextConfiguration, reader: inout WeightReader, projection: Bool) throws -> Graph {
        var b = GraphBuilder()
        let embeddings = b.input("embeddings")
        let mask = b.input("causal_mask")
        let layerSelector = b.input("layer_selector")
        let poolSelector = b.input("pool_selector")
        let width = c.hiddenSize, heads = c.attentionHeads, headWidth = c.headDimension
        let epsilon = c.layerNormEpsilon

        func layerNorm(_ name: String, _ x: ValueID, node: String? = nil) throws -> ValueID {
            try b.layerNorm(node ?? name, x, epsilon: epsilon, scale: reader.tensor("\(name).weight", [width]),
                            bias: reader.tensor("\(name).bias", [width]))
        }
        // Hidden state k weighted by its selector entry, summed over k.
        func select(_ k: Int, _ h: ValueID, into sum: ValueID?) -> ValueID {
            let w = b.slice("select.\(k).weight", layerSelector, axis: 0, start: k, end: k + 1)
            let term = b.elementwise("select.\(k)", .mul, h, w)
            return sum.map { b.elementwise("select.\(k).sum", .add, $0, term) } ?? term
        }

        var x = embeddings
        var selected = select(0, x, into: nil)
        for i in 0..<c.layers {
            // Causal attention written out: the scores are only T × T per head.
            x = try Self.encoderLayer(&b, x, prefix: "encoder.layers.\(i)", width: width, heads: heads,
                                      intermediate: c.intermediateSize, activation: c.activation, epsilon: epsilon,
                                      reader: &reader, keysTransposed: true) { b, a, q, k, v in
                let scores = b.scale("\(a).scale", b.node("\(a).scores", .matMul, [q, k]), by: 1 / Float(headWidth).squareRoot())
                let masked = b.elementwise("\(a).mask", .add, scores, mask)
                let weights = b.node("\(a).softmax", .softmax(axis: -1), [masked])
                return b.node("\(a).values", .matMul, [weights, v])
            }
            selected = select(i + 1, x, into: selected)
        }
        let last = try layerNorm("final_layer_norm", x)
        let selectedNormalized = try layerNorm("final_layer_norm", selected, node: "final_layer_norm.selected")

        // The one-hot product picks each sequence's pooling row exactly (the other terms are 0).
        let rows = b.node("pool", .matMul, [poolSelector, last])
        var pooled = b.reshape("pool.rows", rows, [0, width])
        if projection {
            pooled = try b.linear("text_projection", pooled,
                                  weight: reader.tensor("text_projection.weight", [c.projectionDimension, width], global: true),
                                  bias: nil)
        }
        b.output(last)
        b.output(selected)
        b.output(selectedNormalized)
        b.output(pooled)
        return b.graph
    }
}

extension CLIPTextEncoder {
    /// One pre-norm layer of transformers' `CLIPEncoder` (text and vision towers alike):
    /// `x + out_proj(attention(layer_norm1(x)))`, then `x + fc2(act(fc1(layer_norm2(x))))`.
    /// Weights are read under `prefix` (`self_attn.{q,k,v,out}_proj`, `layer_norm1/2`, `mlp.fc1/2`).
    /// - Parameters:
    ///   - keysTransposed: whether `attend` gets the keys as `[N, heads, D, T]` (for a matrix
    ///     product) rather than `[N, heads, T, D]`.
    ///   - attend: the attention of `[N, heads, T, D]` queries and values, given the node name
    ///     prefix (`….self_attn`); returns `[N, heads, T, D]`.
    static func encoderLayer(_ b: inout GraphBuilder, _ x: ValueID, prefix p: String, width: Int, heads: Int, intermediate: Int,
                             activation: CLIPTextConfiguration.Activation, epsilon: Float, reader: inout WeightReader,
                             keysTransposed: Bool,
                             attend: (inout GraphBuilder, String, ValueID, ValueID, ValueID) -> ValueID) throws -> ValueID {
        let headWidth = width / heads
        func linear(_ name: String, _ x: ValueID, out: Int, in inputs: Int) throws -> ValueID {
            try b.linear(name, x, weight: reader.tensor("\(name).weight", [out, inputs]), bias: reader.tensor("\(name).bias", [out]))
        }
        func layerNorm(_ name: String, _ x: ValueID) throws -> ValueID {
            try b.layerNorm(name, x, epsilon: epsilon, scale: reader.tensor("\(name).weight", [width]),
                            bias: reader.tensor("\(name).bias", [width]))
        }
        /// `[N, T, C]` → `[N, heads, T, D]` (or `[N, heads, D, T]` for transposed keys).
        func split(_ name: String, _ x: ValueID, keys: Bool) -> ValueID {
            let r = b.reshape("\(name).split", x, [0, 0, heads, headWidth])
            return b.transpose("\(name).heads", r, keys && keysTransposed ? [0, 2, 3, 1] : [0, 2, 1, 3])
        }
        let a = "\(p).self_attn"
        let h = try layerNorm("\(p).layer_norm1", x)
        let q = split("\(a).q", try linear("\(a).q_proj", h, out: width, in: width), keys: false)
        let k = split("\(a).k", try linear("\(a).k_proj", h, out: width, in: width), keys: true)
        let v = split("\(a).v", try linear("\(a).v_proj", h, out: width, in: width), keys: false)
        let attended = attend(&b, a, q, k, v)
        let merged = b.reshape("\(a).merged", b.transpose("\(a).merge", attended, [0, 2, 1, 3]), [0, 0, width])
        let attention = try linear("\(a).out_proj", merged, out: width, in: width)
        var y = b.elementwise("\(p).residual1", .add, x, attention)

        let m = "\(p).mlp"
        let up = try linear("\(m).fc1", try layerNorm("\(p).layer_norm2", y), out: intermediate, in: width)
        let activated: ValueID
        switch activation {
        case .quickGELU: activated = b.quickGELU("\(m).act", up)
        case .gelu: activated = b.unary("\(m).act", .gelu, up)
        case .geluNew, .geluPyTorchTanh: activated = b.unary("\(m).act", .geluTanh, up)
        }
        let down = try linear("\(m).fc2", activated, out: width, in: intermediate)
        y = b.elementwise("\(p).residual2", .add, y, down)
        return y
    }
}
