import Foundation
import Graph
import Tensor

/// How a model family's latents relate to its autoencoder's: the denoiser works on
/// `(z - shift) * scalingFactor` (or, with per-channel statistics, `(z - mean) * scalingFactor / std`),
/// which the pipelines undo before decoding. Stable Diffusion 1.x/2.x scale by 0.18215, SDXL by
/// 0.13025, SD3 and Flux also shift; TAESD and TAESDXL have factor 1 and no shift.
public struct LatentScaling: Sendable, Equatable {
    /// `scaling_factor`.
    public var scalingFactor: Float
    /// `shift_factor`, nil where the family has none.
    public var shiftFactor: Float?
    /// Per-channel `latents_mean`, applied only together with ``latentsStd`` (as diffusers' SDXL
    /// pipelines do).
    public var latentsMean: [Float]?
    /// Per-channel `latents_std`.
    public var latentsStd: [Float]?

    /// Creates a scaling.
    public init(scalingFactor: Float, shiftFactor: Float? = nil, latentsMean: [Float]? = nil, latentsStd: [Float]? = nil) {
        self.scalingFactor = scalingFactor
        self.shiftFactor = shiftFactor
        self.latentsMean = latentsMean
        self.latentsStd = latentsStd
    }

    /// The autoencoder's latents from the denoiser's: `latents / scalingFactor (+ shift)`, or
    /// `latents * std / scalingFactor + mean` with per-channel statistics.
    /// - Throws: `GraphError` `.invalidInput` when `latents` is not `[N, C, H, W]` with one
    ///   statistic per channel.
    public func decoderInput(fromLatents latents: Tensor) throws -> Tensor {
        if let mean = latentsMean, let std = latentsStd {
            return try perChannel(latents, mean.count) { x, c in x * std[c] / scalingFactor + mean[c] }
        }
        let shift = shiftFactor ?? 0
        return try perChannel(latents, nil) { x, _ in x / scalingFactor + shift }
    }

    /// The denoiser's latents from the autoencoder's: `(z - shift) * scalingFactor`, or
    /// `(z - mean) * scalingFactor / std` with per-channel statistics.
    /// - Throws: `GraphError` `.invalidInput` for a tensor that is not `[N, C, H, W]` with one
    ///   statistic per channel.
    public func latents(fromEncoded z: Tensor) throws -> Tensor {
        if let mean = latentsMean, let std = latentsStd {
            return try perChannel(z, mean.count) { x, c in (x - mean[c]) * scalingFactor / std[c] }
        }
        let shift = shiftFactor ?? 0
        return try perChannel(z, nil) { x, _ in (x - shift) * scalingFactor }
    }

    private func perChannel(_ x: Tensor, _ channels: Int?, _ f: (Float, Int) -> Float) throws -> Tensor {
        let s = x.shape
        guard x.dtype == .f32, s.rank == 4, channels == nil || channels == s[1] else {
            throw GraphError(.invalidInput, "latents must be f32 [N, C, H, W] (C = \(channels.map(String.init) ?? "any")), got \(x)")
        }
        let out = Tensor(uninitialized: s)
        let src = x.floatPointer, dst = out.floatPointer
        let plane = s[2] * s[3]
        for n in 0..<s[0] {
            for c in 0..<s[1] {
                let base = (n * s[1] + c) * plane
                for i in base..<(base + plane) { dst[i] = f(src[i], c) }
            }
        }
        return out
    }
}

/// What an autoencoder's encoder makes of an image: diffusers' `DiagonalGaussianDistribution`
/// (AutoencoderKL) or a deterministic latent (AutoencoderTiny, ``logvar`` nil).
public struct LatentDistribution: Sendable {
    /// The mean (the latent itself for a deterministic encoder), `[N, C, h, w]`.
    public var mean: Tensor
    /// The log-variance clamped to [-30, 20] as diffusers clamps it, or nil.
    public var logvar: Tensor?

    /// Pairs a mean with an optional log-variance.
    public init(mean: Tensor, logvar: Tensor? = nil) {
        self.mean = mean
        self.logvar = logvar
    }

    /// `mean + exp(0.5 · logvar) · noise`, diffusers' `latent_dist.sample(generator)` once the
    /// caller has drawn `noise` of the mean's shape from the pipeline's generator; the mean
    /// itself for a deterministic encoder (what `retrieve_latents` returns for AutoencoderTiny).
    /// - Throws: `GraphError` `.invalidInput` when the noise's shape differs from the mean's.
    public func sample(noise: Tensor) throws -> Tensor {
        guard let logvar else { return mean.copy() }
        guard noise.shape == mean.shape, noise.dtype == .f32 else {
            throw GraphError(.invalidInput, "noise \(noise) does not match the latent \(mean)")
        }
        let out = Tensor(uninitialized: mean.shape)
        let m = mean.floatPointer, l = logvar.floatPointer, e = noise.floatPointer, o = out.floatPointer
        for i in 0..<mean.count { o[i] = m[i] + Foundation.exp(0.5 * l[i]) * e[i] }
        return out
    }
}
