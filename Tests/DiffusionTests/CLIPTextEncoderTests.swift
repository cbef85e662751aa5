import Foundation
import Kernels
import ModelFormats
import ModelKit
import Tensor
import Testing
@testable import Models

@Suite("CLIPTextEncoder")
struct CLIPTextEncoderTests {
    /// `text_encoders.json` from `scripts/diffusion/make_text_encoder_goldens.py`.
    struct Golden: Decodable {
        struct Model: Decodable {
            var `class`: String
            var config: CLIPTextConfiguration
            var weights: [String: [Int]]
            var tokens: [[Int]]
            var last_hidden_state: [Float]
            var hidden_states: [String: [Float]]
            var clip_skip_1: [Float]
            var pooled: [Float]
            var pooled_shape: [Int]
        }
        var models: [String: Model]
    }

    static let golden: Golden = {
        do {
            return try JSONDecoder().decode(Golden.self, from: DiffusionFixtures.golden("text_encoders.json"))
        } catch {
            fatalError("text_encoders.json: \(error)")
        }
    }()

    static let pool = ComputePool(threads: 2)

    static func encoder(_ model: Golden.Model, tensors: [String: Tensor]? = nil, projection: Bool? = nil) throws -> CLIPTextEncoder {
        try CLIPTextEncoder(configuration: model.config,
                            weights: DiffusionWeights(component: "text_encoder", tensors: tensors ?? TinyWeights.tensors(model.weights)),
                            pool: pool, projection: projection)
    }

    /// The largest absolute difference, and whether it is within `1e-4` of the reference's scale.
    static func compare(_ name: String, _ actual: Tensor, _ expected: [Float], shape: [Int]) -> Float {
        #expect(actual.shape.dims == shape, "\(name): shape \(actual.shape)")
        let a = actual.toArray()
        guard a.count == expected.count else {
            Issue.record("\(name): \(a.count) values, expected \(expected.count)")
            return .infinity
        }
        let error = zip(a, expected).map { abs($0 - $1) }.max() ?? 0
        let scale = max(1, expected.map(abs).max() ?? 0)
        #expect(error <= 1e-4 * scale, "\(name): max abs error \(error) at scale \(scale)")
        print("CLIPTextEncoder golden \(name): max abs error \(error), scale \(scale)")
        return error
    }

    @Test("matches transformers: last hidden state, SD and SDXL hidden-state selections with and without clip skip, pooled output",
          arguments: ["clip_l", "open_clip"])
    func matchesTransformers(name: String) throws {
        let model = try #require(Self.golden.models[name])
        let encoder = try Self.encoder(model)
        #expect(encoder.hasProjection == (model.class == "CLIPTextModelWithProjection"))
        let n = model.tokens.count, t = model.tokens[0].count, c = model.config.hiddenSize
        let cases: [(String, CLIPHiddenStateSelection, [Float])] = [
            ("sd", .stableDiffusion(clipSkip: nil), model.last_hidden_state),
            ("sd clip skip 1", .stableDiffusion(clipSkip: 1), model.clip_skip_1),
            ("sdxl", .stableDiffusionXL(clipSkip: nil), try #require(model.hidden_states["-2"])),
            ("sdxl clip skip 1", .stableDiffusionXL(clipSkip: 1), try #require(model.hidden_states["-3"])),
        ]
        for (label, selection, expected) in cases {
            let out = try encoder.encode(tokens: model.tokens, selection: selection)
            _ = Self.compare("\(name) \(label) prompt embeddings", out.promptEmbeddings, expected, shape: [n, t, c])
            _ = Self.compare("\(name) \(label) last_hidden_state", out.lastHiddenState, model.last_hidden_state, shape: [n, t, c])
            _ = Self.compare("\(name) \(label) pooled", out.pooled, model.pooled, shape: model.pooled_shape)
        }
    }

    @Test("loads transformers 5's CLIPTextModel names (no text_model. prefix) to the same outputs")
    func unprefixedNames() throws {
        let model = try #require(Self.golden.models["clip_l"])
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in TinyWeights.tensors(model.weights) {
            tensors[String(name.dropFirst("text_model.".count))] = tensor
        }
        tensors["embeddings.position_ids"] = Tensor(shape: Shape([1, model.config.maxPositions]), values: (0..<model.config.maxPositions).map(Float.init))
        let out = try Self.encoder(model, tensors: tensors).encode(tokens: model.tokens)
        _ = Self.compare("clip_l unprefixed", out.lastHiddenState, model.last_hidden_state, shape: out.lastHiddenState.shape.dims)
        _ = Self.compare("clip_l unprefixed pooled", out.pooled, model.pooled, shape: model.pooled_shape)
    }

    @Test("a batch of one equals the same row of a larger batch; Int32 token ids are accepted")
    func batchIndependence() throws {
        let model = try #require(Self.golden.models["open_clip"])
        let encoder = try Self.encoder(model)
        let both = try encoder.encode(tokens: model.tokens, selection: .stableDiffusionXL(clipSkip: nil))
        let second = try encoder.encode(tokens: [model.tokens[1].map(Int32.init)], selection: .stableDiffusionXL(clipSkip: nil))
        let rows = both.promptEmbeddings.toArray(), row = second.promptEmbeddings.toArray()
        let error = zip(rows[row.count...], row).map { abs($0 - $1) }.max() ?? 0
        #expect(error <= 1e-5)
        #expect(second.pooled.shape.dims == [1, model.config.projectionDimension])
    }

    static func weightError(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("a missing tensor is an error naming it")
    func missingTensor() throws {
        let model = try #require(Self.golden.models["clip_l"])
        for name in ["text_model.encoder.layers.1.mlp.fc1.bias", "text_model.final_layer_norm.weight",
                     "text_model.embeddings.position_embedding.weight"] {
            var tensors = TinyWeights.tensors(model.weights)
            tensors[name] = nil
            let message = Self.weightError { _ = try Self.encoder(model, tensors: tensors) }
            #expect(message.contains("missing tensor \(name)"), "\(message)")
        }
        // CLIP-L has no projection: asking for one names the tensor it lacks.
        let message = Self.weightError { _ = try Self.encoder(model, projection: true) }
        #expect(message.contains("missing tensor text_projection.weight"), "\(message)")
    }

    @Test("a tensor of the wrong shape is an error naming it and both shapes")
    func wrongShape() throws {
        let model = try #require(Self.golden.models["open_clip"])
        for (name, shape) in [("text_model.encoder.layers.2.self_attn.q_proj.weight", [40, 41]),
                              ("text_projection.weight", [25, 40]), ("text_model.embeddings.token_embedding.weight", [999, 40])] {
            var tensors = TinyWeights.tensors(model.weights)
            tensors[name] = Tensor(zeros: Shape(shape))
            let message = Self.weightError { _ = try Self.encoder(model, tensors: tensors) }
            #expect(message.contains("tensor \(name) has shape \(shape)"), "\(message)")
            #expect(message.contains("expected \(try #require(model.weights[name]))"), "\(message)")
        }
    }

    @Test("an unexpected tensor is an error naming it; the legacy position_ids buffer is not")
    func unusedTensor() throws {
        let model = try #require(Self.golden.models["clip_l"])
        var tensors = TinyWeights.tensors(model.weights)
        tensors["text_model.embeddings.position_ids"] = Tensor(zeros: Shape([1, model.config.maxPositions]))
        _ = try Self.encoder(model, tensors: tensors)
        tensors["text_model.encoder.layers.3.mlp.fc1.bias"] = Tensor(zeros: Shape([72]))
        let message = Self.weightError { _ = try Self.encoder(model, tensors: tensors) }
        #expect(message.contains("unexpected tensor text_model.encoder.layers.3.mlp.fc1.bias"), "\(message)")
        let projected = try #require(Self.golden.models["open_clip"])
        let refused = Self.weightError { _ = try Self.encoder(projected, projection: false) }
        #expect(refused.contains("unexpected tensor text_projection.weight"), "\(refused)")
    }

    @Test("tokens outside the vocabulary, ragged or over-long batches and impossible clip skips are invalid input")
    func invalidTokens() throws {
        let model = try #require(Self.golden.models["clip_l"])
        let encoder = try Self.encoder(model)
        let row = model.tokens[0]
        let bad: [([[Int]], CLIPHiddenStateSelection)] = [
            ([], .stableDiffusion(clipSkip: nil)),
            ([[]], .stableDiffusion(clipSkip: nil)),
            ([row + [1]], .stableDiffusion(clipSkip: nil)),
            ([row, Array(row.dropLast())], .stableDiffusion(clipSkip: nil)),
            ([row.enumerated().map { $0.offset == 3 ? 1000 : $0.element }], .stableDiffusion(clipSkip: nil)),
            ([row.enumerated().map { $0.offset == 3 ? -1 : $0.element }], .stableDiffusion(clipSkip: nil)),
            ([row], .stableDiffusion(clipSkip: 4)),
            ([row], .stableDiffusionXL(clipSkip: 3)),
            ([row], .stableDiffusion(clipSkip: -1)),
        ]
        for (tokens, selection) in bad {
            #expect(throws: ModelError.self) { try encoder.encode(tokens: tokens, selection: selection) }
        }
        // The embeddings themselves (clip skip = layers) are a valid selection.
        let embeddings = try encoder.encode(tokens: [row], selection: .stableDiffusion(clipSkip: 3))
        #expect(embeddings.promptEmbeddings.shape.dims == [1, row.count, model.config.hiddenSize])
    }

    @Test("pools at the largest id under the legacy eos_token_id 2, else at the first eos_token_id")
    func poolingPosition() throws {
        let legacy = try Self.encoder(try #require(Self.golden.models["clip_l"]))
        #expect(legacy.poolingPosition([998, 5, 999, 999, 999]) == 2)
        #expect(legacy.poolingPosition([998, 5, 7]) == 0)
        let current = try Self.encoder(try #require(Self.golden.models["open_clip"]))
        #expect(current.poolingPosition([998, 900, 500, 0, 0]) == 2)
        #expect(current.poolingPosition([998, 500, 500]) == 1)
        #expect(current.poolingPosition([998, 900, 0]) == 0)
    }

    @Test("config.json: transformers' defaults, the eos_token_id list form, and bounded, named errors")
    func configuration() throws {
        let defaults = try CLIPTextConfiguration(json: Data("{}".utf8))
        #expect(defaults == CLIPTextConfiguration())
        #expect(defaults.vocabularySize == 49408 && defaults.hiddenSize == 512 && defaults.intermediateSize == 2048)
        #expect(defaults.projectionDimension == 512 && defaults.layers == 12 && defaults.attentionHeads == 8)
        #expect(defaults.maxPositions == 77 && defaults.activation == .quickGELU && defaults.layerNormEpsilon == 1e-5)
        #expect(defaults.eosTokenID == 49407 && defaults.padTokenID == 1 && defaults.bosTokenID == 49406)

        // SDXL's text_encoder_2/config.json, abridged.
        let bigG = try CLIPTextConfiguration(json: Data("""
            {"architectures": ["CLIPTextModelWithProjection"], "hidden_act": "gelu", "hidden_size": 1280,
             "intermediate_size": 5120, "num_attention_heads": 20, "num_hidden_layers": 32, "projection_dim": 1280,
             "eos_token_id": 2, "pad_token_id": 1, "bos_token_id": 0, "layer_norm_eps": 1e-05, "torch_dtype": "float16"}
            """.utf8))
        #expect(bigG.activation == .gelu && bigG.headDimension == 64 && bigG.layers == 32 && bigG.poolsAtLargestID)
        #expect(try CLIPTextConfiguration(json: Data(#"{"eos_token_id": [7]}"#.utf8)).eosTokenID == 7)
        #expect(try CLIPTextConfiguration(json: Data(#"{"projection_dim": null}"#.utf8)).projectionDimension == 512)

        for (json, field) in [(#"{"hidden_act": "swish"}"#, "hidden_act"), (#"{"hidden_size": 100, "num_attention_heads": 8}"#, "hidden_size"),
                              (#"{"num_hidden_layers": 0}"#, "num_hidden_layers"), (#"{"vocab_size": 4611686018427387904}"#, "vocab_size"),
                              (#"{"eos_token_id": [1, 2]}"#, "eos_token_id"), (#"{"hidden_size": "wide"}"#, "hidden_size"),
                              (#"{"max_position_embeddings": -3}"#, "max_position_embeddings")] {
            let message = Self.weightError { _ = try CLIPTextConfiguration(json: Data(json.utf8)) }
            #expect(message.contains(field), "\(json): \(message)")
        }
        let roundTrip = try CLIPTextConfiguration(json: JSONEncoder().encode(bigG))
        #expect(roundTrip == bigG)
    }
}
