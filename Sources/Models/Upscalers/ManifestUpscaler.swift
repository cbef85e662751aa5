import Foundation
import Graph
import Kernels
import ModelKit
import Weights

/// An ncnn image upscaler served from its ``UpscalerManifest``: the manifest says everything
/// (endpoint, options, networks, tiling and padding); this type only loads and runs it.
public struct ManifestUpscaler: Model {
    /// The manifest.
    public let definition: UpscalerManifest
    /// Precision of the convolutions.
    public var precision: ComputePrecision

    /// - Parameters:
    ///   - definition: the parsed manifest.
    ///   - precision: precision of the convolutions.
    public init(_ definition: UpscalerManifest, precision: ComputePrecision = .fp32) {
        self.definition = definition
        self.precision = precision
    }

    public var manifest: ModelManifest {
        var extra: [String: JSONValue] = [:]
        var order: [String] = []
        if let noise = definition.noiseLevels {
            extra["noise_level"] = [
                "type": "integer", "title": "Noise Level", "minimum": .int(Int64(noise.minimum)), "maximum": .int(Int64(noise.maximum)),
                "default": .int(Int64(noise.defaultValue)), "description": .string(noise.description),
            ]
            order.append("noise_level")
        }
        if let choice = definition.networkChoice {
            extra["model"] = [
                "type": "string", "title": "Model", "enum": .array(choice.names.map { .string($0) }),
                "default": .string(choice.defaultValue), "description": .string(choice.description),
            ]
            order.append("model")
        }
        return ModelManifest(
            endpointID: definition.endpointID, version: definition.version, category: definition.category,
            displayName: definition.title, description: definition.description,
            inputSchema: UpscalerSchema.input(scales: definition.scales, defaultScale: definition.defaultScale, extra: extra, order: order),
            outputSchema: UpscalerSchema.output, schemaName: definition.schemaName,
            weights: WeightsCatalog.all.first { $0.name == definition.weightsPackage }?.weightsFiles ?? [],
            memoryEstimateBytes: definition.memoryEstimateBytes, maxConcurrency: definition.maxConcurrency,
            computeDemand: .wholePool, determinism: .deterministic)
    }

    /// The kernel path and precision on this CPU (the same for every upscale it runs).
    public var computePath: String { KernelPath.current.summary(bf16Requested: precision == .bf16) }

    /// Prepares the default network (so a broken file fails the load, not the first request).
    /// - Throws: `ModelError` `.weightsMissing` / `.weightsInvalid`.
    public func load(context: LoadContext) async throws -> any LoadedModel {
        let definition = self.definition
        let loaded = LoadedUpscaler(
            modelDirectory: context.modelDirectory, pool: try context.computePool(), precision: precision,
            scales: definition.scales, defaultScale: definition.defaultScale,
            defaultModel: definition.networkChoice?.defaultValue ?? "") { request in
                try definition.variant(for: request)
            }
        try await loaded.prepare(try definition.variant(
            scale: definition.defaultScale, noiseLevel: definition.noiseLevels?.defaultValue, model: definition.networkChoice?.defaultValue))
        return loaded
    }
}

extension UpscalerManifest {
    /// The network for a parsed request.
    func variant(for request: UpscaleRequest) throws -> UpscalerVariant {
        try variant(scale: request.scale, noiseLevel: noiseLevels == nil ? nil : request.noiseLevel,
                    model: networkChoice == nil ? nil : request.modelName)
    }
}
