import Foundation
import ModelKit
@testable import Models
import Testing

@Suite("Manifest format field")
struct ManifestFormatTests {
    @Test("an ONNX manifest says format onnx, or the version string manifests carried before formats had names")
    func onnxFormatNames() throws {
        for format in ["onnx", "peregrine.onnx-manifest/1"] {
            var manifest = ManifestFixtures.filterManifest()
            manifest["format"] = .string(format)
            #expect(try ONNXManifest(json: .object(manifest)).endpointID == "local/broken")
        }
    }

    @Test("a format that is not ONNX, or no format at all, is an error naming the field",
          arguments: ["ncnn", "safetensors", "tflite", "ONNX", ""])
    func otherFormatsRejected(format: String) {
        var manifest = ManifestFixtures.filterManifest()
        manifest["format"] = .string(format)
        #expect { try ONNXManifest(json: .object(manifest)) } throws: { ($0 as? ManifestError)?.field == "format" }
    }

    @Test("the format enum reads exactly its three names")
    func formatEnum() {
        #expect(ModelFormat.allCases.map(\.rawValue) == ["ncnn", "onnx", "safetensors"])
        #expect(ModelFormat(rawValue: "Onnx") == nil)
    }
}
