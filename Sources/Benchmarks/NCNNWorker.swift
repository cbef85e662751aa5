import Foundation
import ModelKit

/// The long-lived Python process that times ncnn (bench/ncnn/ncnn_worker.py), spoken to with
/// JSON lines over pipes.
final class NCNNWorker: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    init(python: String, script: URL, environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script.path]
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardInput = input
        process.standardOutput = output
        do { try process.run() } catch {
            throw ModelError(.internalError, "cannot start the ncnn worker (\(python) \(script.path)): \(error)")
        }
    }

    /// Runs one request and returns ncnn's seconds.
    func run(param: String, bin: String, inputBlob: String, outputBlob: String, input inputPath: String,
             shape: [Int], output outputPath: String?, threads: Int) throws -> Double {
        var request: [String: JSONValue] = [
            "param": .string(param), "bin": .string(bin), "input_blob": .string(inputBlob), "output_blob": .string(outputBlob),
            "input": .string(inputPath), "shape": .array(shape.map { .int(Int64($0)) }), "threads": .int(Int64(threads)),
        ]
        if let outputPath { request["output"] = .string(outputPath) }
        input.fileHandleForWriting.write(JSONValue.object(request).encoded() + Data("\n".utf8))
        let line = try readLine()
        guard let reply = try? JSONValue(parsing: line), let seconds = reply["seconds"]?.doubleValue else {
            throw ModelError(.internalError, "ncnn worker answered \(String(decoding: line, as: UTF8.self))")
        }
        return seconds
    }

    private func readLine() throws -> Data {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[(nl + 1)...])
                return Data(line)
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw ModelError(.internalError, "the ncnn worker exited") }
            buffer.append(chunk)
        }
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
