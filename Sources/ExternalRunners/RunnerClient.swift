import AsyncHTTPClient
import Foundation
import ModelKit
import NIOCore
import NIOHTTP1

/// Speaks the runner protocol (HTTP/1.1 over the runner's Unix socket).
struct RunnerClient: Sendable {
    /// The runner's socket.
    let socketPath: String
    let http: HTTPClient
    /// Longest progress or log line accepted from `/predict`.
    var maxEventLineBytes = 1 << 20
    /// Longest line of any kind (`result`, `error`) accepted from `/predict`.
    var maxResultLineBytes = 64 << 20

    private func url(_ path: String) throws -> String {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: path) else {
            throw ExternalRunnerError.protocolViolation("socket path \(socketPath) cannot be used in a URL")
        }
        return url.absoluteString
    }

    /// A request and its JSON body, answered within `timeout`.
    private func call(_ method: HTTPMethod, _ path: String, body: JSONValue?, timeout: Duration) async throws -> (status: Int, body: JSONValue) {
        var request = HTTPClientRequest(url: try url(path))
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        }
        let ms = Int64(timeout.components.seconds) * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        let response = try await http.execute(request, timeout: .milliseconds(max(1, ms)))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let json = (try? JSONValue(parsing: Data(bytes.readableBytesView))) ?? .null
        return (Int(response.status.code), json)
    }

    /// `GET /health`: true when the runner answers `{"status": "ok"}`.
    func healthy(timeout: Duration) async -> Bool {
        guard let (status, body) = try? await call(.GET, "/health", body: nil, timeout: timeout) else { return false }
        return status == 200 && body["status"]?.stringValue == "ok"
    }

    /// `POST /setup`: the runner's facts on success, its error body otherwise.
    func setup(timeout: Duration) async throws -> (status: Int, body: JSONValue) {
        try await call(.POST, "/setup", body: .object([:]), timeout: timeout)
    }

    /// `POST /cancel`: true when the runner knew the request.
    @discardableResult
    func cancel(requestID: String) async -> Bool {
        let answer = try? await call(.POST, "/cancel", body: ["request_id": .string(requestID)], timeout: .seconds(5))
        return answer?.body["cancelled"]?.boolValue == true
    }

    /// `POST /predict`: calls `event` with each NDJSON line of the streamed answer, in order.
    /// - Returns: the HTTP status and, for a non-200 answer, its JSON body.
    /// - Throws: when the connection breaks (the runner died); `ExternalRunnerError.protocolViolation`
    ///   when a line is not JSON or longer than its limit (`maxEventLineBytes` for events,
    ///   `maxResultLineBytes` for any line, checked before the line ends).
    func predict(_ body: JSONValue, event: (JSONValue) async throws -> Void) async throws -> (status: Int, body: JSONValue) {
        var request = HTTPClientRequest(url: try url("/predict"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        // No overall deadline: a request runs as long as the model needs; a dead runner
        // breaks the connection, which ends the wait.
        let response = try await http.execute(request, deadline: .distantFuture)
        guard response.status == .ok else {
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), (try? JSONValue(parsing: Data(bytes.readableBytesView))) ?? .null)
        }
        var pending: [UInt8] = []
        // Bytes of `pending` already searched for a newline: a long line is scanned once.
        var scanned = 0
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[..<newline]
                defer {
                    pending.removeSubrange(...newline)
                    scanned = 0
                }
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                let json: JSONValue
                do { json = try JSONValue(parsing: Data(line)) } catch {
                    throw ExternalRunnerError.protocolViolation("predict line is not JSON: \(String(decoding: line.prefix(200), as: UTF8.self))")
                }
                let type = json["type"]?.stringValue
                if line.count > maxEventLineBytes, type != "result", type != "error" {
                    throw ExternalRunnerError.protocolViolation(
                        "a \(type ?? "untyped") line of \(line.count) bytes exceeds max_event_line_bytes (\(maxEventLineBytes))")
                }
                try await event(json)
            }
            scanned = pending.count
            guard pending.count <= maxResultLineBytes else {
                throw ExternalRunnerError.protocolViolation(
                    "a line longer than max_result_line_bytes (\(maxResultLineBytes)) without an end")
            }
        }
        return (200, .null)
    }
}
