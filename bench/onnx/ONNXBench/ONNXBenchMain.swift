// Benchmark driver: runs an ONNX model through Peregrine's importer and prints one JSON line
// (per-run seconds, per-operator-type seconds, max abs error against a golden output, the CPU
// model and the kernel path). Built by `swift build --product ONNXBench` (the engine targets are
// optimized in every configuration); scripts/onnx/bench.sh alternates it with onnxruntime.
import CKernels
import Foundation
import Graph
import Kernels
import ModelFormats
import Tensor

@main
struct ONNXBenchMain {
    static func main() {
        do {
            try run()
        } catch {
            FileHandle.standardError.write(Data("ONNXBench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() throws {
        // --graph is accepted (and ignored) for older scripts: the engine graph is the only path.
        let args = CommandLine.arguments.filter { $0 != "--graph" }
        guard args.count >= 3 else {
            print("usage: ONNXBench MODEL.onnx GOLDEN_DIR [RUNS]")
            exit(2)
        }
        let runs = max(1, args.count > 3 ? Int(args[3]) ?? 3 : 3)
        let t0 = Date()
        let model = try ONNXModel(contentsOf: args[1])
        let loadSeconds = Date().timeIntervalSince(t0)
        let inputs = try readTensors(args[2], "input")
        let expected = try readTensors(args[2], "output")
        let feeds = Dictionary(uniqueKeysWithValues: inputs.map { ($0.0, $0.1) })
        let threads = ProcessInfo.processInfo.environment["PEREGRINE_THREADS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
            ?? ComputePool.defaultThreadCount
        let pool = ComputePool(threads: threads)
        let t1 = Date()
        var times: [Double] = []
        var perOp: [String: Double] = [:]
        var maxError: Float = 0
        var planSeconds = 0.0, steps = 0
        func compare(_ outputs: [[Float]]) {
            for (got, want) in zip(outputs, expected) {
                for (a, b) in zip(got, want.1.floats) { maxError = max(maxError, abs(a - b)) }
            }
        }
        let graph = try model.engineGraph(inputShapes: feeds.mapValues(\.shape))
        let executor = try GraphExecutor(graph: graph, pool: pool)
        planSeconds = Date().timeIntervalSince(t1)
        steps = executor.graph.nodes.count
        let tensors = model.inputs.map { feeds[$0.name]!.toTensor() }
        for r in 0..<runs {
            let s = Date()
            let (out, nodes) = try executor.profile(tensors)
            times.append(Date().timeIntervalSince(s))
            if r == runs - 1 { perOp = nodes.reduce(into: [:]) { $0[$1.op, default: 0] += $1.seconds } }
            compare(out.map { $0.toArray() })
        }
        let result: [String: Any] = [
            "engine": "peregrine",
            "cpu": cpuModelName(),
            "kernel_path": kernelPath(),
            "threads": threads,
            "load_s": loadSeconds,
            "plan_s": planSeconds,
            "steps": steps,
            "run_s": times,
            "median_s": times.sorted()[times.count / 2],
            "best_s": times.min() ?? 0,
            "per_op_s": perOp,
            "max_abs_error": Double(maxError),
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// `input_0.pb`, `input_1.pb`, ... of a golden directory, with the names stored in them.
    static func readTensors(_ dir: String, _ prefix: String) throws -> [(String, ONNXTensor)] {
        var out: [(String, ONNXTensor)] = []
        var i = 0
        while let data = FileManager.default.contents(atPath: "\(dir)/\(prefix)_\(i).pb") {
            let proto = try ONNX.TensorProto(serialized: [UInt8](data))
            out.append((proto.name, try ONNXTensor(proto: proto)))
            i += 1
        }
        return out
    }

    /// The `model name` line of /proc/cpuinfo: numbers mean little without it.
    static func cpuModelName() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }

    /// The widest vector path the float kernels take on this CPU (chosen at run time from cpuid).
    static func kernelPath() -> String {
        let f = pg_detect_cpu()
        var path = f.avx512f != 0 ? "avx512" : (f.avx2_fma != 0 ? "avx2" : "portable")
        if f.amx_bf16 != 0 { path += "+amx_bf16" }
        return path
    }
}
