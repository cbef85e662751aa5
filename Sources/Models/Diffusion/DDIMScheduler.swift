// Denoising diffusion implicit models (Song et al. 2020, arXiv:2010.02502), as diffusers' `DDIMScheduler` with eta 0.
import Foundation

/// diffusers' `DDIMScheduler`, deterministic (`eta = 0`, no clipping, no thresholding), as SD
/// pipelines run it. Like diffusers, the previous timestep is always `t - train/steps`, whatever
/// the spacing.
public struct DDIMScheduler: Scheduler {
    /// The configuration the schedule was built from.
    public let configuration: SchedulerConfiguration
    public let timesteps: [Float]
    public let sigmas: [Float] = []
    public let initNoiseSigma: Float = 1
    public private(set) var stepIndex = 0
    private let schedule: NoiseSchedule
    private let stride: Int

    /// Prepares `steps` steps.
    /// - Throws: `ModelError(.invalidInput)` for a step count out of range.
    public init(configuration: SchedulerConfiguration, steps: Int) throws {
        try configuration.validate(steps: steps)
        self.configuration = configuration
        schedule = NoiseSchedule(configuration)
        stride = configuration.trainTimesteps / steps
        timesteps = Spacing.ddim(configuration, steps: steps).map { Float($0) }
    }

    /// DDIM's inputs are not scaled.
    public func scaleModelInput(_ sample: [Float]) -> [Float] { sample }

    public mutating func step(modelOutput: [Float], timestep: Float, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        precondition(stepIndex < timesteps.count && modelOutput.count == sample.count, "scheduler stepped past its end or with mismatched sizes")
        let t = min(max(Int(timestep), 0), schedule.alphasCumprod.count - 1)
        let previous = t - stride
        let alpha = schedule.alphasCumprod[t]
        let alphaPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : configuration.setAlphaToOne ? 1 : schedule.alphasCumprod[0]
        let beta = 1 - alpha
        let sqrtAlpha = alpha.squareRoot(), sqrtBeta = beta.squareRoot()
        let direction = (1 - alphaPrevious).squareRoot(), sqrtAlphaPrevious = alphaPrevious.squareRoot()
        stepIndex += 1
        return zip(sample, modelOutput).map { x, m in
            let x0: Float, epsilon: Float
            switch configuration.predictionType {
            case .epsilon:
                x0 = (x - sqrtBeta * m) / sqrtAlpha
                epsilon = m
            case .vPrediction:
                x0 = sqrtAlpha * x - sqrtBeta * m
                epsilon = sqrtAlpha * m + sqrtBeta * x
            }
            return sqrtAlphaPrevious * x0 + direction * epsilon
        }
    }
}

extension DDIMScheduler {
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
