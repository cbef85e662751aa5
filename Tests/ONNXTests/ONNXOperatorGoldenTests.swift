import Testing
@testable import ModelFormats

/// The operator goldens: small graphs built with the `onnx` package and run by onnxruntime
/// (``ONNXGraphGoldenTests`` runs each through the engine graph).
@Suite struct ONNXOperatorGoldenTests {
    /// Bound on |peregrine - onnxruntime| relative to the magnitude of the expected value.
    static let tolerance: Float = 2e-5

    @Test func goldensExist() {
        #expect(Goldens.operatorCases().count >= 100)
    }
}
