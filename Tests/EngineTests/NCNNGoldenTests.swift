import Foundation
import Graph
import Kernels
import ModelFormats
import Models
import Tensor
import Testing

/// Every shipped ncnn model against the official ncnn runtime's fp32 output (goldens written by
/// scripts/make_ncnn_goldens.py). Weights are pulled with the real puller on first use.
@Suite("ncnn goldens")
struct NCNNGoldenTests {
    /// Runs a golden's model on its image (with its edge padding) and returns the output.
    static func run(_ golden: GoldenFile, precision: ComputePrecision) async throws -> Tensor {
        let h = golden.header
        guard let (package, param) = TestWeights.locate(stem: h.model) else {
            Issue.record("no weights package holds \(h.model)")
            throw CancellationError()
        }
        try await TestWeights.shared.ensure(package)
        let graph = try NCNNImporter.importGraph(
            paramURL: param, binURL: param.deletingPathExtension().appendingPathExtension("bin"), outputs: [h.output_blob])
        let executor = try GraphExecutor(graph: graph, threads: 2, precision: precision)
        let image = ImageTensor.tensor(rgb: golden.pixels, width: h.width, height: h.height)
        let input = ImageTensor.replicatePadded(image, top: h.pad[0], left: h.pad[1], bottom: h.pad[2], right: h.pad[3])
        #expect(input.shape.dims == [1] + h.net_input_shape)
        return try executor.run([input])[0]
    }

    /// Largest absolute difference at the sampled indices, and whole-output sums.
    static func compare(_ out: Tensor, _ golden: GoldenFile) -> (maxError: Float, sum: Double, sumSq: Double) {
        let values = out.toArray()
        var maxError: Float = 0
        for (k, expected) in golden.samples.enumerated() {
            maxError = max(maxError, abs(values[k * golden.header.sample_stride] - expected))
        }
        let sum = values.reduce(0.0) { $0 + Double($1) }
        let sumSq = values.reduce(0.0) { $0 + Double($1) * Double($1) }
        return (maxError, sum, sumSq)
    }

    @Test("fp32 graph output matches ncnn within 1e-4", arguments: GoldenFile.all())
    func fp32MatchesNCNN(_ golden: GoldenFile) async throws {
        let out = try await Self.run(golden, precision: .fp32)
        #expect(out.shape.dims == [1] + golden.header.output_shape)
        let (maxError, sum, sumSq) = Self.compare(out, golden)
        let n = Double(out.count)
        #expect(maxError <= 1e-4, "max abs error \(maxError)")
        // Every element within 1e-4 bounds the sums; this catches errors between the samples.
        #expect(abs(sum - golden.header.sum) <= 1e-4 * n, "sum \(sum) vs \(golden.header.sum)")
        #expect(abs(sumSq - golden.header.sum_sq) <= 2e-4 * n * 1.5, "sum of squares \(sumSq) vs \(golden.header.sum_sq)")
    }
}

/// The bf16 path (AMX tiles, fp32 accumulation) against the same fp32 goldens.
///
/// Stated bound, per model: PSNR ≥ 45 dB over the sampled outputs (on the [0, 1] scale, values
/// clamped as images are) and max abs error ≤ 0.03. bf16 keeps 8 mantissa bits, so each
/// convolution's inputs carry ~0.4% relative rounding; measured on the 24 goldens: PSNR 54–64 dB,
/// max abs error 0.002–0.018 (the largest on waifu2x cunet scale2).
@Suite("ncnn goldens, bf16")
struct NCNNGoldenBF16Tests {
    @Test("bf16 graph output stays within the stated bound of ncnn's fp32", arguments: GoldenFile.all())
    func bf16WithinBound(_ golden: GoldenFile) async throws {
        let out = try await NCNNGoldenTests.run(golden, precision: .bf16)
        let values = out.toArray()
        var maxError: Float = 0
        var se = 0.0
        for (k, expected) in golden.samples.enumerated() {
            let v = values[k * golden.header.sample_stride]
            maxError = max(maxError, abs(v - expected))
            let d = Double(min(max(v, 0), 1) - min(max(expected, 0), 1))
            se += d * d
        }
        let psnr = 10 * log10(1 / max(se / Double(golden.samples.count), 1e-20))
        #expect(psnr >= 45, "PSNR \(psnr) dB")
        #expect(maxError <= 0.03, "max abs error \(maxError)")
    }
}
