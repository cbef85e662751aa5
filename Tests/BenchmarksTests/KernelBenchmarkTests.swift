import Benchmarks
import Kernels
import Tensor
import Testing

@Suite("KernelBenchmark")
struct KernelBenchmarkTests {
    /// Two threads, so the reported thread count is checked against a real split.
    static let pool = ComputePool(threads: 2)

    /// Runs the benchmark on a tiny map to check that it reports consistent numbers.
    @Test(arguments: [ComputePrecision.fp32, .bf16])
    func conv3x3ReportsConsistentNumbers(_ precision: ComputePrecision) throws {
        let r = try KernelBenchmark.conv3x3(channels: 16, height: 8, width: 12, precision: precision, iterations: 1, pool: Self.pool)
        let seconds = try #require(r["seconds"]), gflops = try #require(r["gflops"])
        #expect(seconds > 0)
        #expect(abs(gflops * seconds - 2 * Double(16 * 16 * 9 * 8 * 12) / 1e9) < 1e-9)
        #expect(r["threads"] == 2)
        let cpu = try #require(r["cpuSeconds"])
        #expect(cpu > 0)
    }

    @Test func sgemmReportsConsistentNumbers() throws {
        let r = try KernelBenchmark.sgemm(size: 33, iterations: 1, pool: Self.pool)
        let seconds = try #require(r["seconds"]), gflops = try #require(r["gflops"])
        #expect(abs(gflops * seconds - 2 * Double(33 * 33 * 33) / 1e9) < 1e-9)
    }
}
