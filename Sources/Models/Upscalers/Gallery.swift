import Foundation
import ModelKit

/// The upscalers the binary ships, as manifests (`Sources/Models/Gallery/*.json`, bundled as
/// resources and read once at start).
public enum Gallery {
    /// Every shipped upscaler manifest, in file-name order.
    /// - Throws: ``ManifestError`` naming the file and field when a shipped manifest does not
    ///   parse, or when the resources are missing.
    public static func upscalers() throws -> [UpscalerManifest] {
        try parsed.get()
    }

    /// The shipped upscaler with this endpoint id.
    /// - Throws: ``ManifestError`` when the gallery does not parse or has no such endpoint.
    public static func upscaler(_ endpointID: String) throws -> UpscalerManifest {
        guard let found = try upscalers().first(where: { $0.endpointID == endpointID }) else {
            throw ManifestError(field: "endpoint_id", "the gallery has no upscaler '\(endpointID)'")
        }
        return found
    }

    /// Parsed once per process.
    private static let parsed: Result<[UpscalerManifest], ManifestError> = Result { try read() }.mapError {
        $0 as? ManifestError ?? ManifestError(field: nil, "\($0)")
    }

    private static func read() throws -> [UpscalerManifest] {
        guard let directory = Bundle.module.url(forResource: "Gallery", withExtension: nil) else {
            throw ManifestError(field: nil, "the gallery manifests are missing from the Models resources")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
            .sorted { $0.dropLast(5) < $1.dropLast(5) }
        return try names.map { name in
            do {
                let data = try Data(contentsOf: directory.appendingPathComponent(name))
                return try UpscalerManifest(json: try JSONDecoder().decode(JSONValue.self, from: data))
            } catch let error as ManifestError {
                throw error.file == nil ? error.inFile(name) : error
            } catch {
                throw ManifestError(field: nil, "\(error)", file: name)
            }
        }
    }
}
