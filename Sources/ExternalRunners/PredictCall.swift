import Foundation
import ModelKit
import NIOConcurrencyHelpers

/// One `POST /predict` exchange: turns the runner's NDJSON events into progress, logs and the
/// final output (with file references stored through the platform), and a broken connection
/// into `runner_disconnected`.
final class PredictCall: Sendable {
    private let instance: RunnerInstance
    private let body: JSONValue
    private let context: any RunContext
    private let outputs: URL
    /// Set when the platform cancelled the request.
    let cancelRequested = NIOLockedValueBox(false)
    /// Set when the exchange ended, however.
    let finished = NIOLockedValueBox(false)

    init(instance: RunnerInstance, body: JSONValue, context: any RunContext, outputs: URL) {
        self.instance = instance
        self.body = body
        self.context = context
        self.outputs = outputs
    }

    func run() async throws -> JSONValue {
        defer { finished.withLockedValue { $0 = true } }
        let final = NIOLockedValueBox<JSONValue?>(nil)
        let answer: (status: Int, body: JSONValue)
        do {
            answer = try await instance.client.predict(body) { event in
                guard final.withLockedValue({ $0 }) == nil else { return }
                switch event["type"]?.stringValue {
                case "progress":
                    context.progress(ModelKit.Progress(
                        fraction: event["fraction"]?.doubleValue, step: event["step"]?.intValue.map(Int.init),
                        total: event["total"]?.intValue.map(Int.init), message: event["message"]?.stringValue))
                case "log":
                    let level = event["level"]?.stringValue.flatMap { LogLevel(rawValue: $0.uppercased()) } ?? .info
                    context.log(event["message"]?.stringValue ?? "", level: level)
                case "result", "error":
                    final.withLockedValue { $0 = event }
                default:
                    break  // unknown event types are for newer Peregrines: ignored
                }
            }
        } catch let error as ExternalRunnerError {
            // The runner broke the protocol (an overlong or non-JSON line): the request fails
            // cleanly, and the runner is asked to stop working on it.
            let requestID = body["request_id"]?.stringValue ?? ""
            await instance.client.cancel(requestID: requestID)
            if cancelRequested.withLockedValue({ $0 }) { throw CancellationError() }
            throw ModelError(.internalError, "\(error)")
        } catch {
            throw await disconnected("the connection to the runner broke mid-request (\(error))")
        }
        if answer.status != 200 {
            throw ModelError(
                ExternalModel.code(named: answer.body["error_type"]?.stringValue) ?? .internalError,
                answer.body["message"]?.stringValue ?? "runner answered HTTP \(answer.status)")
        }
        guard let event = final.withLockedValue({ $0 }) else { throw await disconnected("the runner ended the request without a result") }
        if event["type"]?.stringValue == "error" {
            let type = event["error_type"]?.stringValue
            if type == "cancelled" { throw CancellationError() }
            let field = event["field"]?.arrayValue?.compactMap(\.stringValue)
            let status = event["status"]?.intValue.map(Int.init)
            throw ModelError(
                ExternalModel.code(named: type) ?? .internalError, event["message"]?.stringValue ?? "runner error",
                status: status.flatMap { (400...599).contains($0) ? $0 : nil }, field: field)
        }
        return try await resolveFiles(event["output"] ?? .object([:]))
    }

    /// A cancelled request ends as cancelled even when the runner had to be killed.
    private func disconnected(_ why: String) async -> any Error {
        if cancelRequested.withLockedValue({ $0 }) { return CancellationError() }
        let how = await instance.process.exitDescription(waitingUpTo: .seconds(1)).map { " (runner \($0))" } ?? ""
        return ModelError(.runnerDisconnected, "\(why)\(how)")
    }

    /// Replaces each `{"$file": name, "content_type": ...}` in the output with the stored file's
    /// fal object (`url`, `content_type`, `file_name`, `file_size`, plus the reference's other members).
    private func resolveFiles(_ value: JSONValue) async throws -> JSONValue {
        switch value {
        case .object(let members):
            if let name = members["$file"]?.stringValue {
                guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.contains("\0") else {
                    throw ModelError(.internalError, "runner named an output file outside its output directory: \(name)")
                }
                let data = try OutputFile.read(name, in: outputs)
                let type = members["content_type"]?.stringValue ?? "application/octet-stream"
                let stored = try await context.store(data, contentType: type, fileName: name)
                var extra = members
                extra["$file"] = nil
                extra["content_type"] = nil
                return stored.json(extra: extra)
            }
            var out: [String: JSONValue] = [:]
            for (k, v) in members { out[k] = try await resolveFiles(v) }
            return .object(out)
        case .array(let items):
            var out: [JSONValue] = []
            for item in items { out.append(try await resolveFiles(item)) }
            return .array(out)
        default:
            return value
        }
    }
}
