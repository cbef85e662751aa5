import Foundation
import ModelKit
import NIOConcurrencyHelpers

/// A loaded external model: forwards each request to the supervised runner process.
final class ExternalLoadedModel: LoadedModel {
    private let supervisor: RunnerSupervisor
    private let runner: RunnerManifest
    let footprintBytes: Int

    init(supervisor: RunnerSupervisor, runner: RunnerManifest, footprintBytes: Int) {
        self.supervisor = supervisor
        self.runner = runner
        self.footprintBytes = footprintBytes
    }

    deinit {
        // Evicted: the runner's memory is what eviction frees.
        let supervisor = self.supervisor
        Task { await supervisor.stop() }
    }

    func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
        let instance = try await supervisor.current()
        try context.checkCancellation()
        let requestID = UUID().uuidString.lowercased()
        let scratch = supervisor.directory.appendingPathComponent("r-\(requestID)")
        let outputs = scratch.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let files = try await fetchInputs(input, into: scratch.appendingPathComponent("in"), context: context)
        let body: JSONValue = [
            "request_id": .string(requestID), "input": input, "files": .object(files), "output_dir": .string(outputs.path),
        ]

        let request = PredictCall(instance: instance, body: body, context: context, outputs: outputs)
        // The exchange runs on its own task so that it is not torn down by cancellation: a
        // cancelled request asks the runner to stop and reads its last lines.
        let exchange = Task { try await request.run() }
        let grace = runner.cancelGrace
        let supervisor = self.supervisor
        let output = try await withTaskCancellationHandler {
            try await exchange.value
        } onCancel: {
            request.cancelRequested.withLockedValue { $0 = true }
            Task {
                await instance.client.cancel(requestID: requestID)
                try? await Task.sleep(for: .milliseconds(Int64(grace * 1000)))
                if !request.finished.withLockedValue({ $0 }) { await supervisor.kill(instance) }
            }
        }
        await supervisor.succeeded()
        return output
    }

    /// Fetches the file inputs the manifest names (through the platform: its address policy and
    /// size limits apply) into `directory`, describing each for the runner.
    private func fetchInputs(_ input: JSONValue, into directory: URL, context: any RunContext) async throws -> [String: JSONValue] {
        var files: [String: JSONValue] = [:]
        for field in runner.fileInputs {
            guard let url = input[field]?.stringValue, !url.isEmpty else { continue }
            let fetched = try await context.fetch(url, field: field)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent(field.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
            try fetched.data.write(to: path)
            var description: [String: JSONValue] = ["path": .string(path.path), "size": .int(Int64(fetched.data.count))]
            if let type = fetched.contentType { description["content_type"] = .string(type) }
            if let name = fetched.fileName { description["file_name"] = .string(name) }
            files[field] = .object(description)
        }
        return files
    }
}
