import Foundation
import ModelKit

/// Registers every manifest in a directory (e.g. `$PEREGRINE_HOME/models.d/`): ONNX manifests
/// and Stable Diffusion endpoints (``StableDiffusionManifest``).
public enum ManifestDirectory {
    /// What a scan found: the models that registered and, per file, the ones that did not.
    public struct Scan: Sendable {
        /// Models ready to add to the gallery, in file-name order.
        public var models: [ONNXManifestModel]
        /// Stable Diffusion endpoints (three per manifest), in file-name order.
        public var diffusion: [StableDiffusionModel] = []
        /// One error per manifest that failed, naming its file and field.
        public var errors: [ManifestError]
        /// Every model that registered.
        public var all: [any Model] { models + diffusion }
    }

    /// Reads every `*.json` file directly in `directory` as an ONNX manifest; one bad file does
    /// not stop the others.
    /// - Parameters:
    ///   - directory: the folder to scan (not recursive); a missing folder scans as empty.
    ///   - checkingGraph: import each ONNX file now (see ``ONNXManifestModel/init(contentsOf:checkingGraph:)``).
    /// - Returns: the models and the per-file errors.
    /// - Throws: only when the folder exists but cannot be listed.
    public static func scan(directory: URL, checkingGraph: Bool = true) throws -> Scan {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory) else { return Scan(models: [], errors: []) }
        guard isDirectory.boolValue else {
            throw ManifestError(field: nil, "\(directory.path) is not a directory")
        }
        let names = try fm.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        var scan = Scan(models: [], errors: [])
        var endpoints: [String: String] = [:]
        for name in names {
            do {
                let url = directory.appendingPathComponent(name)
                if let sd = try StableDiffusionModel.manifest(at: url) {
                    let models = sd.models
                    for id in models.map(\.manifest.endpointID) {
                        if let other = endpoints[id] {
                            throw ManifestError(field: "endpoint_id", "'\(id)' is already registered by \(other)", file: name)
                        }
                    }
                    for id in models.map(\.manifest.endpointID) { endpoints[id] = name }
                    scan.diffusion += models
                    continue
                }
                let model = try ONNXManifestModel(contentsOf: url, checkingGraph: checkingGraph)
                if let other = endpoints[model.definition.endpointID] {
                    throw ManifestError(field: "endpoint_id", "'\(model.definition.endpointID)' is already registered by \(other)", file: name)
                }
                endpoints[model.definition.endpointID] = name
                scan.models.append(model)
            } catch let error as ManifestError {
                scan.errors.append(error.file == nil ? error.inFile(name) : error)
            }
        }
        return scan
    }

    /// The models of every valid manifest in `directory`, failing on the first bad one.
    /// - Throws: ``ManifestError`` naming the file and field of the first manifest that does not
    ///   register (all of them are reported by ``scan(directory:checkingGraph:)``).
    public static func load(directory: URL) throws -> [any Model] {
        let result = try scan(directory: directory)
        if let first = result.errors.first { throw first }
        return result.all
    }
}
