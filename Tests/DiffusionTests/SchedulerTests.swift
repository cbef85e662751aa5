import Foundation
import ModelKit
import Testing
@testable import Models

@Suite("Schedulers")
struct SchedulerTests {
    struct Golden: Decodable {
        struct Case: Decodable, CustomTestStringConvertible {
            var scheduler: String
            var spacing: String
            var prediction: String
            var karras: Bool
            var steps: Int
            var seed: UInt64
            var timesteps: [Float]
            var sigmas: [Float]?
            var init_noise_sigma: Float
            var samples: [[Float]]
            var testDescription: String { "\(scheduler) \(spacing) \(prediction)\(karras ? " karras" : "") \(steps) steps" }
        }
        var shape: [Int]
        var alphas_cumprod_bits: [UInt32]
        var cases: [Case]
    }

    static let golden: Golden = {
        do {
            return try JSONDecoder().decode(Golden.self, from: DiffusionFixtures.golden("schedulers.json"))
        } catch {
            fatalError("schedulers.json: \(error)")
        }
    }()

    static func make(_ c: Golden.Case) throws -> any Scheduler {
        let configuration = SchedulerConfiguration(
            predictionType: try #require(PredictionType(rawValue: c.prediction)),
            timestepSpacing: try #require(TimestepSpacing(rawValue: c.spacing)), useKarrasSigmas: c.karras)
        switch c.scheduler {
        case "euler": return try EulerDiscreteScheduler(configuration: configuration, steps: c.steps)
        case "euler_ancestral": return try EulerAncestralDiscreteScheduler(configuration: configuration, steps: c.steps)
        case "dpmsolver++2m": return try DPMSolverMultistepScheduler(configuration: configuration, steps: c.steps)
        case "ddim": return try DDIMScheduler(configuration: configuration, steps: c.steps)
        case "lcm": return try LCMScheduler(configuration: configuration, steps: c.steps)
        default: throw ModelError(.invalidInput, "unknown scheduler \(c.scheduler)")
        }
    }

    /// Within `1e-5` of the reference, relative to the larger of 1 and the reference's magnitude.
    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test("the SD noise schedule equals diffusers' float32 alphas_cumprod bit for bit")
    func alphasCumprod() {
        let schedule = NoiseSchedule(.stableDiffusion)
        #expect(schedule.alphasCumprod.map(\.bitPattern) == Self.golden.alphas_cumprod_bits)
    }

    @Test("timesteps, sigmas and every step's sample match diffusers", arguments: golden.cases)
    func matchesDiffusers(_ c: Golden.Case) throws {
        var scheduler = try Self.make(c)
        #expect(scheduler.timesteps.count == c.steps)
        #expect(Self.close(scheduler.timesteps, c.timesteps), "timesteps \(scheduler.timesteps) vs \(c.timesteps)")
        #expect(Self.close(scheduler.sigmas, c.sigmas ?? []), "sigmas \(scheduler.sigmas) vs \(c.sigmas ?? [])")
        #expect(Self.close([scheduler.initNoiseSigma], [c.init_noise_sigma]))
        let count = Self.golden.shape.reduce(1, *)
        var generator = TorchGenerator(seed: c.seed)
        var model = TorchGenerator(seed: c.seed + 1000)
        var latents = generator.randn(count: count).map { $0 * scheduler.initNoiseSigma }
        for (k, t) in scheduler.timesteps.enumerated() {
            let x = scheduler.scaleModelInput(latents)
            let output = zip(x, model.randn(count: count)).map { 0.5 * $0 + 0.5 * $1 }
            latents = scheduler.step(modelOutput: output, timestep: t, sample: latents, generator: &generator)
            #expect(Self.close(latents, c.samples[k]), "step \(k): \(latents.prefix(4)) vs \(c.samples[k].prefix(4))")
        }
    }

    @Test("step counts out of range are 4xx errors", arguments: [0, -1, 1001, Int.max])
    func badStepCounts(steps: Int) {
        #expect(throws: ModelError.self) { try EulerDiscreteScheduler(configuration: .stableDiffusion, steps: steps) }
        #expect(throws: ModelError.self) { try DPMSolverMultistepScheduler(configuration: .stableDiffusion, steps: steps) }
        #expect(throws: ModelError.self) { try DDIMScheduler(configuration: .stableDiffusion, steps: steps) }
        #expect(throws: ModelError.self) { try LCMScheduler(configuration: .stableDiffusion, steps: steps) }
        #expect(throws: ModelError.self) { try EulerAncestralDiscreteScheduler(configuration: .turbo, steps: steps) }
    }

    @Test("LCM refuses more steps than its distillation grid")
    func lcmGrid() throws {
        #expect(throws: ModelError.self) { try LCMScheduler(configuration: .stableDiffusion, steps: 51) }
        #expect(try LCMScheduler(configuration: .stableDiffusion, steps: 50).timesteps.count == 50)
    }
}

@Suite("Sampler")
struct SamplerTests {
    @Test("classifier-free guidance is u + s·(c − u) in float32")
    func guidance() {
        let u: [Float] = [0, 1, -2, 0.1, 3e-8]
        let c: [Float] = [1, 1, 2, -0.3, 1]
        let mixed = classifierFreeGuidance(unconditional: u, conditional: c, scale: 7.5)
        #expect(mixed == [7.5, 1, 28, -2.9, 3e-8 + 7.5 * (1 - 3e-8)])
        #expect(classifierFreeGuidance(unconditional: u, conditional: c, scale: 0) == u)
    }

    @Test("the loop feeds the scaled input and timestep to the denoiser and reports every step")
    func loop() throws {
        var scheduler = try EulerDiscreteScheduler(configuration: .stableDiffusion, steps: 4)
        var reference = scheduler
        var generator = TorchGenerator(seed: 7)
        let latents = generator.randn(count: 32).map { $0 * scheduler.initNoiseSigma }
        var seen: [Float] = []
        var reports: [Int] = []
        let denoise: ([Float], Float) -> [Float] = { input, t in input.map { $0 * 0.25 + t * 1e-4 } }
        let result = runSampler(&scheduler, latents: latents, generator: &generator, denoise: { input, t in
            seen.append(t)
            return denoise(input, t)
        }, progress: { report in
            reports.append(report.step)
            #expect(report.stepCount == 4)
            return .proceed
        })
        #expect(seen == reference.timesteps)
        #expect(reports == [1, 2, 3, 4])
        var sample = latents
        var unused = TorchGenerator(seed: 0)
        for t in reference.timesteps {
            sample = reference.step(modelOutput: denoise(reference.scaleModelInput(sample), t), timestep: t, sample: sample, generator: &unused)
        }
        guard case .finished(let final) = result else {
            Issue.record("sampler stopped")
            return
        }
        #expect(final == sample)
    }

    @Test("a stop from the callback ends the run before the next denoiser call")
    func stop() throws {
        var scheduler = try DPMSolverMultistepScheduler(configuration: .stableDiffusion, steps: 10)
        var generator = TorchGenerator(seed: 1)
        var calls = 0
        let result = runSampler(&scheduler, latents: [Float](repeating: 0.5, count: 16), generator: &generator,
                                denoise: { input, _ in calls += 1; return input },
                                progress: { $0.step == 3 ? .stop : .proceed })
        guard case .stopped(let after) = result else {
            Issue.record("sampler did not stop")
            return
        }
        #expect(after == 3)
        #expect(calls == 3)
        #expect(scheduler.stepIndex == 3)
    }

    @Test("a stop after the last step still returns the finished latents")
    func stopAtEnd() throws {
        var scheduler = try LCMScheduler(configuration: .stableDiffusion, steps: 2)
        var generator = TorchGenerator(seed: 1)
        let result = runSampler(&scheduler, latents: [Float](repeating: 0.5, count: 16), generator: &generator,
                                denoise: { input, _ in input }, progress: { $0.step == 2 ? .stop : .proceed })
        guard case .finished(let latents) = result else {
            Issue.record("a stop after the last step discarded the result")
            return
        }
        #expect(latents.count == 16)
    }
}
