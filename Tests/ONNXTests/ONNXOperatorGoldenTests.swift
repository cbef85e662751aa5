import Foundation
import Testing
@testable import ModelFormats

/// Every supported operator, in small graphs built with the `onnx` package, against onnxruntime.
@Suite struct ONNXOperatorGoldenTests {
    /// Bound on |peregrine - onnxruntime| relative to the magnitude of the expected value.
    static let tolerance: Float = 2e-5

    @Test func goldensExist() {
        #expect(Goldens.operatorCases().count >= 100)
    }

    @Test(arguments: Goldens.operatorCases())
    func operatorMatchesOnnxruntime(_ name: String) throws {
        let dir = Goldens.directory.appendingPathComponent("ops").appendingPathComponent(name)
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx").path)
        let inputs = try Goldens.tensors(in: dir, prefix: "input")
        let expected = try Goldens.tensors(in: dir, prefix: "output")
        let feeds = Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) })
        let result = try model.run(feeds)
        #expect(result.count == expected.count)
        for (i, output) in model.outputs.enumerated() {
            let got = try #require(result[output.name])
            let want = expected[i].tensor
            #expect(got.elementType == want.elementType, "\(name) output \(i) type")
            let scale = max(1, want.floats.map(abs).max() ?? 1)
            let diff = try #require(Goldens.maxAbsDifference(got, want), "\(name): \(got) vs \(want)")
            #expect(diff <= Self.tolerance * scale, "\(name) output \(i): max abs error \(diff)")
        }
    }
}
