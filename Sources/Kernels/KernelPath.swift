import CKernels
import Foundation

/// What the running CPU offers the kernels, read once from cpuid (and the OS's register-state
/// support), with the CPU's model name for logs and benchmark reports.
public struct CPUFeatures: Sendable, Hashable {
    /// The CPU's brand string (e.g. "AMD EPYC 9R45 ..."), or "unknown" when it reports none.
    public let modelName: String
    /// AVX2 and FMA.
    public let avx2: Bool
    /// AVX-512 F, BW, VL and DQ.
    public let avx512: Bool
    /// AVX512-BF16 (`vdpbf16ps`).
    public let avx512BF16: Bool
    /// AMX tiles with bf16, granted by the OS.
    public let amx: Bool

    /// Creates a feature set (tests use this to check ``KernelPath`` selection for other CPUs).
    public init(modelName: String, avx2: Bool, avx512: Bool, avx512BF16: Bool, amx: Bool) {
        self.modelName = modelName
        self.avx2 = avx2
        self.avx512 = avx512
        self.avx512BF16 = avx512BF16
        self.amx = amx
    }

    /// The running CPU.
    public static let current: CPUFeatures = {
        let f = pg_detect_cpu()
        var name = [CChar](repeating: 0, count: 49)
        pg_cpu_model_name(&name)
        let brand = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
        return CPUFeatures(modelName: brand.isEmpty ? "unknown" : brand, avx2: f.avx2_fma != 0,
                           avx512: f.avx512f != 0, avx512BF16: f.avx512bf16 != 0, amx: pg_amx_available() != 0)
    }()
}

/// The family of convolution kernels a process uses, best first. `.bf16` precision runs on AMX
/// tiles or AVX512-BF16 dot products; on the other paths it runs fp32.
///
/// Chosen once per process from cpuid (``detected``). `PEREGRINE_KERNEL_PATH` (one of the raw
/// values) forces a path for tests and benchmarks; a value that is unknown or that this CPU cannot
/// run is ignored, so the override can never select an instruction the CPU lacks.
public enum KernelPath: String, Sendable, CaseIterable {
    /// AMX bf16 tiles for `.bf16`; AVX-512 Winograd/SGEMM for fp32.
    case amx
    /// AVX512-BF16 dot products for `.bf16`; AVX-512 Winograd/SGEMM for fp32.
    case avx512bf16
    /// AVX-512 fp32 only (`.bf16` runs fp32).
    case avx512
    /// AVX2 + FMA SGEMM only (no Winograd).
    case avx2
    /// Plain C only.
    case portable

    /// The environment variable that forces a path.
    public static let environmentKey = "PEREGRINE_KERNEL_PATH"

    /// Whether a CPU with `features` can run this path.
    public func isSupported(by features: CPUFeatures) -> Bool {
        switch self {
        case .amx: features.amx && features.avx512BF16
        case .avx512bf16: features.avx512BF16 && features.avx512
        case .avx512: features.avx512
        case .avx2: features.avx2
        case .portable: true
        }
    }

    /// Whether `.bf16` precision computes in bf16 on this path (for the layers
    /// ``bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)`` gives it).
    public var computesBF16: Bool { self == .amx || self == .avx512bf16 }

    /// Whether a `.bf16` layer runs the bf16 kernel on this path rather than fp32, so that `.bf16`
    /// is never slower than fp32.
    ///
    /// - AMX: every layer the tiles take; they beat fp32 Winograd F(4x4, 3x3) by a wide margin.
    /// - AVX512-BF16: only layers that fp32 would not run with Winograd. `vdpbf16ps` only doubles
    ///   the multiply rate of an fp32 FMA, while Winograd F(4x4, 3x3) does 4x fewer multiplies:
    ///   on an AMD EPYC (Zen 5) a 64->64 3x3 layer ran 188 effective GFLOP/s per core as bf16 dot
    ///   products against 330 as fp32 Winograd (1.6-2x the time at 256², 2 threads), and
    ///   realesr-animevideov3 (all 3x3) ran 1.17-1.49x slower in bf16 than in fp32. bf16
    ///   Winograd is not an option: its transforms in bf16 gave 2.2% error per layer. Measured
    ///   on the same CPU (64 channels, 256², 2 threads): a 5x5 layer (fp32 im2col + SGEMM) is
    ///   2-3x faster in bf16; a 1x1 layer on its own is no faster (fp32 needs no im2col there,
    ///   bf16 pays the conversion to bf16 NHWC and back), so it stays fp32 unless `chained`; a
    ///   chain of four 1x1 layers is 1.8-3.6x faster in bf16.
    /// - Other paths have no bf16 kernel.
    /// - Parameters:
    ///   - winogradEligible: whether the fp32 path runs the layer with Winograd
    ///     (``Conv2D/runsWinograd``).
    ///   - pointwise: whether the layer is 1x1.
    ///   - chained: whether the layer runs inside a multi-layer ``ConvolutionChain`` (bf16
    ///     activations to and from its neighbours) rather than on its own.
    public func bf16KernelBeatsFP32(winogradEligible: Bool, pointwise: Bool = false, chained: Bool = true) -> Bool {
        switch self {
        case .amx: true
        case .avx512bf16: !winogradEligible && (chained || !pointwise)
        case .avx512, .avx2, .portable: false
        }
    }

    /// What a model at a precision computes with, and on which CPU, for load logs and benchmark
    /// JSON: e.g. `amx/bf16 on ...`, `avx512bf16/bf16 (3x3 layers fp32 Winograd) on AMD EPYC
    /// 9R45` (see ``bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)``), or `avx512/fp32 on ...` where
    /// bf16 was asked for on a CPU without a bf16 path.
    public func summary(bf16Requested: Bool, cpu: CPUFeatures = .current) -> String {
        let precision = switch (bf16Requested && computesBF16, self) {
        case (false, _): "fp32"
        case (true, .avx512bf16): "bf16 (3x3 layers fp32 Winograd)"
        case (true, _): "bf16"
        }
        return "\(rawValue)/\(precision) on \(cpu.modelName)"
    }

    /// The best path for `features`.
    public static func best(for features: CPUFeatures) -> KernelPath {
        allCases.first { $0.isSupported(by: features) } ?? .portable
    }

    /// The path for `features` given an override value (the environment's, or nil): the
    /// override when it names a path the CPU supports, otherwise the best path.
    public static func resolve(override: String?, features: CPUFeatures) -> KernelPath {
        if let raw = override?.trimmingCharacters(in: .whitespaces).lowercased(),
           let forced = KernelPath(rawValue: raw), forced.isSupported(by: features) {
            return forced
        }
        return best(for: features)
    }

    /// The best path this CPU supports.
    public static let detected = best(for: .current)

    /// The path this process uses: ``detected`` unless `PEREGRINE_KERNEL_PATH` forces another
    /// one the CPU supports.
    public static let current = resolve(override: ProcessInfo.processInfo.environment[environmentKey],
                                        features: .current)

}
