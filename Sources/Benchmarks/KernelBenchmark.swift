import Foundation
import Kernels
import Tensor

/// Micro-benchmarks of the hot kernels, for `peregrine bench` and for measuring changes.
/// Results are plain numbers (seconds, GFLOP/s); nothing here asserts a speed.
public enum KernelBenchmark {
    /// Times a 3x3 stride-1 "same" convolution with bias and PReLU, the body layer of the
    /// Real-ESRGAN compact upscalers.
    ///
    /// - Parameters:
    ///   - channels: input and output channels (64 in realesr-animevideov3).
    ///   - height: map height.
    ///   - width: map width.
    ///   - precision: `.fp32` (Winograd on AVX-512) or `.bf16` (AMX where available; with
    ///     AVX512-BF16 only, this layer stays fp32 Winograd, which is faster there: see
    ///     ``KernelPath/bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)``).
    ///   - iterations: timed runs after one warm-up; the best run is reported.
    ///   - pool: threads.
    /// - Returns: `seconds` (best run), `gflops` (2 * multiply-adds of a direct convolution per
    ///   second, so Winograd's savings show as a higher rate), `gmacs`, `cpuSeconds` and
    ///   `gflopsPerCPUSecond` (process CPU time of the cheapest run: on a shared machine this
    ///   tracks the kernel's own cost better than wall time), `threads`, and `bf16Path` (1 when
    ///   the bf16 request ran in bf16: AMX or AVX512-BF16).
    public static func conv3x3(channels: Int = 64, height: Int = 256, width: Int = 256, precision: ComputePrecision = .fp32,
                               iterations: Int = 5, pool: ComputePool) throws -> [String: Double] {
        let p = ConvolutionParameters(inputChannels: channels, outputChannels: channels, kernel: (3, 3), padding: Padding(1))
        var rng = SplitMix64(seed: 7)
        let w = (0..<(channels * channels * 9)).map { _ in rng.nextFloat() * 0.1 - 0.05 }
        let b = (0..<channels).map { _ in rng.nextFloat() * 0.1 }
        let slopes = (0..<channels).map { _ in rng.nextFloat() * 0.2 }
        let conv = try Conv2D(weights: w, bias: b, parameters: p, activation: .prelu(slopes: slopes))
        let x = Tensor(shape: Shape(n: 1, c: channels, h: height, w: width),
                       values: (0..<(channels * height * width)).map { _ in rng.nextFloat() })
        let y = Tensor(zeros: try conv.outputShape(for: x.shape))
        try conv(x, into: y, precision: precision, pool: pool)
        var best = Double.infinity, bestCPU = Double.infinity
        for _ in 0..<max(1, iterations) {
            let c0 = processCPUSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            try conv(x, into: y, precision: precision, pool: pool)
            let t1 = DispatchTime.now().uptimeNanoseconds
            best = min(best, Double(t1 - t0) / 1e9)
            bestCPU = min(bestCPU, processCPUSeconds() - c0)
        }
        let macs = Double(channels * channels * 9 * height * width)
        return [
            "seconds": best,
            "gflops": 2 * macs / best / 1e9,
            "gmacs": macs / best / 1e9,
            "cpuSeconds": bestCPU,
            "gflopsPerCPUSecond": 2 * macs / bestCPU / 1e9,
            "threads": Double(pool.threadCount),
            "bf16Path": precision == .bf16 && conv.hasBF16Path ? 1 : 0,
        ]
    }

    /// Times a square SGEMM (`n x n` times `n x n`) through ``Ops/matmul(_:_:pool:)``.
    /// - Returns: `seconds` (best of `iterations`) and `gflops`.
    public static func sgemm(size n: Int = 512, iterations: Int = 3, pool: ComputePool) throws -> [String: Double] {
        var rng = SplitMix64(seed: 3)
        let a = Tensor(shape: [n, n], values: (0..<(n * n)).map { _ in rng.nextFloat() })
        let b = Tensor(shape: [n, n], values: (0..<(n * n)).map { _ in rng.nextFloat() })
        _ = try Ops.matmul(a, b, pool: pool)
        var best = Double.infinity
        for _ in 0..<max(1, iterations) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try Ops.matmul(a, b, pool: pool)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return ["seconds": best, "gflops": 2 * Double(n * n * n) / best / 1e9, "threads": Double(pool.threadCount)]
    }
}

/// CPU time of the whole process (all threads) in seconds.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
