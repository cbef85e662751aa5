import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Models
import Platform
import Runners
import Server
import TestSupport
import Testing

/// ONNX models registered by manifest alone, served through the queue API like the gallery.
@Suite("ONNX manifest models through the API")
struct ManifestServingTests {
    /// The fixture manifests of the ONNX tests (tiny real ONNX graphs, goldens from onnxruntime).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ONNXTests/Goldens/manifests", isDirectory: true)

    @Test("a manifest-only image model validates input, runs, stores its PNG and lists its schema")
    func servesManifestModels() async throws {
        let scan = try ManifestDirectory.scan(directory: Self.fixtures.appendingPathComponent("models.d"))
        #expect(scan.errors.isEmpty, "\(scan.errors)")
        #expect(scan.models.map(\.manifest.endpointID).contains("local/tiny-filter"))
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: scan.models,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        let png = try Data(contentsOf: Self.fixtures.appendingPathComponent("tiny-filter-input.png"))
        try await h.test { client in
            // The generated schema refuses a wrong type with fal's 422 shape, naming the field.
            let bad = try await client.send(.post, "/queue/local/tiny-filter", json: ["image_url": 7])
            #expect(bad.status == .unprocessableContent)
            #expect(try bad.json["detail"]?.arrayValue?.first?["loc"] == ["body", "image_url"])
            let missing = try await client.send(.post, "/queue/local/tiny-filter", json: [:])
            #expect(missing.status == .unprocessableContent)

            let uri = "data:image/png;base64," + png.base64EncodedString()
            let submit = try await client.send(.post, "/queue/local/tiny-filter", json: ["image_url": .string(uri)])
            #expect(submit.status == .ok)
            let id = try #require(try submit.json["request_id"]?.stringValue)
            let job = try await h.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .completed, "\(String(describing: job.result?.errorMessage))")
            let result = try await client.send(.get, "/queue/local/tiny-filter/requests/\(id)").json
            let image = try #require(result["image"])
            #expect(image["content_type"] == "image/png")
            #expect(image["width"]?.intValue ?? 0 > 0)
            let url = try #require(image["url"]?.stringValue)
            let file = try await client.execute(uri: pathOf(url), method: .get)
            #expect(file.status == .ok)
            #expect(Array(file.body.readableBytesView.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])

            let openAPI = try await client.send(.get, "/models/local/tiny-filter/openapi.json")
            #expect(openAPI.status == .ok)
            #expect(openAPI.text.contains("image_url"))
        }
    }
}
