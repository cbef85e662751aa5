import Foundation
import Graph
import ModelKit
import Models
import Server

/// The models the binary serves: the engine's gallery. Every command that serves or runs models
/// takes them from here, so adding a family is one line.
enum ShippedModels {
    static func all(configuration: ServerConfiguration) -> [any Model] {
        EngineModels.all(precision: configuration.enginePrecision) + ExternalRunnerModels.all(configuration: configuration)
    }
}

extension ServerConfiguration {
    /// Convolution precision from `PEREGRINE_PRECISION` (`fp32`, the default, or `bf16`).
    var enginePrecision: ComputePrecision {
        ProcessInfo.processInfo.environment["PEREGRINE_PRECISION"] == "bf16" ? .bf16 : .fp32
    }
}
