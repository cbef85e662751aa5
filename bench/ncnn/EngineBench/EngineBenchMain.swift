import Benchmarks
import Foundation
import Graph
import ModelKit
import Models
import Weights

/// `swift run EngineBench [--sizes 256,128] [--models all|x4|a.param,b.param] [--threads 2] [--repeats 5] [--profile] [--omp-passive] [--layerwise-bf16]`:
/// pulls the weights if needed, runs Peregrine and ncnn side by side and prints JSON.
@main
struct EngineBenchMain {
    static func main() async {
        do {
            try await run()
        } catch {
            FileHandle.standardError.write(Data("EngineBench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() async throws {
        var args = Array(CommandLine.arguments.dropFirst())
        func value(_ flag: String) -> String? {
            guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
            defer { args.removeSubrange(i...(i + 1)) }
            return args[i + 1]
        }
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let models = URL(fileURLWithPath: value("--model-dir") ?? root.appendingPathComponent(".peregrine-test/models").path)
        let sizes = (value("--sizes") ?? "256").split(separator: ",").compactMap { Int($0) }
        let threads = Int(value("--threads") ?? "2") ?? 2
        let repeats = Int(value("--repeats") ?? "5") ?? 5
        let python = value("--python") ?? root.appendingPathComponent(".venv-ncnn/bin/python").path
        let which = value("--models") ?? "x4"
        let all = [
            "realesr-animevideov3/realesr-animevideov3-x4.param",
            "realesr-animevideov3/realesr-animevideov3-x2.param",
            "realesrgan-x4plus-anime/realesrgan-x4plus-anime.param",
            "realesrgan-x4plus/realesrgan-x4plus.param",
            "waifu2x/models-upconv_7_photo/noise1_scale2.0x_model.param",
            "waifu2x/models-cunet/noise1_scale2.0x_model.param",
        ]
        let chosen = which == "all" ? all : (which == "x4" ? [all[0]] : which.split(separator: ",").map(String.init))
        let puller = ModelPuller(modelDirectory: models)
        for name in ["realesr-animevideov3", "realesrgan-x4plus", "realesrgan-x4plus-anime", "waifu2x"]
        where chosen.contains(where: { $0.hasPrefix(name + "/") }) {
            try await puller.pull(name) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        }
        var config = EngineBenchmark.Configuration(
            modelDirectory: models, models: chosen, sizes: sizes, threads: threads, repeats: repeats,
            python: python, workerScript: root.appendingPathComponent("bench/ncnn/ncnn_worker.py"))
        if args.contains("--omp-passive") { config.ncnnEnvironment["OMP_WAIT_POLICY"] = "PASSIVE" }
        config.layerwiseBF16 = args.contains("--layerwise-bf16")
        if args.contains("--profile") {
            FileHandle.standardOutput.write(try EngineBenchmark.profile(config).encoded(pretty: true) + Data("\n".utf8))
            return
        }
        let report = try EngineBenchmark.run(config) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        FileHandle.standardOutput.write(report.encoded(pretty: true) + Data("\n".utf8))
    }
}
