import Foundation
import Graph
import ModelKit
import Models
import Server

/// The models the binary serves: the engine's gallery, ONNX models registered by manifest and
/// models served by external runner processes. Every command that serves or runs models takes
/// them from here, so adding a family is one line.
enum ShippedModels {
    /// The gallery first, then ONNX manifests, then external runners; an endpoint id that is
    /// already taken is reported on stderr and the later model skipped.
    static func all(configuration: ServerConfiguration) -> [any Model] {
        let candidates = EngineModels.all(precision: configuration.enginePrecision)
            + ONNXManifestModels.all(configuration: configuration)
            + ExternalRunnerModels.all(configuration: configuration)
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

extension ServerConfiguration {
    /// Convolution precision from `PEREGRINE_PRECISION` (`fp32`, the default, or `bf16`).
    var enginePrecision: ComputePrecision {
        ProcessInfo.processInfo.environment["PEREGRINE_PRECISION"] == "bf16" ? .bf16 : .fp32
    }
}
