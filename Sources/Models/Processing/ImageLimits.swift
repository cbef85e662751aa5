import Foundation

/// Pixel limits of the image models (upscalers and ONNX manifest models), with defaults; each
/// can be set from the environment (`PEREGRINE_IMAGE_*`) so that a deployment sizes them
/// without code. A file within the upload size limit can still declare a huge image, and a
/// scaling model multiplies whatever it is given: both are checked before pixel memory is
/// allocated.
public struct ImageLimits: Sendable, Equatable {
    /// Largest accepted input image in pixels, checked on the file's header before decoding.
    /// `PEREGRINE_IMAGE_MAX_INPUT_PIXELS` (default 4096 × 4096).
    public var maxInputPixels: Int
    /// Largest image a model produces in pixels, checked before the run (scale × input).
    /// `PEREGRINE_IMAGE_MAX_OUTPUT_PIXELS` (default 64 Mi).
    public var maxOutputPixels: Int
    /// Most values in one tensor output of a manifest model. Each becomes a JSON number in the
    /// result, tens of bytes in memory, and a graph's output can grow with the input image.
    /// `PEREGRINE_IMAGE_MAX_TENSOR_VALUES` (default 4 Mi).
    public var maxTensorOutputValues: Int

    /// Limits with defaults.
    public init(maxInputPixels: Int = 4096 * 4096, maxOutputPixels: Int = 64 * 1024 * 1024,
                maxTensorOutputValues: Int = 4 * 1024 * 1024) {
        self.maxInputPixels = maxInputPixels
        self.maxOutputPixels = maxOutputPixels
        self.maxTensorOutputValues = maxTensorOutputValues
    }

    /// Defaults overridden by `PEREGRINE_IMAGE_*` variables of `environment` (positive integers;
    /// anything else keeps the default).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Self {
        var limits = Self()
        func positive(_ name: String) -> Int? { environment[name].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } }
        if let v = positive("PEREGRINE_IMAGE_MAX_INPUT_PIXELS") { limits.maxInputPixels = v }
        if let v = positive("PEREGRINE_IMAGE_MAX_OUTPUT_PIXELS") { limits.maxOutputPixels = v }
        if let v = positive("PEREGRINE_IMAGE_MAX_TENSOR_VALUES") { limits.maxTensorOutputValues = v }
        return limits
    }

    /// `width × height × scale²` when it is at most `maxOutputPixels`, else `nil` (overflow included).
    func outputPixels(width: Int, height: Int, scale: Int) -> Int? {
        var product = 1
        for factor in [width, height, scale, scale] {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            guard !overflow, factor >= 0 else { return nil }
            product = next
        }
        return product <= maxOutputPixels ? product : nil
    }
}
