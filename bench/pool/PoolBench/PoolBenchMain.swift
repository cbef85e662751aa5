import Benchmarks
import Foundation
import ModelKit
import Models

/// `swift run -c release PoolBench mixed [--requests 40] [--rate 1.0] [--threads 2] [--seed 1] [--budget-mb N] [--model-dir DIR]`
/// and `swift run -c release PoolBench batching [--sizes 32,64] [--batch 4] [--threads 2] [--repeats 5]`:
/// the runner pool's benchmarks; each prints one JSON document.
@main
struct PoolBenchMain {
    static func main() async {
        do {
            try await run()
        } catch {
            FileHandle.standardError.write(Data("PoolBench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() async throws {
        var args = Array(CommandLine.arguments.dropFirst())
        let mode = args.first ?? "mixed"
        if !args.isEmpty { args.removeFirst() }
        func value(_ flag: String) -> String? {
            guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
            return args[i + 1]
        }
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let models = URL(fileURLWithPath: value("--model-dir") ?? root.appendingPathComponent(".peregrine-test/models").path)
        let threads = Int(value("--threads") ?? "2") ?? 2
        var report: JSONValue
        switch mode {
        case "batching":
            report = try BatchingBenchmark.run(
                modelDirectory: models, sizes: (value("--sizes") ?? "32,64").split(separator: ",").compactMap { Int($0) },
                batch: Int(value("--batch") ?? "4") ?? 4, threads: threads, repeats: Int(value("--repeats") ?? "5") ?? 5)
        case "mixed":
            var options = MixedWorkload.Options(modelDirectory: models)
            options.threads = threads
            if let v = value("--requests").flatMap(Int.init) { options.requests = v }
            if let v = value("--rate").flatMap(Double.init) { options.rate = v }
            if let v = value("--seed").flatMap(UInt64.init) { options.seed = v }
            if let v = value("--budget-mb").flatMap(Int.init) { options.budgetBytes = v << 20 }
            report = try await MixedWorkload.run(options)
        default:
            throw BenchError("unknown mode '\(mode)' (mixed or batching)")
        }
        if case .object(var fields) = report {
            for (k, v) in EngineBenchmark.machine { fields[k] = .string(v) }
            report = .object(fields)
        }
        print(String(decoding: report.encoded(pretty: true), as: UTF8.self))
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
