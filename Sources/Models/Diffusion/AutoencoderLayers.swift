// The layers diffusers' autoencoders are made of (ResnetBlock2D, the VAE's single-head spatial
// attention, Downsample2D, Upsample2D, AutoencoderTinyBlock), emitted as Graph IR.

import Foundation
import Graph
import Kernels
import ModelFormats
import Tensor

/// Builds an autoencoder's graph from its checkpoint tensors, remembering every tensor it read so
/// that the model can reject a checkpoint holding tensors its configuration does not use (a
/// `layers_per_block` or channel list that does not match the file would otherwise decode noise).
struct AutoencoderGraphBuilder {
    var builder = GraphBuilder()
    let weights: DiffusionWeights
    private(set) var used = Set<String>()

    init(weights: DiffusionWeights) {
        self.weights = weights
    }

    private mutating func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        used.insert(name)
        return try weights.tensor(name, shape: shape)
    }

    /// `nn.Conv2d` named `name` (`name.weight`, `name.bias` when `bias`).
    mutating func conv(_ name: String, _ x: ValueID, in input: Int, out output: Int, kernel: Int, stride: Int = 1,
                       padding: Padding? = nil, bias: Bool = true, activation: Activation = .none) throws -> ValueID {
        let w = try tensor("\(name).weight", shape: [output, input, kernel, kernel])
        let b = bias ? try tensor("\(name).bias", shape: [output]) : nil
        var conv = Convolution(outChannels: output, inChannels: input, kernel: (kernel, kernel), stride: (stride, stride),
                               padding: padding ?? Padding(kernel / 2), weights: w.toArray(), bias: b?.toArray() ?? [])
        conv.activation = activation
        return builder.node(name, .convolution(conv), [x])
    }

    /// A linear layer `[C, C]` of the attention applied over the channels of `[N, C, 1, L]` as a
    /// 1×1 convolution (original LDM checkpoints store it as `[C, C, 1, 1]`, also accepted).
    mutating func projection(_ name: String, legacyName: String, _ x: ValueID, channels: Int) throws -> ValueID {
        var stored = name
        if !weights.contains("\(name).weight"), weights.contains("\(legacyName).weight") { stored = legacyName }
        let shape = weights.shape("\(stored).weight") == [channels, channels, 1, 1] ? [channels, channels, 1, 1] : [channels, channels]
        let w = try tensor("\(stored).weight", shape: shape)
        let b = try tensor("\(stored).bias", shape: [channels])
        let conv = Convolution(outChannels: channels, inChannels: channels, kernel: (1, 1), weights: w.toArray(), bias: b.toArray())
        return builder.node(name, .convolution(conv), [x])
    }

    /// `nn.GroupNorm` named `name` over `channels`.
    mutating func groupNorm(_ name: String, _ x: ValueID, channels: Int, groups: Int, epsilon: Float) throws -> ValueID {
        guard groups > 0, channels % groups == 0 else {
            throw ModelFormatError(.unsupportedLayer, "\(weights.component): \(name) groups \(channels) channels into \(groups) groups")
        }
        let scale = try tensor("\(name).weight", shape: [channels])
        let bias = try tensor("\(name).bias", shape: [channels])
        return builder.groupNorm(name, x, groups: groups, epsilon: epsilon, scale: scale, bias: bias)
    }

    /// diffusers `ResnetBlock2D` without a time embedding (the autoencoders' only kind):
    /// `shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))`, the shortcut a 1×1
    /// convolution when the channel count changes.
    mutating func resnet(_ name: String, _ x: ValueID, in input: Int, out output: Int, groups: Int) throws -> ValueID {
        var h = try groupNorm("\(name).norm1", x, channels: input, groups: groups, epsilon: 1e-6)
        h = builder.unary("\(name).act1", .silu, h)
        h = try conv("\(name).conv1", h, in: input, out: output, kernel: 3)
        h = try groupNorm("\(name).norm2", h, channels: output, groups: groups, epsilon: 1e-6)
        h = builder.unary("\(name).act2", .silu, h)
        h = try conv("\(name).conv2", h, in: output, out: output, kernel: 3)
        let shortcut = input == output ? x : try conv("\(name).conv_shortcut", x, in: input, out: output, kernel: 1)
        return builder.elementwise("\(name).add", .add, shortcut, h)
    }

    /// diffusers `Attention` as the VAE mid block builds it (one head over all `C` channels, group
    /// norm first, residual added, output factor 1) on `x` `[N, C, H, W]`, returning `[N, C, H, W]`
    /// (the reshape back takes its extents from `x`, so the graph serves every input size).
    mutating func spatialAttention(_ name: String, _ x: ValueID, channels: Int, groups: Int) throws -> ValueID {
        // [N, C, 1, L] is NCHW to the convolutions and norms and [N, C, L] to the attention.
        let rows = builder.reshape("\(name).rows", x, [0, 0, 1, -1])
        let h = try groupNorm("\(name).group_norm", rows, channels: channels, groups: groups, epsilon: 1e-6)
        let q = try projection("\(name).to_q", legacyName: "\(name).query", h, channels: channels)
        let k = try projection("\(name).to_k", legacyName: "\(name).key", h, channels: channels)
        let v = try projection("\(name).to_v", legacyName: "\(name).value", h, channels: channels)
        let flat = { (b: inout GraphBuilder, v: ValueID, what: String) in b.reshape("\(name).\(what).flat", v, [0, 0, -1]) }
        let qf = flat(&builder, q, "q"), kf = flat(&builder, k, "k"), vf = flat(&builder, v, "v")
        let scale = 1 / Float(channels).squareRoot()
        var o = builder.node("\(name).attention", .attentionFeatureMajor(scale: scale), [qf, kf, vf])
        o = builder.reshape("\(name).attention.rows", o, [0, 0, 1, -1])
        o = try projection("\(name).to_out.0", legacyName: "\(name).proj_attn", o, channels: channels)
        o = builder.elementwise("\(name).residual", .add, o, rows)
        return builder.reshape("\(name).unflatten", o, like: x)
    }

    /// diffusers `Downsample2D(use_conv=True, padding=0)`: zero padding of one row below and one
    /// column to the right, then a stride-2 3×3 convolution (`floor(H / 2)` rows out).
    mutating func downsample(_ name: String, _ x: ValueID, channels: Int) throws -> ValueID {
        try conv("\(name).conv", x, in: channels, out: channels, kernel: 3, stride: 2,
                 padding: Padding(top: 0, left: 0, bottom: 1, right: 1))
    }

    /// diffusers `Upsample2D(use_conv=True)`: nearest 2× then a 3×3 convolution.
    mutating func upsample(_ name: String, _ x: ValueID, channels: Int) throws -> ValueID {
        let up = builder.upsampleNearest("\(name).interpolate", x, factor: 2)
        return try conv("\(name).conv", up, in: channels, out: channels, kernel: 3)
    }

    /// Throws when the checkpoint holds a tensor under one of `prefixes` that no layer read.
    func checkAllUsed(prefixes: [String]) throws {
        // Only names reachable as given are checked (a store seen through `scoped` lists its
        // full names, which its own lookups would qualify once more).
        let unused = weights.names.filter { name in
            prefixes.contains { name.hasPrefix($0) } && weights.contains(name) && !used.contains(name)
        }
        guard unused.isEmpty else {
            let shown = unused.prefix(5).joined(separator: ", ")
            throw ModelFormatError(.malformed, "\(weights.component): \(unused.count) tensor(s) the configuration does not use: \(shown)")
        }
    }
}
