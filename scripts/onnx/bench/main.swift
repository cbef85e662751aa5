// Benchmark driver: runs an ONNX model through Peregrine's importer and prints JSON
// (per-run seconds, per-operator-type seconds, max abs error against a golden output).
// Built by scripts/onnx/bench.sh with the ONNX sources compiled into this module, optimized.
import Foundation
import Kernels

func readTensors(_ dir: String, _ prefix: String) throws -> [(String, ONNXTensor)] {
    var out: [(String, ONNXTensor)] = []
    var i = 0
    while let data = FileManager.default.contents(atPath: "\(dir)/\(prefix)_\(i).pb") {
        let proto = try ONNX.TensorProto(serialized: [UInt8](data))
        out.append((proto.name, try ONNXTensor(proto: proto)))
        i += 1
    }
    return out
}

let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: onnx-bench MODEL.onnx GOLDEN_DIR [RUNS]")
    exit(2)
}
let runs = args.count > 3 ? Int(args[3]) ?? 3 : 3
let t0 = Date()
let model = try ONNXModel(contentsOf: args[1])
let loadSeconds = Date().timeIntervalSince(t0)
let inputs = try readTensors(args[2], "input")
let expected = try readTensors(args[2], "output")
let feeds = Dictionary(uniqueKeysWithValues: inputs.map { ($0.0, $0.1) })
let t1 = Date()
let threads = ProcessInfo.processInfo.environment["PEREGRINE_THREADS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
    ?? ComputePool.defaultThreadCount
let plan = try model.plan(inputShapes: feeds.mapValues(\.shape), pool: ComputePool(threads: threads))
let planSeconds = Date().timeIntervalSince(t1)
var times: [Double] = []
var perOp: [String: Double] = [:]
var maxError: Float = 0
// ONNX_BENCH_DETAIL=1 adds per-shape seconds ("Conv 64->32 3x3 @128x128"), summed over the best run.
let detail = ProcessInfo.processInfo.environment["ONNX_BENCH_DETAIL"] != nil
var perShape: [String: Double] = [:]
func shapeKey(_ step: ONNXPlan.Step) -> String {
    let ins = step.inputs.map { $0.flatMap { plan.expectedShapes[$0] } ?? [] }
    if step.opType == "Conv", ins.count > 1, ins[0].count == 4 {
        let x = ins[0], w = ins[1]
        return "Conv \(x[1])->\(w[0]) \(w[2])x\(w[3]) @\(x[2])x\(x[3])"
    }
    return "\(step.opType) " + ins.map { "\($0)" }.joined(separator: ",")
}
var bestRun = Double.infinity
for r in 0..<runs {
    var ops: [String: Double] = [:]
    var shapes: [String: Double] = [:]
    let s = Date()
    let out = try plan.run(feeds, stepProfile: { step, seconds in
        ops[step.opType, default: 0] += seconds
        if detail { shapes[shapeKey(step), default: 0] += seconds }
    })
    times.append(Date().timeIntervalSince(s))
    if r == runs - 1 { perOp = ops }
    if times.last! < bestRun { bestRun = times.last!; perShape = shapes }
    for (i, o) in model.outputs.enumerated() where i < expected.count {
        let got = out[o.name]!.floats, want = expected[i].1.floats
        for (a, b) in zip(got, want) { maxError = max(maxError, abs(a - b)) }
    }
}
let result: [String: Any] = [
    "engine": "peregrine",
    "threads": threads,
    "load_s": loadSeconds,
    "plan_s": planSeconds,
    "folded_nodes": plan.foldedNodeCount,
    "steps": plan.stepCount,
    "run_s": times,
    "median_s": times.sorted()[times.count / 2],
    "best_s": times.min() ?? 0,
    "per_op_s": perOp,
    "max_abs_error": Double(maxError),
]
if detail {
    for (k, v) in perShape.sorted(by: { $0.value > $1.value }).prefix(40) {
        print(String(format: "%8.2f ms  %@", v * 1000, k))
    }
}
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
