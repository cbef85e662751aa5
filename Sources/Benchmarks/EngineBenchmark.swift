import Foundation
import Graph
import Kernels
import ModelFormats
import ModelKit
import Tensor

/// Side-by-side benchmark of the engine and the official ncnn runtime on the same inputs.
///
/// For each model and size, runs Peregrine (fp32, and bf16 when asked) and ncnn (fp32, through
/// `bench/ncnn/ncnn_worker.py` in a long-lived Python process) alternately, `repeats` times each
/// after one warm-up, and reports medians, the ratio to ncnn, GFLOP/s, the fraction of the fp32
/// peak, and the accuracy of each Peregrine path against ncnn's output (max abs error, PSNR)
/// and of each reduced-precision path against Peregrine's fp32 output. The report names the CPU
/// (`cpu_model`) and the kernel path (`kernel_path`, ``KernelPath/current``) it ran on.
public enum EngineBenchmark {
    /// What to measure.
    public struct Configuration: Sendable {
        /// Model cache holding pulled weights.
        public var modelDirectory: URL
        /// `.param` paths relative to the model cache, e.g. `realesr-animevideov3/realesr-animevideov3-x4.param`.
        public var models: [String]
        /// Square input sides.
        public var sizes: [Int]
        /// Compute threads for both engines.
        public var threads: Int
        /// Timed runs per engine and case (after one warm-up).
        public var repeats: Int
        /// Peregrine precisions to measure.
        public var precisions: [ComputePrecision]
        /// Also measure bf16 with every layer on its own (no convolution chains), reported as
        /// `peregrine_bf16_layerwise`, to show what chaining saves in the same run.
        public var layerwiseBF16 = false
        /// Python interpreter with `ncnn` and `numpy` installed; nil skips ncnn.
        public var python: String?
        /// The worker script.
        public var workerScript: URL
        /// Peak fp32 GFLOP/s of one core (AVX-512, 2 FMA units at the measured clock).
        public var peakGFLOPSPerCore: Double
        /// Extra environment for the ncnn process, e.g. `OMP_WAIT_POLICY=PASSIVE` on a shared
        /// machine (ncnn's OpenMP threads spin at barriers, which collapses when cores are
        /// oversubscribed).
        public var ncnnEnvironment: [String: String] = [:]

        /// Creates a configuration with the headline defaults (animevideov3 ×4, 256², 2 threads).
        public init(modelDirectory: URL, models: [String] = ["realesr-animevideov3/realesr-animevideov3-x4.param"],
                    sizes: [Int] = [256], threads: Int = 2, repeats: Int = 5,
                    precisions: [ComputePrecision] = [.fp32, .bf16], python: String? = "python3",
                    workerScript: URL = URL(fileURLWithPath: "bench/ncnn/ncnn_worker.py"),
                    peakGFLOPSPerCore: Double = 175) {
            self.modelDirectory = modelDirectory
            self.models = models
            self.sizes = sizes
            self.threads = threads
            self.repeats = repeats
            self.precisions = precisions
            self.python = python
            self.workerScript = workerScript
            self.peakGFLOPSPerCore = peakGFLOPSPerCore
        }
    }

    /// Runs the benchmark and returns its report.
    /// - Throws: `ModelError` when weights are missing, a graph fails to load, or the ncnn worker fails.
    public static func run(_ config: Configuration, log: @Sendable (String) -> Void = { _ in }) throws -> JSONValue {
        let worker = try config.python.map { try NCNNWorker(python: $0, script: config.workerScript, environment: config.ncnnEnvironment) }
        defer { worker?.stop() }
        var results: [JSONValue] = []
        let peak = config.peakGFLOPSPerCore * Double(config.threads)
        // One pool for the whole run, as in the server.
        let pool = ComputePool(threads: max(1, config.threads))
        for model in config.models {
            let param = config.modelDirectory.appendingPathComponent(model)
            let bin = param.deletingPathExtension().appendingPathExtension("bin")
            let parsed = try NCNNParamFile(text: String(contentsOf: param, encoding: .utf8))
            let inputBlob = parsed.layers.first { $0.type == "Input" }?.outputs.first ?? "data"
            let loadStart = DispatchTime.now().uptimeNanoseconds
            let graph = try NCNNImporter.importGraph(paramURL: param, binURL: bin)
            let importSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
            let outputBlob = graph.valueNames[graph.outputs[0].index]
            var prepareSeconds: [String: JSONValue] = [:]
            var variants = config.precisions.map { (label: $0.rawValue, precision: $0, chains: true) }
            if config.layerwiseBF16 { variants.append((label: "bf16_layerwise", precision: .bf16, chains: false)) }
            let executors = try variants.map { v in
                let start = DispatchTime.now().uptimeNanoseconds
                let e = try GraphExecutor(graph: graph, pool: pool, precision: v.precision, chainConvolutions: v.chains)
                prepareSeconds[v.label] = .double(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                return e
            }
            for size in config.sizes {
                var rng = SplitMix64(seed: UInt64(size))
                let input = Tensor(shape: Shape(n: 1, c: 3, h: size, w: size),
                                   values: (0..<(3 * size * size)).map { _ in Float(rng.next() % 256) / 255 })
                let flops = executors[0].graph.flops(shapes: try executors[0].shapes(for: [input.shape]))
                var times = [[Double]](repeating: [], count: executors.count)
                var ncnnTimes: [Double] = []
                var outputs = [Tensor?](repeating: nil, count: executors.count)
                var reference: [Float]?
                let tmp = FileManager.default.temporaryDirectory
                let inFile = tmp.appendingPathComponent("pg-bench-in-\(UUID().uuidString).f32")
                let outFile = tmp.appendingPathComponent("pg-bench-out-\(UUID().uuidString).f32")
                try input.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: inFile)
                defer { try? FileManager.default.removeItem(at: inFile); try? FileManager.default.removeItem(at: outFile) }
                for round in 0...config.repeats {
                    for (k, e) in executors.enumerated() {
                        let start = DispatchTime.now().uptimeNanoseconds
                        let out = try e.run([input])[0]
                        let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                        if round > 0 { times[k].append(t) } else { outputs[k] = out }
                    }
                    if let worker {
                        let t = try worker.run(param: param.path, bin: bin.path, inputBlob: inputBlob, outputBlob: outputBlob,
                                               input: inFile.path, shape: [3, size, size], output: round == 0 ? outFile.path : nil,
                                               threads: config.threads)
                        if round > 0 { ncnnTimes.append(t) } else {
                            let data = try Data(contentsOf: outFile)
                            reference = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                        }
                    }
                }
                let ncnnMedian = median(ncnnTimes)
                var entry: [String: JSONValue] = [
                    "model": .string(model), "size": .int(Int64(size)), "threads": .int(Int64(config.threads)),
                    "gflop": .double(flops / 1e9),
                    "load_s": ["import": .double(importSeconds), "prepare": .object(prepareSeconds)],
                ]
                if !ncnnTimes.isEmpty {
                    entry["ncnn_fp32"] = ["median_s": .double(ncnnMedian), "gflops": .double(flops / ncnnMedian / 1e9),
                                          "fraction_of_peak": .double(flops / ncnnMedian / 1e9 / peak)]
                }
                for k in executors.indices {
                    let m = median(times[k])
                    var r: [String: JSONValue] = [
                        "median_s": .double(m), "gflops": .double(flops / m / 1e9),
                        "fraction_of_peak": .double(flops / m / 1e9 / peak),
                    ]
                    if !ncnnTimes.isEmpty { r["ratio_to_ncnn"] = .double(m / ncnnMedian) }
                    if let reference, let out = outputs[k] {
                        let (maxError, psnr) = accuracy(out.toArray(), reference)
                        r["max_abs_error_vs_ncnn"] = .double(Double(maxError))
                        r["psnr_db_vs_ncnn"] = jsonPSNR(psnr)
                    }
                    // bf16 against fp32 on the same input (the bf16 accuracy target is >= 45 dB).
                    if variants[k].precision != .fp32, let f = variants.firstIndex(where: { $0.precision == .fp32 }),
                       let out = outputs[k], let fp32 = outputs[f] {
                        let (maxError, psnr) = accuracy(out.toArray(), fp32.toArray())
                        r["max_abs_error_vs_fp32"] = .double(Double(maxError))
                        r["psnr_db_vs_fp32"] = jsonPSNR(psnr)
                        r["ratio_to_fp32"] = .double(m / median(times[f]))
                    }
                    r["kernel_path"] = .string(KernelPath.current.summary(bf16Requested: variants[k].precision == .bf16))
                    entry["peregrine_\(variants[k].label)"] = .object(r)
                }
                let summary = executors.indices.map { "\(variants[$0].label) \(median(times[$0])) s" }.joined(separator: ", ")
                log("\(model) \(size)x\(size): peregrine \(summary); ncnn fp32 \(ncnnMedian) s")
                results.append(.object(entry))
            }
        }
        return ["benchmark": "engine-vs-ncnn", "peak_gflops_per_core": .double(config.peakGFLOPSPerCore),
                "cpu_model": .string(CPUFeatures.current.modelName), "kernel_path": .string(KernelPath.current.rawValue),
                "ncnn_environment": .object(config.ncnnEnvironment.mapValues { .string($0) }), "results": .array(results)]
    }

    /// The CPU model and the kernel path (``KernelPath/current``) this process runs on: every
    /// benchmark's JSON carries them as `cpu_model` and `kernel_path`.
    public static var machine: [String: String] {
        ["cpu_model": CPUFeatures.current.modelName, "kernel_path": KernelPath.current.rawValue]
    }

    /// A PSNR for the report: identical outputs have an infinite PSNR, which JSON cannot hold
    /// (the encoder would reject the whole report), so they are reported as the string "inf".
    static func jsonPSNR(_ psnr: Double) -> JSONValue {
        psnr.isFinite ? .double(psnr) : .string("inf")
    }

    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Max abs error and PSNR (peak 1.0, values clamped to [0, 1] as the images are).
    static func accuracy(_ a: [Float], _ b: [Float]) -> (Float, Double) {
        guard a.count == b.count, !a.isEmpty else { return (.infinity, 0) }
        var maxError: Float = 0
        var se = 0.0
        for i in a.indices {
            maxError = max(maxError, abs(a[i] - b[i]))
            let d = Double(min(max(a[i], 0), 1) - min(max(b[i], 0), 1))
            se += d * d
        }
        let mse = se / Double(a.count)
        return (maxError, mse == 0 ? .infinity : 10 * log10(1 / mse))
    }
}

extension EngineBenchmark {
    /// Where one run's time goes: seconds per op kind (median of `repeats` runs after a warm-up),
    /// for each precision.
    public static func profile(_ config: Configuration) throws -> JSONValue {
        var out: [JSONValue] = []
        let pool = ComputePool(threads: max(1, config.threads))
        for model in config.models {
            let param = config.modelDirectory.appendingPathComponent(model)
            let graph = try NCNNImporter.importGraph(paramURL: param, binURL: param.deletingPathExtension().appendingPathExtension("bin"))
            for precision in config.precisions {
                let e = try GraphExecutor(graph: graph, pool: pool, precision: precision)
                for size in config.sizes {
                    let input = Tensor(shape: Shape(n: 1, c: 3, h: size, w: size), repeating: 0.5)
                    _ = try e.run([input])
                    var perOp: [String: [Double]] = [:]
                    var totals: [Double] = []
                    for _ in 0..<max(1, config.repeats) {
                        let (_, nodes) = try e.profile([input])
                        var sums: [String: Double] = [:]
                        for n in nodes { sums[n.op, default: 0] += n.seconds }
                        for (k, v) in sums { perOp[k, default: []].append(v) }
                        totals.append(nodes.reduce(0) { $0 + $1.seconds })
                    }
                    var perNode: [String: [Double]] = [:]
                    for _ in 0..<2 {
                        for n in try e.profile([input]).nodes { perNode[n.name, default: []].append(n.seconds) }
                    }
                    let slowest = perNode.mapValues { median($0) }.sorted { $0.value > $1.value }.prefix(6)
                    out.append([
                        "slowest_nodes": .object(Dictionary(uniqueKeysWithValues: slowest.map { ($0.key, JSONValue.double($0.value)) })),
                        "model": .string(model), "size": .int(Int64(size)), "precision": .string(precision.rawValue),
                        "cpu_model": .string(CPUFeatures.current.modelName),
                        "kernel_path": .string(KernelPath.current.summary(bf16Requested: precision == .bf16)),
                        "total_s": .double(median(totals)), "nodes": .int(Int64(e.graph.nodes.count)),
                        "seconds_by_op": .object(perOp.mapValues { .double(median($0)) }),
                    ])
                }
            }
        }
        return .array(out)
    }
}
