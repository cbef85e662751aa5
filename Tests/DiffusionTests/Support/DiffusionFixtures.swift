import Foundation

/// Paths shared by the diffusion component tests.
enum DiffusionFixtures {
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The committed goldens written by `scripts/diffusion/make_*_goldens.py`.
    static let goldenDirectory = repositoryRoot.appendingPathComponent("Tests/DiffusionTests/Goldens")
    /// The cache the other test targets pull weights into.
    static let modelDirectory = repositoryRoot.appendingPathComponent(".peregrine-test/models")

    static func golden(_ name: String) throws -> Data {
        try Data(contentsOf: goldenDirectory.appendingPathComponent(name))
    }
}
