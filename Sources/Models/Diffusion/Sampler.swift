// The denoising loop of diffusers' StableDiffusionPipeline, with the progress callback of apple/ml-stable-diffusion.
import Foundation

/// What a progress callback tells the sampler.
public enum SamplerDecision: Sendable, Equatable {
    case proceed
    /// Stop between steps (cancellation): the sampler returns without taking another step.
    case stop
}

/// Where the sampler stands after a step, for progress reports and previews.
public struct SamplerProgress: Sendable {
    /// Steps taken so far (1 after the first).
    public var step: Int
    /// Steps in the run.
    public var stepCount: Int
    /// The timestep of the step just taken.
    public var timestep: Float
    /// The latents after the step.
    public var latents: [Float]
}

/// The outcome of a sampling run.
public enum SamplerResult: Sendable {
    /// All steps ran: the final latents.
    case finished([Float])
    /// The callback stopped the run after `afterStep` steps.
    case stopped(afterStep: Int)
}

/// Classifier-free guidance (Ho & Salimans 2022): `unconditional + scale * (conditional - unconditional)`,
/// evaluated in that order in float32, as diffusers does.
public func classifierFreeGuidance(unconditional: [Float], conditional: [Float], scale: Float) -> [Float] {
    precondition(unconditional.count == conditional.count, "guidance halves differ in size")
    return zip(unconditional, conditional).map { u, c in u + scale * (c - u) }
}

/// Runs a scheduler over its timesteps: scale the input, ask the denoiser, step, report.
///
/// The denoiser gets the scaled latents and the timestep and returns the model output (a UNet,
/// with guidance folded in by the caller). After every step `progress` sees the new latents and
/// may answer `.stop`, which is how cancellation reaches the loop between steps. `adjust` may
/// rewrite the latents after each step (given the next step's index and the scheduler).
/// - Parameters:
///   - scheduler: a freshly made scheduler (its `stepIndex` is 0).
///   - latents: the initial latents, already multiplied by `initNoiseSigma`.
///   - generator: the pipeline's generator; ancestral and LCM steps draw from it.
/// - Throws: what `denoise` throws.
public func runSampler<S: Scheduler>(
    _ scheduler: inout S, latents: [Float], generator: inout TorchGenerator,
    denoise: (_ input: [Float], _ timestep: Float) throws -> [Float],
    progress: (SamplerProgress) -> SamplerDecision = { _ in .proceed },
    adjust: (_ latents: [Float], _ nextStep: Int, _ scheduler: S) -> [Float] = { latents, _, _ in latents }
) rethrows -> SamplerResult {
    var sample = latents
    let timesteps = scheduler.timesteps
    // A scheduler skipped ahead (image-to-image) runs from where it stands.
    let first = scheduler.stepIndex
    for index in first..<timesteps.count {
        let timestep = timesteps[index]
        let output = try denoise(scheduler.scaleModelInput(sample), timestep)
        sample = scheduler.step(modelOutput: output, timestep: timestep, sample: sample, generator: &generator)
        // Inpainting with a plain UNet puts the known region back, noised to the next level.
        sample = adjust(sample, index + 1, scheduler)
        let report = SamplerProgress(step: index + 1 - first, stepCount: timesteps.count - first, timestep: timestep, latents: sample)
        // A stop after the last step changes nothing: the run is complete.
        if progress(report) == .stop, index + 1 < timesteps.count { return .stopped(afterStep: index + 1 - first) }
    }
    return .finished(sample)
}
