import Foundation
import JobQueue
import ModelKit
import Testing

@testable import peregrine

@Suite("peregrine models scale")
struct ScaleCommandTests {
    @Test("flags become the admin API's PATCH body; --reset sends null; no flag sends nothing (a read)")
    func patchBody() throws {
        let scale = try ModelsCommand.Scale.parse([
            "peregrine/waifu2x", "--keep-alive", "30", "--min-concurrency", "1", "--max-concurrency", "3", "--buffer", "2",
            "--startup-timeout", "90", "--reset", "min_concurrency",
        ])
        let body = try #require(scale.patch.objectValue)
        #expect(body["keep_alive"]?.doubleValue == 30)
        #expect(body["min_concurrency"]?.intValue == 1)  // an explicit value wins over --reset
        #expect(body["max_concurrency"]?.intValue == 3)
        #expect(body["concurrency_buffer"]?.intValue == 2)
        #expect(body["startup_timeout"]?.doubleValue == 90)
        let reset = try ModelsCommand.Scale.parse(["peregrine/waifu2x", "--reset", "keep_alive"])
        #expect(reset.patch.objectValue?["keep_alive"] == .null)
        #expect(try ModelsCommand.Scale.parse(["peregrine/waifu2x"]).patch.objectValue?.isEmpty == true)
    }

    @Test("--offline writes the settings table of the home directory, checked like the API")
    func offline() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-scale-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        var command = try ModelsCommand.Scale.parse(["peregrine/waifu2x", "--offline", "--home", home.path, "--max-concurrency", "2"])
        try await command.run()
        let store = SQLiteModelSettingsStore(database: try SQLiteDatabase(path: home.appendingPathComponent("peregrine.sqlite").path))
        #expect(try await store.override(for: "peregrine/waifu2x") == ModelSettingsOverride(maxConcurrency: 2))
        command = try ModelsCommand.Scale.parse(["peregrine/waifu2x", "--offline", "--home", home.path, "--min-concurrency", "5"])
        await #expect(throws: (any Error).self) { try await command.run() }
        #expect(try await store.override(for: "peregrine/waifu2x") == ModelSettingsOverride(maxConcurrency: 2))
    }
}
