// The noise schedules and timestep spacings shared by diffusers' discrete schedulers (huggingface/diffusers `schedulers/`).
import Foundation
import ModelKit

/// A diffusion sampler's schedule and update rule, apart from any pipeline: the pipeline asks it
/// for the timesteps, scales the model input, and hands each model output to `step`.
public protocol Scheduler: Sendable {
    /// The timestep fed to the denoiser at each step.
    var timesteps: [Float] { get }
    /// The noise level of each step plus the final one (empty for schedulers that work on
    /// cumulative alphas: DDIM, LCM).
    var sigmas: [Float] { get }
    /// The standard deviation of the initial noise: the pipeline multiplies unit noise by it.
    var initNoiseSigma: Float { get }
    /// The step the next `step` call takes.
    var stepIndex: Int { get }
    /// The denoiser's input for the current step.
    func scaleModelInput(_ sample: [Float]) -> [Float]
    /// Takes one step from `sample` given the model output at `timestep`; ancestral and
    /// consistency samplers draw their fresh noise from `generator`.
    mutating func step(modelOutput: [Float], timestep: Float, sample: [Float], generator: inout TorchGenerator) -> [Float]
    /// Starts the schedule at step `index` (image-to-image runs only its tail, as diffusers'
    /// `set_begin_index`).
    mutating func skip(to index: Int)
    /// `sample` noised to the level of step `index` (diffusers' `add_noise` at that step's timestep).
    func addNoise(to sample: [Float], noise: [Float], atStep index: Int) -> [Float]
}

/// What the network predicts.
public enum PredictionType: String, Sendable, Codable {
    /// The added noise (SD 1.x, SD 2 base, SDXL).
    case epsilon
    /// The velocity `alpha * noise - sigma * x0` (SD 2.x 768-v).
    case vPrediction = "v_prediction"
}

/// How inference timesteps are picked from the training ones (diffusers' `timestep_spacing`).
public enum TimestepSpacing: String, Sendable, Codable {
    /// Every `train/steps`-th timestep from 0, plus `steps_offset` (SD 1.x/2.x checkpoints).
    case leading
    /// Counted down from the last timestep, so step one is pure noise (Turbo, Lightning).
    case trailing
    /// Evenly spread over the whole range, both ends included.
    case linspace
}

/// How betas grow over the training timesteps.
public enum BetaSchedule: String, Sendable, Codable {
    /// Linear in sqrt(beta): the latent-diffusion schedule.
    case scaledLinear = "scaled_linear"
    /// Linear in beta.
    case linear
}

/// A scheduler's `scheduler_config.json`, the fields the Stable Diffusion family uses.
public struct SchedulerConfiguration: Sendable, Equatable, Codable {
    /// `num_train_timesteps`.
    public var trainTimesteps: Int
    /// `beta_start`.
    public var betaStart: Double
    /// `beta_end`.
    public var betaEnd: Double
    /// `beta_schedule`.
    public var betaSchedule: BetaSchedule
    /// `prediction_type`.
    public var predictionType: PredictionType
    /// `timestep_spacing`.
    public var timestepSpacing: TimestepSpacing
    /// `steps_offset`, added to leading timesteps.
    public var stepsOffset: Int
    /// DDIM and LCM: whether the step past the last one has alpha 1 (else `alphas_cumprod[0]`).
    public var setAlphaToOne: Bool
    /// Euler and DPM-Solver: Karras et al.'s sigma ramp instead of the spaced timesteps' sigmas.
    public var useKarrasSigmas: Bool
    /// LCM: the distillation's number of steps.
    public var originalInferenceSteps: Int
    /// LCM: the timestep scale of the consistency boundary condition.
    public var timestepScaling: Double

    /// Creates a configuration; the defaults are Stable Diffusion's.
    public init(trainTimesteps: Int = 1000, betaStart: Double = 0.00085, betaEnd: Double = 0.012,
                betaSchedule: BetaSchedule = .scaledLinear, predictionType: PredictionType = .epsilon,
                timestepSpacing: TimestepSpacing = .leading, stepsOffset: Int = 1, setAlphaToOne: Bool = false,
                useKarrasSigmas: Bool = false, originalInferenceSteps: Int = 50, timestepScaling: Double = 10) {
        self.trainTimesteps = trainTimesteps
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.betaSchedule = betaSchedule
        self.predictionType = predictionType
        self.timestepSpacing = timestepSpacing
        self.stepsOffset = stepsOffset
        self.setAlphaToOne = setAlphaToOne
        self.useKarrasSigmas = useKarrasSigmas
        self.originalInferenceSteps = originalInferenceSteps
        self.timestepScaling = timestepScaling
    }

    /// Stable Diffusion 1.x / 2.x / XL as their checkpoints ship it.
    public static let stableDiffusion = SchedulerConfiguration()
    /// SD-Turbo and SDXL-Turbo: trailing spacing, so one step starts at the last timestep.
    public static let turbo = SchedulerConfiguration(timestepSpacing: .trailing)

    /// Checks a step count against the configuration.
    /// - Throws: `ModelError(.invalidInput)` for counts below 1 or above the training timesteps.
    func validate(steps: Int) throws {
        guard trainTimesteps >= 2, trainTimesteps <= 100_000 else {
            throw ModelError(.invalidInput, "scheduler has \(trainTimesteps) training timesteps; expected 2...100000")
        }
        guard steps >= 1, steps <= trainTimesteps else {
            throw ModelError(.invalidInput, "num_inference_steps must be between 1 and \(trainTimesteps), got \(steps)", status: 422)
        }
    }
}

/// The training noise schedule in float32, bit for bit as diffusers builds it with torch.
struct NoiseSchedule: Sendable {
    /// `alphas_cumprod`.
    let alphasCumprod: [Float]
    /// `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` in float32, by training timestep.
    let sigmas: [Float]

    init(_ configuration: SchedulerConfiguration) {
        let n = configuration.trainTimesteps
        let betas: [Float]
        switch configuration.betaSchedule {
        case .scaledLinear:
            betas = Self.linspace(Float(configuration.betaStart.squareRoot()), Float(configuration.betaEnd.squareRoot()), n).map { $0 * $0 }
        case .linear:
            betas = Self.linspace(Float(configuration.betaStart), Float(configuration.betaEnd), n)
        }
        // torch's cumprod accumulates in double and rounds each prefix to float32.
        var product = 1.0
        alphasCumprod = betas.map { beta in
            product *= Double(1 - beta)
            return Float(product)
        }
        sigmas = alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
    }

    /// `torch.linspace(start, end, count, dtype=float32)` on the CPU: each half counted from its
    /// own end with one fused multiply-add.
    static func linspace(_ start: Float, _ end: Float, _ count: Int) -> [Float] {
        guard count > 1 else { return [start] }
        let step = (end - start) / Float(count - 1)
        return (0..<count).map { i in
            i < count / 2 ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(count - 1 - i))
        }
    }

    /// `np.interp(t, arange(n), sigmas)` in double.
    func interpolatedSigma(_ t: Double) -> Double {
        guard t > 0 else { return Double(sigmas[0]) }
        guard t < Double(sigmas.count - 1) else { return Double(sigmas[sigmas.count - 1]) }
        let low = Int(t.rounded(.down))
        let w = t - Double(low)
        let a = Double(sigmas[low]), b = Double(sigmas[low + 1])
        return a + (b - a) * w
    }

    /// diffusers' `_sigma_to_t`: the fractional training timestep of `sigma`, interpolated in log sigma.
    func timestep(forSigma sigma: Double) -> Double {
        let logSigmas = sigmas.map { Double(Foundation.log($0)) }
        let logSigma = Foundation.log(max(sigma, 1e-10))
        var low = 0
        for (i, value) in logSigmas.enumerated() where logSigma - value >= 0 { low = i }
        low = min(low, logSigmas.count - 2)
        let l = logSigmas[low], h = logSigmas[low + 1]
        let w = min(max((l - logSigma) / (l - h), 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }

    /// Karras et al.'s ramp (rho 7) from `maximum` down to `minimum` in `count` sigmas.
    static func karras(minimum: Double, maximum: Double, count: Int) -> [Double] {
        let rho = 7.0
        let minInv = Foundation.pow(minimum, 1 / rho), maxInv = Foundation.pow(maximum, 1 / rho)
        return (0..<count).map { i in
            let ramp = count == 1 ? 0 : Double(i) / Double(count - 1)
            return Foundation.pow(maxInv + ramp * (minInv - maxInv), rho)
        }
    }
}

/// The timestep spacings of diffusers' `set_timesteps`, in double before any cast.
enum Spacing {
    /// `np.arange(start, stop, step)` for a negative step.
    static func arange(from start: Double, downTo stop: Double, by step: Double) -> [Double] {
        let count = Int(((stop - start) / -step).rounded(.up))
        return (0..<max(0, count)).map { start - Double($0) * step }
    }

    /// `np.linspace(start, stop, count)` (endpoint included).
    static func linspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    /// The Euler schedulers' spacing (`num_inference_steps` timesteps, float).
    static func euler(_ c: SchedulerConfiguration, steps: Int) -> [Double] {
        let train = c.trainTimesteps
        switch c.timestepSpacing {
        case .linspace:
            return linspace(0, Double(train - 1), steps).reversed().map { Double(Float($0)) }
        case .leading:
            let ratio = train / steps
            return (0..<steps).reversed().map { Double($0 * ratio + c.stepsOffset) }
        case .trailing:
            let ratio = Double(train) / Double(steps)
            return arange(from: Double(train), downTo: 0, by: ratio).map { $0.rounded(.toNearestOrEven) - 1 }
        }
    }

    /// DDIM's spacing (integers).
    static func ddim(_ c: SchedulerConfiguration, steps: Int) -> [Double] {
        let train = c.trainTimesteps
        switch c.timestepSpacing {
        case .linspace:
            return linspace(0, Double(train - 1), steps).map { $0.rounded(.toNearestOrEven) }.reversed()
        case .leading:
            let ratio = train / steps
            return (0..<steps).reversed().map { Double($0 * ratio + c.stepsOffset) }
        case .trailing:
            let ratio = Double(train) / Double(steps)
            return arange(from: Double(train), downTo: 0, by: ratio).map { $0.rounded(.toNearestOrEven) - 1 }
        }
    }

    /// DPM-Solver's spacing (integers): `steps + 1` points with the last dropped.
    static func dpmSolver(_ c: SchedulerConfiguration, steps: Int) -> [Double] {
        let train = c.trainTimesteps
        switch c.timestepSpacing {
        case .linspace:
            return Array(linspace(0, Double(train - 1), steps + 1).map { $0.rounded(.toNearestOrEven) }.reversed().dropLast())
        case .leading:
            let ratio = train / (steps + 1)
            return Array((0...steps).reversed().map { Double($0 * ratio + c.stepsOffset) }.dropLast())
        case .trailing:
            let ratio = Double(train) / Double(steps)
            return arange(from: Double(train), downTo: 0, by: ratio).map { $0.rounded(.toNearestOrEven) - 1 }
        }
    }
}

extension SchedulerConfiguration {
    /// Reads diffusers' `scheduler/scheduler_config.json` (snake_case keys; absent keys keep
    /// Stable Diffusion's values).
    /// - Throws: `ModelError(.weightsInvalid)` naming a field with an unsupported value.
    public init(diffusersJSON data: Data) throws {
        // diffusers writes non-finite floats as bare `-Infinity` / `NaN` (DPM-Solver's
        // `lambda_min_clipped`), which JSON lacks: they become null, keeping the default.
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(
            of: #"(?<=[:\[,])\s*(-?Infinity|NaN)"#, with: "null", options: .regularExpression)
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw ModelError(.weightsInvalid, "scheduler config is not a JSON object")
        }
        self.init()
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
            guard let value = number(key) else { return nil }
            guard value.rounded() == value, value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
                throw ModelError(.weightsInvalid, "scheduler config: \(key) \(value) is outside \(range)")
            }
            return Int(value)
        }
        func choice<T: RawRepresentable>(_ key: String, _ type: T.Type) throws -> T? where T.RawValue == String {
            guard let raw = object[key] as? String else { return nil }
            guard let value = T(rawValue: raw) else { throw ModelError(.weightsInvalid, "scheduler config: \(key) \(raw) is not supported") }
            return value
        }
        if let v = try integer("num_train_timesteps", in: 2...100_000) { trainTimesteps = v }
        if let v = number("beta_start"), v > 0, v < 1 { betaStart = v }
        if let v = number("beta_end"), v > 0, v < 1 { betaEnd = v }
        if let v = try choice("beta_schedule", BetaSchedule.self) { betaSchedule = v }
        if let v = try choice("prediction_type", PredictionType.self) { predictionType = v }
        if let v = try choice("timestep_spacing", TimestepSpacing.self) { timestepSpacing = v }
        if let v = try integer("steps_offset", in: 0...1000) { stepsOffset = v }
        if let v = object["set_alpha_to_one"] as? Bool { setAlphaToOne = v }
        if let v = object["use_karras_sigmas"] as? Bool { useKarrasSigmas = v }
        if let v = try integer("original_inference_steps", in: 1...100_000) { originalInferenceSteps = v }
        if let v = number("timestep_scaling"), v.isFinite, v > 0 { timestepScaling = v }
    }
}
