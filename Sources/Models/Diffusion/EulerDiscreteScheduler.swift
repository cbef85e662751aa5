// Euler sampler of Karras et al. 2022 (arXiv:2206.00364), as diffusers' `EulerDiscreteScheduler`.
import Foundation

/// diffusers' `EulerDiscreteScheduler` (no churn): SD-Turbo's one-step sampler and a common SD
/// choice, with leading, trailing or linspace spacing and optional Karras sigmas.
public struct EulerDiscreteScheduler: Scheduler {
    /// The configuration the schedule was built from.
    public let configuration: SchedulerConfiguration
    public let timesteps: [Float]
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public private(set) var stepIndex = 0

    /// Prepares `steps` steps.
    /// - Throws: `ModelError(.invalidInput)` for a step count out of range.
    public init(configuration: SchedulerConfiguration, steps: Int) throws {
        try configuration.validate(steps: steps)
        self.configuration = configuration
        let schedule = NoiseSchedule(configuration)
        var times = Spacing.euler(configuration, steps: steps)
        var sigmas = times.map { schedule.interpolatedSigma($0) }
        if configuration.useKarrasSigmas {
            sigmas = NoiseSchedule.karras(minimum: sigmas[sigmas.count - 1], maximum: sigmas[0], count: steps)
            times = sigmas.map { schedule.timestep(forSigma: $0) }
        }
        self.timesteps = times.map { Float($0) }
        self.sigmas = sigmas.map { Float($0) } + [0]
        let maxSigma = self.sigmas.max() ?? 0
        initNoiseSigma = configuration.timestepSpacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: [Float]) -> [Float] {
        let sigma = sigmas[stepIndex]
        let scale = (sigma * sigma + 1).squareRoot()
        return sample.map { $0 / scale }
    }

    public mutating func step(modelOutput: [Float], timestep: Float, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        precondition(stepIndex < timesteps.count && modelOutput.count == sample.count, "scheduler stepped past its end or with mismatched sizes")
        let sigma = sigmas[stepIndex], next = sigmas[stepIndex + 1]
        let dt = next - sigma
        let v = VPredictionScales(sigma: sigma)
        stepIndex += 1
        return zip(sample, modelOutput).map { x, m in
            let x0 = configuration.predictionType == .epsilon ? x - sigma * m : m * v.output + x / v.sample
            let derivative = (x - x0) / sigma
            return x + derivative * dt
        }
    }
}

/// The float32 factors of `x0 = model * (-sigma / (sigma² + 1)^½) + sample / (sigma² + 1)`, the
/// v-prediction conversion of the sigma-parameterized schedulers.
struct VPredictionScales {
    let output: Float
    let sample: Float

    init(sigma: Float) {
        let s2 = sigma * sigma + 1
        output = -sigma / s2.squareRoot()
        sample = s2
    }
}

extension EulerDiscreteScheduler {
    public mutating func skip(to index: Int) {
        precondition(index >= 0 && index < timesteps.count, "skip past the schedule")
        stepIndex = index
    }

    public func addNoise(to sample: [Float], noise: [Float], atStep index: Int) -> [Float] {
        let sigma = sigmas[index]
        return zip(sample, noise).map { $0 + $1 * sigma }
    }
}
