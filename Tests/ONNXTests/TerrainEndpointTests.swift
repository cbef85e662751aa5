import Foundation
import Kernels
import Media
import ModelKit
@testable import Models
import Testing
import Weights

/// A RunContext that writes stored files into a temporary directory and keeps what the model
/// reported; `cancelled` makes every cancellation check fail.
final class TerrainRunContext: RunContext, @unchecked Sendable {
    let directory: URL
    private let lock = NSLock()
    private var files: [(data: Data, contentType: String, url: URL)] = []
    private var reports: [ModelKit.Progress] = []
    private let cancelled: Bool

    init(cancelled: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-terrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.cancelled = cancelled
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var stored: [(data: Data, contentType: String, url: URL)] { lock.withLock { files } }
    var progressReports: [ModelKit.Progress] { lock.withLock { reports } }
    var isCancelled: Bool { cancelled }

    func progress(_ progress: ModelKit.Progress) { lock.withLock { reports.append(progress) } }
    func log(_ message: String, level: LogLevel) {}

    func fetch(_ url: String, field: String) async throws -> FetchedFile {
        throw ModelError(.fileDownloadError, "the terrain model takes no files", field: ["body", field])
    }

    func store(_ data: Data, contentType: String, fileName: String) async throws -> StoredFile {
        let url = directory.appendingPathComponent("\(UUID().uuidString)-\(fileName)")
        try data.write(to: url)
        lock.withLock { files.append((data, contentType, url)) }
        return StoredFile(url: url.absoluteString, contentType: contentType, fileName: fileName, fileSize: data.count)
    }
}

/// Pulls the weights with ModelPuller into `<repo>/.peregrine-test/models` and loads the model once.
enum TerrainEndpoint {
    static let modelDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".peregrine-test/models")

    static let loaded = Task { () throws -> any LoadedModel in
        try await ModelPuller(modelDirectory: modelDirectory).pull(WeightsCatalog.terrainDiffusion)
        return try await TerrainDiffusion().load(context: LoadContext(modelDirectory: modelDirectory, pool: ComputePool(threads: 2)))
    }

    /// Runs the endpoint on `body` after validating it against the manifest's schema.
    static func run(_ body: JSONValue, context: TerrainRunContext) async throws -> JSONValue {
        let input = try SchemaValidator(schema: TerrainDiffusion().manifest.inputSchema).validate(body)
        return try await loaded.value.run(input: input, context: context)
    }
}

@Suite(.serialized) struct TerrainEndpointTests {
    @Test func sameSeedGivesIdenticalBytes() async throws {
        let a = try TerrainRunContext(), b = try TerrainRunContext()
        let outA = try await TerrainEndpoint.run(["seed": 7, "difficulty": 0.3], context: a)
        let outB = try await TerrainEndpoint.run(["seed": 7, "difficulty": 0.3], context: b)
        #expect(outA["seed"]?.intValue == 7 && outB["seed"]?.intValue == 7)
        #expect(a.stored.count == 2)
        #expect(a.stored.map(\.data) == b.stored.map(\.data))
    }

    @Test func differentSeedsDiffer() async throws {
        let a = try TerrainRunContext(), b = try TerrainRunContext()
        _ = try await TerrainEndpoint.run(["seed": 7], context: a)
        _ = try await TerrainEndpoint.run(["seed": 8], context: b)
        #expect(a.stored[0].data != b.stored[0].data)
        #expect(a.stored[1].data != b.stored[1].data)
    }

    @Test func heightmapIsSixteenBitGrayAndPreviewIsRGB() async throws {
        let ctx = try TerrainRunContext()
        let out = try await TerrainEndpoint.run(["seed": 11, "difficulty": 0.9], context: ctx)
        let image = try #require(out["images"]?.arrayValue?.first)
        let preview = try #require(out["previews"]?.arrayValue?.first)
        #expect(image["width"]?.intValue == 128 && image["height"]?.intValue == 128)
        #expect(image["content_type"]?.stringValue == "image/png" && preview["content_type"]?.stringValue == "image/png")
        #expect(out["timings"]?["inference"]?.doubleValue.map { $0 > 0 } == true)

        let stored = ctx.stored
        #expect(image["url"]?.stringValue == stored[0].url.absoluteString)
        let heightmap = try Image.decode(try Data(contentsOf: stored[0].url))
        #expect(heightmap.width == 128 && heightmap.height == 128)
        #expect(heightmap.channels == 1 && heightmap.bitDepth == .sixteen)
        guard case .uint16(let samples) = heightmap.samples else { Issue.record("not 16-bit"); return }
        // The lowest point is 0 m; a terrain is not flat, so it uses more than one level.
        #expect(samples.min() == 0)
        #expect(Set(samples).count > 256)

        let relief = try Image.decode(try Data(contentsOf: stored[1].url))
        #expect(relief.width == 128 && relief.height == 128)
        #expect(relief.channels == 3 && relief.bitDepth == .eight)
    }

    @Test func severalImagesShareTheSeedStream() async throws {
        let one = try TerrainRunContext(), two = try TerrainRunContext()
        _ = try await TerrainEndpoint.run(["seed": 5], context: one)
        let out = try await TerrainEndpoint.run(["seed": 5, "num_images": 2], context: two)
        #expect(out["images"]?.arrayValue?.count == 2 && out["previews"]?.arrayValue?.count == 2)
        // Image 0 uses the first draws of the stream, whatever the count; image 1 the next ones.
        #expect(two.stored[0].data == one.stored[0].data)
        #expect(two.stored[2].data != two.stored[0].data)
        #expect(two.progressReports.compactMap(\.step).prefix(2) == [1, 2])
    }

    @Test func seedIsChosenAndReturnedWhenAbsent() async throws {
        let ctx = try TerrainRunContext(), again = try TerrainRunContext()
        let out = try await TerrainEndpoint.run([:], context: ctx)
        let seed = try #require(out["seed"]?.intValue)
        _ = try await TerrainEndpoint.run(["seed": .int(seed)], context: again)
        #expect(ctx.stored.map(\.data) == again.stored.map(\.data))
    }

    @Test func difficultyConditionsTheTerrain() async throws {
        let easy = try TerrainRunContext(), hard = try TerrainRunContext()
        _ = try await TerrainEndpoint.run(["seed": 3, "difficulty": 0], context: easy)
        _ = try await TerrainEndpoint.run(["seed": 3, "difficulty": 1], context: hard)
        #expect(easy.stored[0].data != hard.stored[0].data)
    }

    @Test func unvalidatedSeedOutOfRangeIsAnInputError() async throws {
        let model = try await TerrainEndpoint.loaded.value
        let ctx = try TerrainRunContext()
        do {
            _ = try await model.run(input: ["seed": -1, "difficulty": 0.5, "num_images": 1, "num_inference_steps": 1], context: ctx)
            Issue.record("a negative seed was accepted")
        } catch let error as ModelError {
            #expect(error.code == .invalidInput && error.status == 422 && error.field == ["body", "seed"])
        }
        #expect(ctx.stored.isEmpty)
    }

    @Test func cancelledRequestStopsBeforeTheNetwork() async throws {
        let ctx = try TerrainRunContext(cancelled: true)
        await #expect(throws: CancellationError.self) {
            _ = try await TerrainEndpoint.run(["seed": 1], context: ctx)
        }
        #expect(ctx.stored.isEmpty)
    }

    @Test func schemaRejectsOutOfRangeParameters() throws {
        let validator = SchemaValidator(schema: TerrainDiffusion().manifest.inputSchema)
        #expect(throws: SchemaValidationError.self) { try validator.validate(["difficulty": 1.5]) }
        #expect(throws: SchemaValidationError.self) { try validator.validate(["num_images": 5]) }
        #expect(throws: SchemaValidationError.self) { try validator.validate(["num_inference_steps": 2]) }
        #expect(throws: SchemaValidationError.self) { try validator.validate(["seed": -1]) }
        let filled = try validator.validate([:])
        #expect(filled["difficulty"]?.doubleValue == 0.5)
        #expect(filled["num_images"]?.intValue == 1 && filled["num_inference_steps"]?.intValue == 1)
        #expect(filled["sync_mode"]?.boolValue == false)
    }

    @Test func registryServesTheModel() throws {
        let model = try #require(try EngineModels.all().first { $0.manifest.endpointID == "peregrine/terrain-diffusion" })
        #expect(model.manifest.category == "text-to-image")
        #expect(model.manifest.weights.map(\.sha256) == ["95be54b4a39d58320e187a7ec533351c957f16a00be58773c86074828ee67887"])
        #expect(ModelPuller.package(named: "peregrine/terrain-diffusion") == WeightsCatalog.terrainDiffusion)
    }

    @Test func noiseIsStandardNormal() {
        var noise = TerrainNoise(seed: 42)
        let x = noise.normals(count: 1 << 16).map(Double.init)
        let mean = x.reduce(0, +) / Double(x.count)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count)
        // Standard errors are 1/256 for the mean and about 1/181 for the variance.
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.03)
        var same = TerrainNoise(seed: 42)
        #expect(same.normals(count: 8).map(\.bitPattern) == x.prefix(8).map { Float($0).bitPattern })
    }
}
