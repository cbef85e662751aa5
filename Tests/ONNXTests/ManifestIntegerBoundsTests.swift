import Foundation
import Kernels
@testable import ModelFormats
import ModelKit
@testable import Models
import Testing

/// Integer request fields that feed integer graph inputs: values beyond what the element type
/// holds are 422s, never a trapping conversion, and manifests cannot state such bounds.
@Suite struct ManifestIntegerBoundsTests {
    /// A graph `y = Cast(n, float)` whose input `n` has element type `elementType` (7 int64, 6 int32).
    private func castGraph(elementType: Int32) throws -> ONNXModel {
        var cast = ONNXTestGraph.node("Cast", ["n"], ["y"])
        var to = ONNX.AttributeProto()
        to.name = "to"
        to.kind = .int
        to.i = 1
        cast.attributes = [to]
        var proto = ONNXTestGraph.model(inputs: ["n"], outputs: ["y"], nodes: [cast])
        proto.graph.inputs[0].elementType = elementType
        return try ONNXModel(model: proto)
    }

    /// A manifest with one `integer` input named `count` (no bounds unless given) and a tensor output.
    private func manifest(_ extra: [String: JSONValue] = [:], kind: String = "integer") throws -> ONNXManifest {
        var input: [String: JSONValue] = ["kind": .string(kind), "tensor": "n", "field": "count", "shape": [1]]
        if kind == "constant" { input["field"] = nil }
        input.merge(extra) { $1 }
        return try ONNXManifest(json: [
            "format": "peregrine.onnx-manifest/1", "endpoint_id": "local/counter", "title": "Counter", "license": "MIT",
            "model": ["file": "counter.onnx"],
            "inputs": [.object(input)],
            "outputs": [["kind": "tensor", "tensor": "y", "field": "value"]],
        ])
    }

    private func loaded(_ definition: ONNXManifest, elementType: Int32) throws -> LoadedONNXManifestModel {
        let model = try castGraph(elementType: elementType)
        let types = try ManifestBinding.check(definition, model: model)
        return LoadedONNXManifestModel(definition: definition, model: model, types: types, footprintBytes: 0, pool: ComputePool(threads: 1))
    }

    /// Validates `body` against the generated schema, then runs the model on it.
    private func run(_ model: LoadedONNXManifestModel, _ body: JSONValue) async throws -> JSONValue {
        let input = try SchemaValidator(schema: model.definition.inputSchema).validate(body)
        return try await model.run(input: input, context: ManifestRunContext())
    }

    @Test func inRangeIntegerReachesTheGraph() async throws {
        let model = try loaded(try manifest(), elementType: 7)
        let out = try await run(model, ["count": 42])
        #expect(out["value"]?["data"] == [42.0])
    }

    @Test(arguments: [1e300, -1e300, 9.3e18])
    func hugeIntegerIsRejectedBySchema(value: Double) async throws {
        let model = try loaded(try manifest(), elementType: 7)
        let error = try #require(throws: SchemaValidationError.self) { try SchemaValidator(schema: model.definition.inputSchema).validate(["count": .double(value)]) }
        #expect(error.issues.map(\.type) == ["type_error.integer"])
    }

    @Test(arguments: [1e300, -1e300, 9.3e18])
    func hugeIntegerIsAnInvalidInputWhenRunDirectly(value: Double) async throws {
        // Callers that skip the schema (the model's own checks are the last line).
        let model = try loaded(try manifest(), elementType: 7)
        let error = try await #require(throws: ModelError.self) {
            _ = try await model.run(input: ["count": .double(value)], context: ManifestRunContext())
        }
        #expect(error.code == .invalidInput && error.status == 422 && error.field == ["body", "count"])
    }

    @Test func int32InputRejectsValuesBeyondInt32() async throws {
        let model = try loaded(try manifest(), elementType: 6)
        let error = try await #require(throws: ModelError.self) { _ = try await run(model, ["count": 4_294_967_296]) }
        #expect(error.code == .invalidInput && error.field == ["body", "count"])
        #expect(error.message.contains("2147483647"))
        let out = try await run(model, ["count": -7])
        #expect(out["value"]?["data"] == [-7.0])
    }

    @Test func manifestBoundsBeyondInt64AreRejected() throws {
        #expect(throws: ManifestError.self) { _ = try manifest(["maximum": 1e300]) }
        #expect(throws: ManifestError.self) { _ = try manifest(["minimum": -1e19]) }
        #expect(throws: ManifestError.self) { _ = try manifest(["default": 1e20]) }
        // Integral doubles that fit are fine and appear in the schema as JSON integers.
        let fits = try manifest(["maximum": 1e15])
        #expect(fits.inputSchema["properties"]?["count"]?["maximum"] == 1_000_000_000_000_000)
    }

    @Test func constantBeyondTheElementTypeFailsAtBinding() throws {
        let definition = try manifest(["values": [1e300]], kind: "constant")
        let error = try #require(throws: ManifestError.self) {
            _ = try ManifestBinding.check(definition, model: try castGraph(elementType: 7))
        }
        #expect(error.field == "inputs[0].values[0]")
        let int32 = try manifest(["values": [3e9]], kind: "constant")
        #expect(throws: ManifestError.self) { _ = try ManifestBinding.check(int32, model: try castGraph(elementType: 6)) }
    }
}
