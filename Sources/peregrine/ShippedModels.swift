import Foundation
import Graph
import Kernels
import ModelKit
import Models
import Platform
import Server

/// The models the binary serves: the engine's gallery, ONNX models registered by manifest and
/// models served by external runner processes. Every command that serves or runs models takes
/// them from here, so adding a family is one line.
enum ShippedModels {
    /// The gallery first, then ONNX manifests, then external runners; an endpoint id that is
    /// already taken is reported on stderr and the later model skipped.
    /// - Throws: `ConfigurationError` when `PEREGRINE_PRECISION` does not parse.
    static func all(configuration: ServerConfiguration) throws -> [any Model] {
        let precision = try EnginePrecisions(parsing: ProcessInfo.processInfo.environment["PEREGRINE_PRECISION"] ?? "")
        // Engine models are cheap until loaded: build the gallery at both precisions and take
        // each model at the precision chosen for its endpoint.
        let fp32 = try EngineModels.all(precision: .fp32)
        let bf16 = try EngineModels.all(precision: .bf16)
        let engine = zip(fp32, bf16).map { precision.for($0.0.manifest.endpointID) == .bf16 ? $0.1 : $0.0 }
        // Stable Diffusion endpoints registered by `models add` take their precision the same way.
        let manifests = ONNXManifestModels.all(configuration: configuration).map { model -> any Model in
            guard var diffusion = model as? StableDiffusionModel else { return model }
            diffusion.precision = precision.for(diffusion.manifest.endpointID)
            return diffusion
        }
        let candidates = engine + manifests + ExternalRunnerModels.all(configuration: configuration)
        var seen = Set<String>()
        return candidates.filter { model in
            let id = model.manifest.endpointID
            guard seen.insert(id).inserted else {
                FileHandle.standardError.write(Data("peregrine: skipping a second model for endpoint '\(id)'\n".utf8))
                return false
            }
            return true
        }
    }
}

/// The convolution precision of each engine model, from `PEREGRINE_PRECISION`: `fp32` (the
/// default) or `bf16` for every model, or a comma-separated list of `ENDPOINT=PRECISION`
/// entries, where a bare precision sets the default for the others, e.g.
/// `peregrine/realesr-animevideov3=bf16,peregrine/video-upscale=bf16`. bf16 runs the
/// convolutions on AMX tiles where the CPU has them (PSNR ≥ 45 dB against fp32, tested).
struct EnginePrecisions: Equatable {
    var fallback: ComputePrecision = .fp32
    var byEndpoint: [String: ComputePrecision] = [:]

    /// - Throws: `ConfigurationError` naming the entry that does not parse.
    init(parsing text: String) throws {
        func precision(_ name: Substring) throws -> ComputePrecision {
            switch name.trimmingCharacters(in: .whitespaces).lowercased() {
            case "fp32": return .fp32
            case "bf16": return .bf16
            default: throw ConfigurationError("PEREGRINE_PRECISION: '\(name)' is not a precision (fp32 or bf16)")
            }
        }
        for entry in text.split(separator: ",") where !entry.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 1 {
                fallback = try precision(parts[0])
            } else {
                let endpoint = parts[0].trimmingCharacters(in: .whitespaces)
                guard !endpoint.isEmpty else { throw ConfigurationError("PEREGRINE_PRECISION: '\(entry)' names no endpoint") }
                byEndpoint[endpoint] = try precision(parts[1])
            }
        }
    }

    /// The precision of one endpoint.
    func `for`(_ endpoint: String) -> ComputePrecision { byEndpoint[endpoint] ?? fallback }
}
