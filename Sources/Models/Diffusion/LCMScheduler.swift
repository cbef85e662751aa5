// Latent consistency models (Luo et al. 2023, arXiv:2310.04378; luosiallen/latent-consistency-model), as diffusers' `LCMScheduler`.
import Foundation
import ModelKit

/// diffusers' `LCMScheduler`: timesteps picked from the distillation's `original_inference_steps`
/// grid, each step a consistency-function prediction re-noised to the next timestep with fresh
/// noise from the generator (none after the last step, whose output is the denoised sample).
public struct LCMScheduler: Scheduler {
    /// The configuration the schedule was built from.
    public let configuration: SchedulerConfiguration
    public let timesteps: [Float]
    public let sigmas: [Float] = []
    public let initNoiseSigma: Float = 1
    public private(set) var stepIndex = 0
    private let schedule: NoiseSchedule

    /// Prepares `steps` steps.
    /// - Throws: `ModelError(.invalidInput)` when `steps` exceeds `originalInferenceSteps` or the
    ///   configuration's grid is empty.
    public init(configuration: SchedulerConfiguration, steps: Int) throws {
        try configuration.validate(steps: steps)
        let original = configuration.originalInferenceSteps
        guard original >= 1, original <= configuration.trainTimesteps else {
            throw ModelError(.invalidInput, "LCM original_inference_steps \(original) must be between 1 and \(configuration.trainTimesteps)")
        }
        guard steps <= original else {
            throw ModelError(.invalidInput, "num_inference_steps must be at most \(original) for LCM, got \(steps)", status: 422)
        }
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
        let k = configuration.trainTimesteps / original
        let grid = (1...original).reversed().map { $0 * k - 1 }
        timesteps = Spacing.linspace(0, Double(grid.count), steps + 1).prefix(steps).map { index in
            Float(grid[Int(index.rounded(.down))])
        }
    }

    /// LCM's inputs are not scaled.
    public func scaleModelInput(_ sample: [Float]) -> [Float] { sample }

    public mutating func step(modelOutput: [Float], timestep: Float, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        precondition(stepIndex < timesteps.count && modelOutput.count == sample.count, "scheduler stepped past its end or with mismatched sizes")
        let t = min(max(Int(timestep), 0), schedule.alphasCumprod.count - 1)
        let last = stepIndex == timesteps.count - 1
        let previous = last ? t : Int(timesteps[stepIndex + 1])
        let alpha = schedule.alphasCumprod[t]
        let alphaPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : configuration.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
        let sqrtAlpha = alpha.squareRoot(), sqrtBeta = (1 - alpha).squareRoot()
        // The boundary condition: c_skip and c_out of the scaled timestep (sigma_data 0.5).
        let scaled = Double(t) * configuration.timestepScaling
        let cSkip = Float(0.25 / (scaled * scaled + 0.25))
        let cOut = Float(scaled / (scaled * scaled + 0.25).squareRoot())
        stepIndex += 1
        let denoised: [Float] = zip(sample, modelOutput).map { x, m in
            let x0 = configuration.predictionType == .epsilon ? (x - sqrtBeta * m) / sqrtAlpha : sqrtAlpha * x - sqrtBeta * m
            return cOut * x0 + cSkip * x
        }
        if last { return denoised }
        let noise = generator.randn(count: sample.count)
        let a = alphaPrevious.squareRoot(), b = (1 - alphaPrevious).squareRoot()
        return zip(denoised, noise).map { a * $0 + b * $1 }
    }
}

extension LCMScheduler {
    public mutating func skip(to index: Int) {
        precondition(index >= 0 && index < timesteps.count, "skip past the schedule")
        stepIndex = index
    }

    public func addNoise(to sample: [Float], noise: [Float], atStep index: Int) -> [Float] {
        let product = schedule.alphasCumprod[Int(timesteps[index])]
        let a = product.squareRoot(), b = (1 - product).squareRoot()
        return zip(sample, noise).map { a * $0 + b * $1 }
    }
}
