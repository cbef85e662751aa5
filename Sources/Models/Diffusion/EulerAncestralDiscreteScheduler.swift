// Ancestral Euler sampler (k-diffusion `sample_euler_ancestral`, crowsonkb/k-diffusion), as diffusers' `EulerAncestralDiscreteScheduler`.
import Foundation

/// diffusers' `EulerAncestralDiscreteScheduler`: an Euler step to `sigma_down`, then fresh noise
/// of size `sigma_up` drawn from the generator (every step, the last one too, as diffusers does,
/// so the generator's stream stays in step with it).
public struct EulerAncestralDiscreteScheduler: Scheduler {
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
        let times = Spacing.euler(configuration, steps: steps)
        timesteps = times.map { Float($0) }
        sigmas = times.map { Float(schedule.interpolatedSigma($0)) } + [0]
        let maxSigma = sigmas.max() ?? 0
        initNoiseSigma = configuration.timestepSpacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: [Float]) -> [Float] {
        let sigma = sigmas[stepIndex]
        let scale = (sigma * sigma + 1).squareRoot()
        return sample.map { $0 / scale }
    }

    public mutating func step(modelOutput: [Float], timestep: Float, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        precondition(stepIndex < timesteps.count && modelOutput.count == sample.count, "scheduler stepped past its end or with mismatched sizes")
        let from = sigmas[stepIndex], to = sigmas[stepIndex + 1]
        let up = (to * to * (from * from - to * to) / (from * from)).squareRoot()
        let down = (to * to - up * up).squareRoot()
        let dt = down - from
        let v = VPredictionScales(sigma: from)
        stepIndex += 1
        let noise = generator.randn(count: sample.count)
        var out = [Float](repeating: 0, count: sample.count)
        for i in 0..<sample.count {
            let x = sample[i], m = modelOutput[i]
            let x0 = configuration.predictionType == .epsilon ? x - from * m : m * v.output + x / v.sample
            let derivative = (x - x0) / from
            out[i] = (x + derivative * dt) + noise[i] * up
        }
        return out
    }
}

extension EulerAncestralDiscreteScheduler {
    public mutating func skip(to index: Int) {
        precondition(index >= 0 && index < timesteps.count, "skip past the schedule")
        stepIndex = index
    }

    public func addNoise(to sample: [Float], noise: [Float], atStep index: Int) -> [Float] {
        let sigma = sigmas[index]
        return zip(sample, noise).map { $0 + $1 * sigma }
    }
}
