// DPM-Solver++ (Lu et al. 2022, arXiv:2211.01095; LuChengTHU/dpm-solver), as diffusers' `DPMSolverMultistepScheduler`.
import Foundation

/// diffusers' `DPMSolverMultistepScheduler` with `algorithm_type="dpmsolver++"`, `solver_order=2`,
/// the midpoint solver and `lower_order_final`: "DPM++ 2M", with Karras sigmas when the
/// configuration asks ("DPM++ 2M Karras"). The first step and the last (final sigma 0) are
/// first order; the others combine the last two data predictions.
public struct DPMSolverMultistepScheduler: Scheduler {
    /// The configuration the schedule was built from.
    public let configuration: SchedulerConfiguration
    public let timesteps: [Float]
    public let sigmas: [Float]
    public let initNoiseSigma: Float = 1
    public private(set) var stepIndex = 0
    /// The previous step's data prediction (x0).
    private var previousPrediction: [Float]?

    /// Prepares `steps` steps.
    /// - Throws: `ModelError(.invalidInput)` for a step count out of range.
    public init(configuration: SchedulerConfiguration, steps: Int) throws {
        try configuration.validate(steps: steps)
        self.configuration = configuration
        let schedule = NoiseSchedule(configuration)
        var times = Spacing.dpmSolver(configuration, steps: steps)
        var sigmas: [Double]
        if configuration.useKarrasSigmas {
            sigmas = NoiseSchedule.karras(minimum: Double(schedule.sigmas[0]), maximum: Double(schedule.sigmas[schedule.sigmas.count - 1]), count: steps)
            times = sigmas.map { schedule.timestep(forSigma: $0).rounded(.toNearestOrEven) }
        } else {
            sigmas = times.map { schedule.interpolatedSigma($0) }
        }
        self.timesteps = times.map { Float($0) }
        self.sigmas = sigmas.map { Float($0) } + [0]
    }

    /// DPM-Solver's inputs are not scaled.
    public func scaleModelInput(_ sample: [Float]) -> [Float] { sample }

    /// (alpha, sigma, lambda) of a noise level, in double.
    private static func alphaSigmaLambda(_ s: Float) -> (alpha: Double, sigma: Double, lambda: Double) {
        let alpha = 1 / (Double(s) * Double(s) + 1).squareRoot()
        let sigma = Double(s) * alpha
        return (alpha, sigma, Foundation.log(alpha) - Foundation.log(sigma))
    }

    public mutating func step(modelOutput: [Float], timestep: Float, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        precondition(stepIndex < timesteps.count && modelOutput.count == sample.count, "scheduler stepped past its end or with mismatched sizes")
        let i = stepIndex
        let s0 = Self.alphaSigmaLambda(sigmas[i])
        let t = Self.alphaSigmaLambda(sigmas[i + 1])
        // Convert the model output to a data prediction.
        let a0 = Float(s0.alpha), sg0 = Float(s0.sigma)
        let prediction: [Float] = zip(sample, modelOutput).map { x, m in
            configuration.predictionType == .epsilon ? (x - sg0 * m) / a0 : a0 * x - sg0 * m
        }
        let h = t.lambda - s0.lambda
        let sampleScale = Float(t.sigma / s0.sigma)
        let d0Scale = Float(t.alpha * (Foundation.exp(-h) - 1))
        let last = i == timesteps.count - 1
        var out = [Float](repeating: 0, count: sample.count)
        if let previous = previousPrediction, !last {
            // Second order (midpoint), from this and the previous data prediction.
            let s1 = Self.alphaSigmaLambda(sigmas[i - 1])
            let r0 = (s0.lambda - s1.lambda) / h
            let d1Scale = Float(0.5 * t.alpha * (Foundation.exp(-h) - 1) / r0)
            for k in 0..<out.count {
                let d1 = prediction[k] - previous[k]
                out[k] = sampleScale * sample[k] - d0Scale * prediction[k] - d1Scale * d1
            }
        } else {
            for k in 0..<out.count { out[k] = sampleScale * sample[k] - d0Scale * prediction[k] }
        }
        previousPrediction = prediction
        stepIndex += 1
        return out
    }
}

extension DPMSolverMultistepScheduler {
    public mutating func skip(to index: Int) {
        precondition(index >= 0 && index < timesteps.count, "skip past the schedule")
        stepIndex = index
    }

    public func addNoise(to sample: [Float], noise: [Float], atStep index: Int) -> [Float] {
        let s = sigmas[index]
        let alpha = 1 / (s * s + 1).squareRoot(), sigma = s * alpha
        return zip(sample, noise).map { alpha * $0 + sigma * $1 }
    }
}
