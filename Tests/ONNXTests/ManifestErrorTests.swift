import Foundation
import Kernels
import ModelKit
@testable import Models
import Testing

/// Manifests that must not register, each failing with an error that names the field (or the
/// node and op), never a crash.
@Suite struct ManifestErrorTests {
    private func registrationError(_ manifest: [String: JSONValue]) throws -> ManifestError? {
        do {
            _ = try ONNXManifestModel(contentsOf: try ManifestFixtures.write(.object(manifest)))
            return nil
        } catch let error as ManifestError {
            return error
        }
    }

    @Test func validBaseManifestRegisters() throws {
        #expect(try registrationError(ManifestFixtures.filterManifest()) == nil)
    }

    @Test func unsupportedOperatorNamesNodeAndOp() throws {
        var m = ManifestFixtures.filterManifest()
        m["model"] = ["file": .string(ManifestFixtures.directory.appendingPathComponent("unsupported-op.onnx").path)]
        let error = try #require(try registrationError(m))
        #expect(error.field == "model.file")
        #expect(error.message.contains("Hardmax") && error.message.contains("odd_one"), "\(error)")
        #expect(error.file == "model.json")
    }

    @Test(arguments: [
        ("colour", "inputs", "colour"),
        ("resize_mode", "inputs[0]", "inputs[0].resize_mode"),
        ("rgb", "outputs[0]", "outputs[0].rgb"),
        ("hash", "model", "model.hash"),
    ])
    func unknownFieldIsNamed(key: String, at place: String, expected: String) throws {
        var m = ManifestFixtures.filterManifest()
        switch place {
        case "inputs[0]": m["inputs"] = [.object(["kind": "image", "tensor": "image", key: "x"])]
        case "outputs[0]": m["outputs"] = [.object(["kind": "image", "tensor": "output", "field": "image", key: "x"])]
        case "model": m["model"] = .object(["file": m["model"]!["file"]!, key: "x"])
        default: m[key] = "x"
        }
        let error = try #require(try registrationError(m))
        #expect(error.field == expected && error.message == "unknown field", "\(error)")
    }

    @Test func unknownValueListsTheAllowedOnes() throws {
        var m = ManifestFixtures.filterManifest()
        m["inputs"] = [["kind": "image", "tensor": "image", "range": "percent"]]
        let error = try #require(try registrationError(m))
        #expect(error.field == "inputs[0].range")
        #expect(error.message.contains("percent") && error.message.contains("symmetric"))

        m = ManifestFixtures.filterManifest()
        m["inputs"] = [["kind": "picture", "tensor": "image"]]
        #expect(try registrationError(m)?.field == "inputs[0].kind")

        m = ManifestFixtures.filterManifest()
        m["format"] = "peregrine.onnx-manifest/9"
        #expect(try registrationError(m)?.field == "format")
    }

    @Test func unmappedGraphInputIsNamed() throws {
        var m = ManifestFixtures.filterManifest()
        m["model"] = ["file": .string(ManifestFixtures.directory.appendingPathComponent("tiny-generator.onnx").path)]
        m["inputs"] = [["kind": "seed_noise", "tensor": "noise", "shape": [1, 4, 8, 8]]]
        m["outputs"] = [["kind": "image", "tensor": "image", "field": "image"]]
        let error = try #require(try registrationError(m))
        #expect(error.field == "inputs")
        #expect(error.message.contains("'strength'"), "\(error)")
    }

    @Test func unknownTensorNamesListTheGraphs() throws {
        var m = ManifestFixtures.filterManifest()
        m["inputs"] = [["kind": "image", "tensor": "img"]]
        var error = try #require(try registrationError(m))
        #expect(error.field == "inputs[0].tensor" && error.message.contains("'image'"))

        m = ManifestFixtures.filterManifest()
        m["outputs"] = [["kind": "image", "tensor": "out", "field": "image"]]
        error = try #require(try registrationError(m))
        #expect(error.field == "outputs[0].tensor" && error.message.contains("'output'"))
    }

    @Test func shapeMismatchesNameTheField() throws {
        var m = ManifestFixtures.filterManifest()
        m["model"] = ["file": .string(ManifestFixtures.directory.appendingPathComponent("tiny-generator.onnx").path)]
        m["inputs"] = [
            ["kind": "seed_noise", "tensor": "noise", "shape": [1, 4, 8, 9]],
            ["kind": "number", "tensor": "strength", "field": "strength"],
        ]
        m["outputs"] = [["kind": "image", "tensor": "image", "field": "image"]]
        var error = try #require(try registrationError(m))
        #expect(error.field == "inputs[0].shape" && error.message.contains("[1, 4, 8, 8]"), "\(error)")

        m["inputs"] = [
            ["kind": "seed_noise", "tensor": "noise", "shape": [1, 4, 8, 8]],
            ["kind": "number", "tensor": "strength", "field": "strength"],
        ]
        m["outputs"] = [["kind": "image", "tensor": "image", "field": "image", "channels": "gray"]]
        error = try #require(try registrationError(m))
        #expect(error.field == "outputs[0].channels", "\(error)")

        m = ManifestFixtures.filterManifest()
        m["inputs"] = [["kind": "image", "tensor": "image", "channels": "gray"]]
        error = try #require(try registrationError(m))
        #expect(error.field == "inputs[0].channels", "\(error)")
    }

    @Test func inconsistentEntriesAreRejected() throws {
        var m = ManifestFixtures.filterManifest()
        m["inputs"] = [["kind": "image", "tensor": "image", "mean": [0.5, 0.5]]]
        #expect(try registrationError(m)?.field == "inputs[0].mean")

        m = ManifestFixtures.filterManifest()
        m["outputs"] = [["kind": "image", "tensor": "output", "field": "image", "format": "jpeg", "bit_depth": 16]]
        #expect(try registrationError(m)?.field == "outputs[0].bit_depth")

        m = ManifestFixtures.filterManifest()
        m["outputs"] = [["kind": "image", "tensor": "output", "field": "timings"]]
        #expect(try registrationError(m)?.field == "outputs[0].field")

        m = ManifestFixtures.filterManifest()
        m["inputs"] = [["kind": "image", "tensor": "image"], ["kind": "constant", "tensor": "c", "shape": [65536, 65536], "values": [0]]]
        #expect(try registrationError(m)?.field == "inputs[1].shape")

        m = ManifestFixtures.filterManifest()
        m["endpoint_id"] = "no-owner"
        #expect(try registrationError(m)?.field == "endpoint_id")

        m = ManifestFixtures.filterManifest()
        m["model"] = ["file": "missing.onnx"]
        #expect(try registrationError(m)?.field == "model.file")
    }

    @Test func wrongChecksumFailsAtLoad() async throws {
        var m = ManifestFixtures.filterManifest()
        m["model"] = ["file": m["model"]!["file"]!, "sha256": .string(String(repeating: "0", count: 64))]
        let model = try ONNXManifestModel(contentsOf: try ManifestFixtures.write(.object(m)))
        await #expect {
            _ = try await model.load(context: LoadContext(modelDirectory: ManifestFixtures.directory, pool: ComputePool(threads: 1)))
        } throws: { error in
            let e = error as? ModelError
            return e?.code == .weightsInvalid && e?.message.contains("model.sha256") == true
        }
    }

    @Test func scanReportsEachBadFileAndKeepsTheGoodOnes() throws {
        let good = try ManifestFixtures.write(.object(ManifestFixtures.filterManifest()), name: "a-good.json")
        let dir = good.deletingLastPathComponent()
        try Data("{ not json".utf8).write(to: dir.appendingPathComponent("b-bad.json"))
        var duplicate = ManifestFixtures.filterManifest()
        duplicate["title"] = "Again"
        try JSONValue.object(duplicate).encoded().write(to: dir.appendingPathComponent("c-duplicate.json"))
        try Data("ignored".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        let scan = try ManifestDirectory.scan(directory: dir)
        #expect(scan.models.map(\.definition.title) == ["Broken"])
        #expect(scan.errors.map(\.file) == ["b-bad.json", "c-duplicate.json"])
        #expect(scan.errors.last?.field == "endpoint_id")
        #expect(throws: ManifestError.self) { try ManifestDirectory.load(directory: dir) }
    }
}
