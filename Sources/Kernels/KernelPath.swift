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

    /// Whether `.bf16` precision computes in bf16 on this path.
    public var computesBF16: Bool { self == .amx || self == .avx512bf16 }

    /// What a model at a precision computes with, and on which CPU, for load logs: e.g.
    /// `avx512bf16/bf16 on AMD EPYC 9R45`, or `avx512/fp32 on ...` where bf16 was asked for on a
    /// CPU without a bf16 path.
    public func summary(bf16Requested: Bool, cpu: CPUFeatures = .current) -> String {
        "\(rawValue)/\(bf16Requested && computesBF16 ? "bf16" : "fp32") on \(cpu.modelName)"
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
