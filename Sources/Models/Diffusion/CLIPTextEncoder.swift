// CLIP's text transformer (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision") as transformers' `CLIPTextModel` / `CLIPTextModelWithProjection` (models/clip/modeling_clip.py, 5.23) compute it.
import Foundation
import Graph
import Kernels
import ModelKit
import Tensor

/// A CLIP text encoder: CLIP-L (SD 1.x, SDXL's first encoder), OpenCLIP ViT-H (SD 2.x) and
/// ViT-bigG with its projection (SDXL's second encoder).
///
/// Token and position embeddings are looked up on the host (a row copy); the pre-norm
/// transformer layers with causal self-attention, the final layer norm, the selection of the
/// hidden state a pipeline conditions on, the pooling and the projection run as one graph on the
/// engine. The graph's attention op takes no mask, so causal attention is written out as
/// `softmax(q kᵀ · scale + mask) v` with an additive mask of `-Float.greatestFiniteMagnitude`
/// above the diagonal (transformers' eager mask): the scores are only `T × T` per head.
///
/// Which hidden state comes back is chosen per call (clip skip differs between requests), yet
/// the graph and its weights exist once: every hidden state is multiplied by a per-call weight
/// (1 for the chosen one, 0 for the others) and the products summed, which reproduces the chosen
/// state exactly and costs two element-wise passes per layer.
public final class CLIPTextEncoder: Sendable {
    /// The architecture.
    public let configuration: CLIPTextConfiguration
    /// Whether the pooled output goes through `text_projection` (`CLIPTextModelWithProjection`).
    public let hasProjection: Bool
    /// `[vocab, hidden]`.
    private let tokenEmbedding: Tensor
    /// `[positions, hidden]`.
    private let positionEmbedding: Tensor
    private let executor: GraphExecutor
    /// Bytes of the prepared weights and the embedding tables.
    public var weightBytes: Int { executor.weightBytes + (tokenEmbedding.count + positionEmbedding.count) * 4 }

    /// Builds the encoder from a checkpoint's tensors.
    ///
    /// Names are transformers': `text_model.embeddings.token_embedding.weight`,
    /// `text_model.encoder.layers.N.self_attn.q_proj.weight`, …, `text_model.final_layer_norm.*`
    /// and `text_projection.weight`. Checkpoints saved by transformers 5's `CLIPTextModel` lack the
    /// `text_model.` prefix; both spellings load. The legacy `position_ids` buffer some
    /// checkpoints carry is ignored; any other tensor the encoder does not use is an error.
    /// - Parameters:
    ///   - configuration: the architecture (from `config.json`).
    ///   - weights: the component's tensors.
    ///   - pool: the process's compute pool.
    ///   - projection: whether the checkpoint must hold `text_projection.weight` (true), must
    ///     not (false), or is used as found (nil).
    /// - Throws: `ModelError(.weightsInvalid)` for an invalid configuration or an unused tensor;
    ///   `ModelFormatError(.malformed)` naming a missing or mis-shaped tensor.
    public init(configuration: CLIPTextConfiguration, weights: DiffusionWeights, pool: ComputePool,
                projection: Bool? = nil) throws {
        try configuration.validate()
        self.configuration = configuration
        let prefix = weights.contains("text_model.embeddings.token_embedding.weight") ? "text_model" : ""
        var reader = WeightReader(weights: weights, prefix: prefix)
        let c = configuration
        tokenEmbedding = try reader.tensor("embeddings.token_embedding.weight", [c.vocabularySize, c.hiddenSize])
        positionEmbedding = try reader.tensor("embeddings.position_embedding.weight", [c.maxPositions, c.hiddenSize])
        hasProjection = projection ?? weights.contains("text_projection.weight")
        let graph = try Self.graph(configuration: c, reader: &reader, projection: hasProjection)
        try reader.checkAllUsed()
        executor = try GraphExecutor(graph: graph, pool: pool)
    }

    /// Encodes token sequences.
    /// - Parameters:
    ///   - tokens: `N` sequences of equal length `T` (`1...maxPositions`; pipelines pass the
    ///     tokenizer's 77), ids below `vocab_size`.
    ///   - selection: the hidden state returned as ``CLIPTextEncoding/promptEmbeddings``.
    /// - Returns: the last hidden state, the selected prompt embeddings and the pooled output.
    /// - Throws: `ModelError(.invalidInput)` for an empty batch, ragged or over-long sequences,
    ///   an id outside the vocabulary, or a selection past the first hidden state.
    public func encode(tokens: [[Int]], selection: CLIPHiddenStateSelection = .stableDiffusion(clipSkip: nil)) throws
        -> CLIPTextEncoding {
        let c = configuration
        guard let length = tokens.first?.count else { throw ModelError(.invalidInput, "text encoder: no token sequences") }
        guard (1...c.maxPositions).contains(length) else {
            throw ModelError(.invalidInput, "text encoder: \(length) tokens per sequence, expected 1...\(c.maxPositions)")
        }
        for (n, row) in tokens.enumerated() {
            guard row.count == length else {
                throw ModelError(.invalidInput, "text encoder: sequence \(n) has \(row.count) tokens, sequence 0 has \(length)")
            }
            if let bad = row.first(where: { !(0..<c.vocabularySize).contains($0) }) {
                throw ModelError(.invalidInput, "text encoder: token id \(bad) in sequence \(n) is outside 0..<\(c.vocabularySize)")
            }
        }
        guard (1...c.layers + 1).contains(selection.fromEnd) else {
            throw ModelError(.invalidInput, "text encoder: hidden state \(selection.fromEnd) from the end does not exist "
                             + "(\(c.layers + 1) hidden states: the embeddings and \(c.layers) layers)")
        }
        let outputs = try executor.run([embeddings(tokens, length: length), Self.causalMask(length),
                                        layerSelector(fromEnd: selection.fromEnd), poolSelector(tokens, length: length)])
        return CLIPTextEncoding(lastHiddenState: outputs[0],
                                promptEmbeddings: selection.finalLayerNorm ? outputs[2] : outputs[1], pooled: outputs[3])
    }

    /// ``encode(tokens:selection:)`` for the ids ``CLIPTokenizer`` produces.
    public func encode(tokens: [[Int32]], selection: CLIPHiddenStateSelection = .stableDiffusion(clipSkip: nil)) throws
        -> CLIPTextEncoding {
        try encode(tokens: tokens.map { $0.map(Int.init) }, selection: selection)
    }

    /// The position each sequence is pooled at, as transformers 5.23 picks it: with the legacy
    /// `eos_token_id` 2, the first position of the sequence's largest id; otherwise the first
    /// position holding `eos_token_id`, or 0 when none does (an argmax over all zeros).
    public func poolingPosition(_ row: [Int]) -> Int {
        if configuration.poolsAtLargestID {
            guard let largest = row.max() else { return 0 }
            return row.firstIndex(of: largest) ?? 0
        }
        return row.firstIndex(of: configuration.eosTokenID) ?? 0
    }

    // MARK: Inputs

    /// `token_embedding[id] + position_embedding[t]`, `[N, T, C]`.
    private func embeddings(_ tokens: [[Int]], length: Int) -> Tensor {
        let width = configuration.hiddenSize
        let out = Tensor(uninitialized: Shape([tokens.count, length, width]))
        let dst = out.floatPointer, table = tokenEmbedding.floatPointer, positions = positionEmbedding.floatPointer
        for (n, row) in tokens.enumerated() {
            for (t, id) in row.enumerated() {
                let o = dst + (n * length + t) * width, e = table + id * width, p = positions + t * width
                for i in 0..<width { o[i] = e[i] + p[i] }
            }
        }
        return out
    }

    /// `[T, T]`: 0 on and below the diagonal, the most negative float above it.
    static func causalMask(_ length: Int) -> Tensor {
        let mask = Tensor(zeros: Shape([length, length]))
        let p = mask.floatPointer
        for i in 0..<length { for j in (i + 1)..<length { p[i * length + j] = -Float.greatestFiniteMagnitude } }
        return mask
    }

    /// `[layers + 1]`: 1 at hidden state `layers + 1 - fromEnd` (the embeddings are state 0).
    private func layerSelector(fromEnd: Int) -> Tensor {
        let count = configuration.layers + 1
        let selector = Tensor(zeros: Shape([count]))
        selector.floatPointer[count - fromEnd] = 1
        return selector
    }

    /// `[N, 1, T]`: 1 at each sequence's pooling position.
    private func poolSelector(_ tokens: [[Int]], length: Int) -> Tensor {
        let selector = Tensor(zeros: Shape([tokens.count, 1, length]))
        for (n, row) in tokens.enumerated() { selector.floatPointer[n * length + poolingPosition(row)] = 1 }
        return selector
    }
}

/// Which hidden state a pipeline conditions its UNet on, as diffusers' `encode_prompt` picks it.
public struct CLIPHiddenStateSelection: Sendable, Hashable {
    /// `hidden_states[-fromEnd]`: 1 is the last layer's output, `layers + 1` the embeddings.
    public var fromEnd: Int
    /// Whether `final_layer_norm` is applied to it.
    public var finalLayerNorm: Bool

    /// A selection.
    public init(fromEnd: Int, finalLayerNorm: Bool) {
        self.fromEnd = fromEnd
        self.finalLayerNorm = finalLayerNorm
    }

    /// `StableDiffusionPipeline` (SD 1.x, 2.x): `last_hidden_state` without clip skip, else
    /// `final_layer_norm(hidden_states[-(clipSkip + 1)])`; `clipSkip` 0 is the same as none.
    public static func stableDiffusion(clipSkip: Int?) -> Self {
        Self(fromEnd: (clipSkip ?? 0) + 1, finalLayerNorm: true)
    }

    /// `StableDiffusionXLPipeline`, both encoders: `hidden_states[-(clipSkip + 2)]` without the
    /// final layer norm (the penultimate layer without clip skip). diffusers applies clip skip
    /// to the prompt only; its negative prompt always takes `hidden_states[-2]`.
    public static func stableDiffusionXL(clipSkip: Int?) -> Self {
        Self(fromEnd: (clipSkip ?? 0) + 2, finalLayerNorm: false)
    }
}

/// A batch of encoded token sequences (f32).
public struct CLIPTextEncoding: Sendable {
    /// `last_hidden_state`: the last layer's output after the final layer norm, `[N, T, hidden]`.
    public var lastHiddenState: Tensor
    /// The hidden state the selection asked for, `[N, T, hidden]`.
    public var promptEmbeddings: Tensor
    /// The last hidden state at each sequence's end token (`pooler_output`, `[N, hidden]`), or
    /// its projection (`text_embeds`, `[N, projection_dim]`) when the encoder has one.
    public var pooled: Tensor
}

extension CLIPTextEncoder {
    /// Reads a component's tensors under a prefix and remembers which were read, so the leftovers
    /// can be reported.
    struct WeightReader {
        let weights: DiffusionWeights
        let prefix: String
        private(set) var used: Set<String> = []

        init(weights: DiffusionWeights, prefix: String) {
            self.weights = weights
            self.prefix = prefix
        }

        /// The f32 tensor `name` (under the prefix unless `global`), which must have `shape`.
        mutating func tensor(_ name: String, _ shape: [Int], global: Bool = false) throws -> Tensor {
            let full = global || prefix.isEmpty ? name : "\(prefix).\(name)"
            used.insert(full)
            let t = try weights.tensor(full, shape: shape)
            return t.dtype == .f32 ? t : t.converted(to: .f32)
        }

        /// - Throws: `ModelError(.weightsInvalid)` naming the first tensor nothing read, other than
        ///   the `position_ids` buffer older checkpoints store.
        func checkAllUsed() throws {
            let ignored = (prefix.isEmpty ? "" : "\(prefix).") + "embeddings.position_ids"
            if let extra = weights.names.first(where: { !used.contains($0) && $0 != ignored }) {
                throw ModelError(.weightsInvalid, "\(weights.component): unexpected tensor \(extra)")
            }
        }
    }
}
