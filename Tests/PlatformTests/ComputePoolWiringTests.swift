import Foundation
import ModelKit
import Runners
import Platform
import Testing

/// A model that only states its core demand (it is never loaded).
private struct DemandModel: Model {
    let id: String
    let demand: ComputeDemand
    var manifest: ModelManifest {
        ModelManifest(endpointID: id, category: "image-to-image", displayName: id, description: "",
                      inputSchema: ["type": "object"], outputSchema: ["type": "object"], schemaName: "Demand",
                      computeDemand: demand)
    }
    func load(context: LoadContext) async throws -> any LoadedModel { throw ModelError(.internalError, "not loaded in this test") }
}

@Suite("One compute pool")
struct ComputePoolWiringTests {
    private static func configuration(threads: Int?) -> ServerConfiguration {
        var c = ServerConfiguration()
        c.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        c.authEnabled = false
        c.computeThreads = threads
        return c
    }

    private static let models: [any Model] = [
        DemandModel(id: "t/whole", demand: .wholePool), DemandModel(id: "t/one", demand: .cores(1)),
        DemandModel(id: "t/none", demand: .none), DemandModel(id: "t/huge", demand: .cores(99)),
    ]

    @Test("the composition root sizes the pool from --threads and residency budgets its cores per model")
    func platformSizesPoolAndBudgetsCores() throws {
        let platform = try EmbeddedPlatform(configuration: Self.configuration(threads: 3), models: Self.models)
        defer { try? FileManager.default.removeItem(at: platform.configuration.home) }
        #expect(platform.pool.compute.threads == 3)
        let residency = platform.pool.residencySnapshot
        #expect(residency.coreCapacity == 3)
        #expect(residency.models["t/whole"]?.settings.cores == 3)
        #expect(residency.models["t/one"]?.settings.cores == 1)
        #expect(residency.models["t/none"]?.settings.cores == 0)
        #expect(residency.models["t/huge"]?.settings.cores == 3)
    }

    @Test("the core capacity can be set apart from the pool's threads")
    func coreCapacityOverride() throws {
        let platform = try EmbeddedPlatform(configuration: Self.configuration(threads: 2), models: Self.models,
                                            runnerConfiguration: RunnerConfiguration(coreCapacity: 6))
        defer { try? FileManager.default.removeItem(at: platform.configuration.home) }
        #expect(platform.pool.compute.threads == 2)
        #expect(platform.pool.residencySnapshot.coreCapacity == 6)
    }

    @Test("PEREGRINE_THREADS is read, and counts outside 1...1024 are refused")
    func threadsConfiguration() throws {
        var c = ServerConfiguration()
        try c.apply(environment: ["PEREGRINE_THREADS": "4"])
        #expect(c.computeThreads == 4)
        #expect(throws: ConfigurationError.self) { try c.apply(environment: ["PEREGRINE_THREADS": "four"]) }
        for bad in [0, 1025] {
            c.computeThreads = bad
            #expect(throws: ConfigurationError.self) { try c.validate() }
        }
    }
}
