import Foundation
import Tensor

/// An image autoencoder a diffusion pipeline decodes its latents with (and encodes init images
/// with, for image-to-image): ``AutoencoderKL`` or ``TinyAutoencoder``.
public protocol LatentAutoencoder: Sendable {
    /// How the denoiser's latents relate to this autoencoder's.
    var latentScaling: LatentScaling { get }
    /// Latent channels.
    var latentChannels: Int { get }
    /// Image pixels per latent pixel along each axis (8 for Stable Diffusion).
    var downsamplingFactor: Int { get }
    /// Whether ``encode(image:checkpoint:)`` is available (the encoder was loaded).
    var canEncode: Bool { get }

    /// Images `[N, 3, H·f, W·f]` in about [-1, 1] from the denoiser's latents `[N, C, H, W]`:
    /// undoes ``latentScaling`` (``LatentScaling/decoderInput(fromLatents:)``) and runs the decoder.
    /// - Parameter checkpoint: called between layers; whatever it throws ends the run.
    func decode(latents: Tensor, checkpoint: () throws -> Void) throws -> Tensor

    /// The encoder's latent distribution for images `[N, 3, H, W]` in [-1, 1], before scaling
    /// (``latents(fromImage:noise:checkpoint:)`` scales it for the denoiser).
    /// - Parameter checkpoint: called between layers; whatever it throws ends the run.
    func encode(image: Tensor, checkpoint: () throws -> Void) throws -> LatentDistribution
}

extension LatentAutoencoder {
    /// ``decode(latents:checkpoint:)`` without cancellation.
    public func decode(latents: Tensor) throws -> Tensor {
        try decode(latents: latents, checkpoint: {})
    }

    /// ``encode(image:checkpoint:)`` without cancellation.
    public func encode(image: Tensor) throws -> LatentDistribution {
        try encode(image: image, checkpoint: {})
    }

    /// The denoiser's latents for an init image, as diffusers' image-to-image `prepare_latents`
    /// makes them: a sample of the encoder's distribution (`noise` drawn by the caller from the
    /// pipeline's generator, nil for the mean, diffusers' `sample_mode="argmax"`), then scaled.
    public func latents(fromImage image: Tensor, noise: Tensor?, checkpoint: () throws -> Void = {}) throws -> Tensor {
        let distribution = try encode(image: image, checkpoint: checkpoint)
        let z = try noise.map { try distribution.sample(noise: $0) } ?? distribution.mean
        return try latentScaling.latents(fromEncoded: z)
    }
}
