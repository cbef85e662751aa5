// CLIP's vision transformer (Radford et al. 2021) with its projection, as transformers' `CLIPVisionModel`
// (models/clip/modeling_clip.py, 5.23) and the `visual_projection` of diffusers' safety checker compute it.
import Foundation
import Graph
import Kernels
import ModelKit
import Tensor

/// transformers' `CLIPVisionConfig` (models/clip/configuration_clip.py, 5.23): every field has
/// transformers' default, and sizes are bounded when decoding (a config file is untrusted input
/// and its numbers size allocations).
public struct CLIPVisionConfiguration: Sendable, Equatable, Codable {
    /// Width of the residual stream (`hidden_size`, default 768).
    public var hiddenSize: Int
    /// Width of the MLP (`intermediate_size`, default 3072).
    public var intermediateSize: Int
    /// Transformer layers (`num_hidden_layers`, default 12).
    public var layers: Int
    /// Attention heads (`num_attention_heads`, default 12).
    public var attentionHeads: Int
    /// Input channels (`num_channels`, default 3).
    public var channels: Int
    /// Side of the square input (`image_size`, default 224).
    public var imageSize: Int
    /// Side of a square patch (`patch_size`, default 32).
    public var patchSize: Int
    /// The MLP's activation (`hidden_act`, default `quick_gelu`).
    public var activation: CLIPTextConfiguration.Activation
    /// Epsilon of every layer norm (`layer_norm_eps`, default 1e-5).
    public var layerNormEpsilon: Float

    /// Largest accepted extent of a size field.
    public static let maxExtent = 1 << 16
    /// Largest accepted layer count.
    public static let maxLayers = 256

    /// A configuration with transformers' defaults for every field not given.
    public init(hiddenSize: Int = 768, intermediateSize: Int = 3072, layers: Int = 12, attentionHeads: Int = 12,
                channels: Int = 3, imageSize: Int = 224, patchSize: Int = 32, activation: CLIPTextConfiguration.Activation = .quickGELU,
                layerNormEpsilon: Float = 1e-5) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.attentionHeads = attentionHeads
        self.channels = channels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.activation = activation
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// The width of one attention head.
    public var headDimension: Int { hiddenSize / attentionHeads }
    /// Patches along one side (the convolution floors, as PyTorch's does).
    public var grid: Int { imageSize / patchSize }
    /// Tokens per image: the class token and the patches.
    public var tokens: Int { grid * grid + 1 }

    /// Checks the sizes a model is built from.
    /// - Throws: `ModelError(.weightsInvalid)` naming the offending field.
    public func validate() throws {
        for (field, value) in [("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                               ("num_attention_heads", attentionHeads), ("num_channels", channels), ("image_size", imageSize),
                               ("patch_size", patchSize)]
        where !(1...Self.maxExtent).contains(value) {
            throw ModelError(.weightsInvalid, "CLIP vision config: \(field) \(value) is outside 1...\(Self.maxExtent)")
        }
        guard (1...Self.maxLayers).contains(layers) else {
            throw ModelError(.weightsInvalid, "CLIP vision config: num_hidden_layers \(layers) is outside 1...\(Self.maxLayers)")
        }
        guard hiddenSize % attentionHeads == 0 else {
            throw ModelError(.weightsInvalid, "CLIP vision config: hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(attentionHeads)")
        }
        guard patchSize <= imageSize else {
            throw ModelError(.weightsInvalid, "CLIP vision config: patch_size \(patchSize) is larger than image_size \(imageSize)")
        }
        guard layerNormEpsilon.isFinite, layerNormEpsilon >= 0 else {
            throw ModelError(.weightsInvalid, "CLIP vision config: layer_norm_eps \(layerNormEpsilon) is not a finite non-negative number")
        }
    }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", layers = "num_hidden_layers"
        case attentionHeads = "num_attention_heads", channels = "num_channels", imageSize = "image_size", patchSize = "patch_size"
        case activation = "hidden_act", layerNormEpsilon = "layer_norm_eps"
    }

    /// Decodes transformers' field names, each absent or null field taking its default, and
    /// validates the result.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        func int(_ key: CodingKeys, _ fallback: Int) throws -> Int { try c.decodeIfPresent(Int.self, forKey: key) ?? fallback }
        hiddenSize = try int(.hiddenSize, d.hiddenSize)
        intermediateSize = try int(.intermediateSize, d.intermediateSize)
        layers = try int(.layers, d.layers)
        attentionHeads = try int(.attentionHeads, d.attentionHeads)
        channels = try int(.channels, d.channels)
        imageSize = try int(.imageSize, d.imageSize)
        patchSize = try int(.patchSize, d.patchSize)
        if let name = try c.decodeIfPresent(String.self, forKey: .activation) {
            guard let activation = CLIPTextConfiguration.Activation(rawValue: name) else {
                throw ModelError(.weightsInvalid, "CLIP vision config: hidden_act \(name) is not supported (expected one of "
                                 + "\(CLIPTextConfiguration.Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            self.activation = activation
        } else {
            activation = d.activation
        }
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        try validate()
    }
}

/// CLIP's vision transformer and a projection of its pooled output: patch embedding (a
/// convolution with kernel and stride of one patch), the class token, position embeddings,
/// `pre_layrnorm`, pre-norm layers with full (non-causal) self-attention, `post_layernorm` on the
/// class token and the bias-free projection, one graph on the engine. The layers are the text
/// encoder's (`CLIPTextEncoder.encoderLayer`) with the graph's attention op, which needs no mask.
///
/// The class token is the same row for every image; it is put in front of the patches as an
/// input the host fills (`class_embedding + position_embedding[0]`, one row per image), since
/// the graph has no op that repeats a constant over the batch.
public final class CLIPVisionEncoder: Sendable {
    /// The architecture.
    public let configuration: CLIPVisionConfiguration
    /// Width of the projected embeddings.
    public let projectionDimension: Int
    /// `class_embedding + position_embedding[0]`, `[hidden]`.
    private let classRow: Tensor
    private let executor: GraphExecutor

    /// Bytes of the prepared weights.
    public var weightBytes: Int { executor.weightBytes + classRow.count * 4 }

    /// Builds the encoder from tensors read through `reader` (names under its prefix:
    /// `embeddings.patch_embedding.weight`, `encoder.layers.N.…`, `post_layernorm.*`) and the
    /// projection `projection` (a global name).
    init(configuration c: CLIPVisionConfiguration, reader: inout CLIPTextEncoder.WeightReader, projection: String,
         projectionDimension: Int, pool: ComputePool) throws {
        try c.validate()
        guard (1...CLIPVisionConfiguration.maxExtent).contains(projectionDimension) else {
            throw ModelError(.weightsInvalid, "CLIP vision config: projection_dim \(projectionDimension) is outside 1...\(CLIPVisionConfiguration.maxExtent)")
        }
        configuration = c
        self.projectionDimension = projectionDimension
        let width = c.hiddenSize
        let classEmbedding = try reader.tensor("embeddings.class_embedding", [width])
        let positions = try reader.tensor("embeddings.position_embedding.weight", [c.tokens, width])
        let row = Tensor(uninitialized: Shape([width]))
        for i in 0..<width { row.floatPointer[i] = classEmbedding.floatPointer[i] + positions.floatPointer[i] }
        classRow = row
        let patchPositions = try positions.view(elementOffset: width, shape: Shape([c.tokens - 1, width])).copy()
        let graph = try Self.graph(c, reader: &reader, patchPositions: patchPositions, projection: projection,
                                   projectionDimension: projectionDimension)
        executor = try GraphExecutor(graph: graph, pool: pool)
    }

    /// Embeds normalized pixels.
    /// - Parameter pixels: `[N, channels, image_size, image_size]` f32, as the image processor
    ///   produces them.
    /// - Returns: the projected pooled outputs, `[N, projection_dim]`.
    /// - Throws: `ModelError(.invalidInput)` for another shape.
    public func embed(_ pixels: Tensor) throws -> Tensor {
        let c = configuration
        let s = pixels.shape
        guard pixels.dtype == .f32, s.rank == 4, s[0] > 0, s[1] == c.channels, s[2] == c.imageSize, s[3] == c.imageSize else {
            throw ModelError(.invalidInput, "vision encoder: pixels must be f32 [N, \(c.channels), \(c.imageSize), \(c.imageSize)], got \(s)")
        }
        let classRows = Tensor(uninitialized: Shape([s[0], 1, c.hiddenSize]))
        for n in 0..<s[0] {
            (classRows.floatPointer + n * c.hiddenSize).update(from: classRow.floatPointer, count: c.hiddenSize)
        }
        return try executor.run([pixels, classRows])[0]
    }

    /// Inputs: `pixels` `[N, C, S, S]` and `class_token` `[N, 1, hidden]`; output the projection
    /// of the post-normalized class token, `[N, projection_dim]`.
    static func graph(_ c: CLIPVisionConfiguration, reader: inout CLIPTextEncoder.WeightReader, patchPositions: Tensor,
                      projection: String, projectionDimension: Int) throws -> Graph {
        var b = GraphBuilder()
        let pixels = b.input("pixels")
        let classToken = b.input("class_token")
        let width = c.hiddenSize, headWidth = c.headDimension
        let epsilon = c.layerNormEpsilon

        func layerNorm(_ name: String, _ x: ValueID) throws -> ValueID {
            try b.layerNorm(name, x, epsilon: epsilon, scale: reader.tensor("\(name).weight", [width]), bias: reader.tensor("\(name).bias", [width]))
        }

        let patchWeight = try reader.tensor("embeddings.patch_embedding.weight", [width, c.channels, c.patchSize, c.patchSize])
        let patches = try b.conv2d("embeddings.patch_embedding", pixels, weight: patchWeight, bias: nil, stride: c.patchSize)
        let sequence = b.transpose("embeddings.sequence", b.reshape("embeddings.flatten", patches, [0, width, c.grid * c.grid]), [0, 2, 1])
        let positioned = b.elementwise("embeddings.positions", .add, sequence, b.constant("embeddings.position_embedding", patchPositions))
        var x = b.concatenate("embeddings", [classToken, positioned], axis: 1)
        x = try layerNorm("pre_layrnorm", x)
        for i in 0..<c.layers {
            x = try CLIPTextEncoder.encoderLayer(&b, x, prefix: "encoder.layers.\(i)", width: width, heads: c.attentionHeads,
                                                 intermediate: c.intermediateSize, activation: c.activation, epsilon: epsilon,
                                                 reader: &reader, keysTransposed: false) { b, a, q, k, v in
                b.attention("\(a).attention", query: q, key: k, value: v, scale: 1 / Float(headWidth).squareRoot())
            }
        }
        let pooled = b.reshape("pooled", try layerNorm("post_layernorm", b.slice("class", x, axis: 1, start: 0, end: 1)), [0, width])
        let projected = try b.linear(projection, pooled, weight: reader.tensor("\(projection).weight", [projectionDimension, width], global: true),
                                     bias: nil)
        b.output(projected)
        return b.graph
    }
}
