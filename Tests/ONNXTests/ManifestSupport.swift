import Foundation
import Kernels
import ModelKit
@testable import Models

/// A RunContext for manifest models: `file://` inputs are read from disk, stored files are kept
/// in memory, progress reports are recorded.
final class ManifestRunContext: RunContext, @unchecked Sendable {
    private let lock = NSLock()
    private var files: [String: Data] = [:]
    private var reports: [ModelKit.Progress] = []

    var isCancelled: Bool { false }
    var progressReports: [ModelKit.Progress] { lock.withLock { reports } }

    /// The bytes stored under a file name.
    func stored(_ fileName: String) -> Data? { lock.withLock { files[fileName] } }

    func progress(_ progress: ModelKit.Progress) { lock.withLock { reports.append(progress) } }
    func log(_ message: String, level: LogLevel) {}

    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        guard let u = URL(string: url), u.isFileURL, let data = FileManager.default.contents(atPath: u.path) else {
            throw ModelError(.fileDownloadError, "cannot read \(url)", field: ["body", field])
        }
        return FetchedFile(data: data, contentType: nil, fileName: u.lastPathComponent)
    }

    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        lock.withLock { files[fileName] = data }
        return StoredFile(url: "memory:\(fileName)", contentType: contentType, fileName: fileName, fileSize: data.count)
    }
}

/// The manifest fixtures written by scripts/onnx/make_manifest_fixtures.py.
enum ManifestFixtures {
    static let directory = Goldens.directory.appendingPathComponent("manifests")
    static let models = directory.appendingPathComponent("models.d")

    static func json(_ name: String) throws -> JSONValue {
        try JSONValue(parsing: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// Writes `manifest` as `name` into a fresh temporary directory and returns the file.
    static func write(_ manifest: JSONValue, name: String = "model.json") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pg-manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try manifest.encoded(pretty: true).write(to: url)
        return url
    }

    /// A valid manifest of the tiny filter, by absolute path, to be broken by a test.
    static func filterManifest() -> [String: JSONValue] {
        [
            "format": "peregrine.onnx-manifest/1", "endpoint_id": "local/broken", "title": "Broken", "license": "MIT",
            "model": ["file": .string(directory.appendingPathComponent("tiny-filter.onnx").path)],
            "inputs": [["kind": "image", "tensor": "image"]],
            "outputs": [["kind": "image", "tensor": "output", "field": "image"]],
        ]
    }

    /// Runs a manifest model on a request validated against its generated schema.
    static func run(_ model: ONNXManifestModel, _ body: JSONValue, context: ManifestRunContext) async throws -> JSONValue {
        let input = try SchemaValidator(schema: model.manifest.inputSchema).validate(body)
        let loaded = try await model.load(context: LoadContext(modelDirectory: directory, pool: ComputePool(threads: 2)))
        return try await loaded.run(input: input, context: context)
    }
}
