import Foundation
import Kernels
import ModelFormats
import ModelKit
import Weights

/// A gallery model defined by an ONNX manifest alone (``ONNXManifest``): the graph runs on the
/// engine's ONNX importer, and the manifest's vocabulary does the pre- and post-processing.
public struct ONNXManifestModel: Model {
    /// The parsed manifest.
    public let definition: ONNXManifest
    /// The ONNX file, resolved against the manifest's directory.
    public let modelURL: URL
    /// Input and output pixel limits of image inputs (`PEREGRINE_IMAGE_*`).
    public var imageLimits: ImageLimits = .fromEnvironment()

    /// Reads a manifest file and checks it against its graph.
    /// - Parameters:
    ///   - url: the manifest (`*.json`).
    ///   - checkingGraph: import the ONNX file now (operators, inputs, outputs and declared
    ///     shapes against the manifest) so that a bad manifest fails at registration; pass false
    ///     to defer every graph check to ``load(context:)``.
    /// - Throws: ``ManifestError`` naming the file and the field (or the node and op the
    ///   importer does not support).
    public init(contentsOf url: URL, checkingGraph: Bool = true) throws {
        let name = url.lastPathComponent
        do {
            let data = try Data(contentsOf: url)
            let json: JSONValue
            do { json = try JSONValue(parsing: data) } catch {
                throw ManifestError(field: nil, "not valid JSON: \(error)")
            }
            try self.init(definition: try ONNXManifest(json: json), baseDirectory: url.deletingLastPathComponent(),
                          checkingGraph: checkingGraph)
        } catch let error as ManifestError {
            throw error.inFile(name)
        } catch {
            throw ManifestError(field: nil, "cannot read the manifest: \(error.localizedDescription)", file: name)
        }
    }

    /// A model from an already parsed manifest.
    /// - Parameters:
    ///   - definition: the manifest.
    ///   - baseDirectory: what a relative `model.file` is resolved against.
    ///   - checkingGraph: as in ``init(contentsOf:checkingGraph:)``.
    /// - Throws: ``ManifestError``.
    public init(definition: ONNXManifest, baseDirectory: URL, checkingGraph: Bool = true) throws {
        self.definition = definition
        modelURL = definition.modelFile.hasPrefix("/")
            ? URL(fileURLWithPath: definition.modelFile)
            : baseDirectory.appendingPathComponent(definition.modelFile)
        if checkingGraph { _ = try importGraph() }
    }

    /// The gallery entry generated from the manifest.
    public var manifest: ModelManifest {
        let size = (try? FileManager.default.attributesOfItem(atPath: modelURL.path)[.size] as? Int) ?? 0
        return ModelManifest(
            endpointID: definition.endpointID, version: definition.version, category: definition.category,
            displayName: definition.title, description: definition.description,
            inputSchema: definition.inputSchema, outputSchema: definition.outputSchema, schemaName: definition.schemaName,
            weights: [WeightsFile(path: modelURL.path, source: definition.source ?? "manifest:\(definition.modelFile)",
                                  sha256: definition.sha256 ?? "", license: definition.license)],
            // Weights, packed copies and activations: three times the file is a fair first guess.
            memoryEstimateBytes: definition.memoryEstimateBytes ?? max(64 << 20, 3 * size),
            maxConcurrency: definition.maxConcurrency, computeDemand: .wholePool)
    }

    /// Reads, verifies (sha256 when given) and imports the ONNX file, checks it against the
    /// manifest, and plans the graph once when the manifest fixes every input shape.
    /// - Throws: `ModelError` `.weightsMissing` (503) when the file is absent, `.weightsInvalid`
    ///   naming the manifest field, node or op otherwise.
    public func load(context: LoadContext) async throws -> any LoadedModel {
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw ModelError(.weightsMissing, "\(definition.endpointID): the ONNX file \(modelURL.path) does not exist")
        }
        let definition = self.definition
        let pool = try context.computePool()
        return try await pool.execute {
            do {
                if let expected = definition.sha256 {
                    let actual = try FileDigest.sha256(ofFile: modelURL)
                    guard actual == expected else {
                        throw ManifestError(field: "model.sha256", "the file's sha256 is \(actual), the manifest says \(expected)")
                    }
                }
                let (model, types) = try importGraph()
                let loaded = LoadedONNXManifestModel(definition: definition, model: model, types: types,
                                                     footprintBytes: Self.footprint(model), pool: pool, limits: imageLimits)
                if let shapes = loaded.fixedShapes() { _ = try loaded.plans.plan(for: shapes) }
                return loaded
            } catch let error as ManifestError {
                throw ModelError(.weightsInvalid, "\(definition.endpointID): \(error)")
            } catch let error as ModelFormatError {
                throw ModelError(.weightsInvalid, "\(definition.endpointID): \(modelURL.lastPathComponent): \(error)")
            }
        }
    }

    /// Imports the graph and checks it against the manifest.
    private func importGraph() throws -> (ONNXModel, [String: ONNX.DataType]) {
        let model: ONNXModel
        do {
            model = try ONNXModel(contentsOf: modelURL.path)
        } catch let error as ModelFormatError {
            throw ManifestError(field: "model.file", "\(definition.modelFile): \(error.message)")
        } catch {
            throw ManifestError(field: "model.file", "\(definition.modelFile): \(error)")
        }
        return (model, try ManifestBinding.check(definition, model: model))
    }

    private static func footprint(_ model: ONNXModel) -> Int {
        model.initializers.values.reduce(0) { $0 + $1.count * max(1, $1.elementType.byteSize) }
    }
}
