import Foundation
import ModelKit
import Models
import Platform
import Server

/// Models registered by manifest alone (ONNX, docs/onnx-manifests.md; Stable Diffusion, written
/// by `peregrine models add`), from the manifests
/// directory: `$PEREGRINE_MODEL_MANIFESTS`, else `<home>/models.d`.
enum ONNXManifestModels {
    /// The manifests directory for `configuration`.
    static func directory(configuration: ServerConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["PEREGRINE_MODEL_MANIFESTS"], !dir.isEmpty { return URL(fileURLWithPath: dir, isDirectory: true) }
        return configuration.home.appendingPathComponent("models.d", isDirectory: true)
    }

    /// One model per manifest that registers; each one that does not is reported on stderr with
    /// its file and field, and skipped, so one broken file does not take the gallery down.
    static func all(configuration: ServerConfiguration) -> [any Model] {
        let dir = directory(configuration: configuration)
        do {
            let scan = try ManifestDirectory.scan(directory: dir)
            for error in scan.errors {
                FileHandle.standardError.write(Data("peregrine: skipping manifest: \(error)\n".utf8))
            }
            return scan.all
        } catch {
            FileHandle.standardError.write(Data("peregrine: cannot read manifests in \(dir.path): \(error)\n".utf8))
            return []
        }
    }
}
