import APITypes
import Foundation
import ModelKit
import NIOHTTP1

extension PeregrineClient {
    /// Submits a request to the queue.
    /// - Parameters:
    ///   - endpoint: `owner/alias[/path]`.
    ///   - input: the request body.
    ///   - headers: extra headers (`X-Fal-Queue-Priority`, `X-Fal-Request-Timeout`, ...).
    ///   - webhook: `fal_webhook` URL, if any.
    /// - Returns: the request id and its URLs.
    /// - Throws: ``ClientError`` (422 with ``ClientError/validationIssues`` for a bad input).
    public func submit(_ endpoint: String, input: JSONValue, headers: [String: String] = [:], webhook: String? = nil) async throws -> SubmitResponse {
        var url = "\(baseURL)/queue/\(Self.path(endpoint))"
        if let webhook, let q = webhook.addingPercentEncoding(withAllowedCharacters: .alphanumerics) { url += "?fal_webhook=\(q)" }
        return try await send(.POST, url, body: input.encoded(), headers: headers, as: SubmitResponse.self)
    }

    /// The status of a request.
    /// - Parameters:
    ///   - endpoint: the endpoint it was submitted to (`owner/alias` is enough).
    ///   - requestID: its id.
    ///   - logs: include its log lines.
    /// - Throws: ``ClientError`` (404 for an unknown request).
    public func status(_ endpoint: String, requestID: String, logs: Bool = false) async throws -> QueueStatus {
        try await send(.GET, statusURL(endpoint, requestID: requestID, logs: logs), as: QueueStatus.self)
    }

    /// The status of a submitted request.
    public func status(_ submitted: SubmitResponse, logs: Bool = false) async throws -> QueueStatus {
        try await send(.GET, submitted.statusURL + (logs ? "?logs=1" : ""), as: QueueStatus.self)
    }

    /// The result of a finished request: the model's output.
    /// - Throws: ``ClientError`` with the model's status and body when the request failed (a
    ///   stored 5xx is not retried), 400 while it is still running.
    public func result(_ endpoint: String, requestID: String) async throws -> JSONValue {
        try await send(.GET, "\(queueBase(endpoint))/requests/\(Self.escape(requestID))", outcome: true, as: JSONValue.self)
    }

    /// Asks for cancellation.
    /// - Returns: fal's cancel status: `CANCELLATION_REQUESTED`, `ALREADY_COMPLETED` or `NOT_FOUND`.
    /// - Throws: ``ClientError`` for any other answer.
    public func cancel(_ endpoint: String, requestID: String) async throws -> CancelResponse {
        try await retrying {
            let answer = try await raw(.PUT, "\(queueBase(endpoint))/requests/\(Self.escape(requestID))/cancel", body: nil, headers: [:])
            if [200, 202, 400, 404].contains(answer.status), let body = try? JSONDecoder().decode(CancelResponse.self, from: answer.body) {
                return body
            }
            throw ClientError(status: answer.status, body: answer.body, headers: answer.headers)
        }
    }

    /// The status on every change, over the server-sent event stream, until `COMPLETED` (the
    /// last element). A dropped connection is reopened under the retry policy.
    /// - Parameters:
    ///   - endpoint: the endpoint the request was submitted to.
    ///   - requestID: its id.
    ///   - logs: include log lines (each status carries all lines so far).
    public func statusStream(_ endpoint: String, requestID: String, logs: Bool = false) -> AsyncThrowingStream<QueueStatus, any Error> {
        let url = statusURL(endpoint, requestID: requestID, logs: logs, stream: true)
        let client = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var tries = 0
                    while true {
                        tries += 1
                        var completed = false
                        var received = false
                        do {
                            try await client.events(.GET, url, body: nil) { payload in
                                let status: QueueStatus
                                do { status = try JSONDecoder().decode(QueueStatus.self, from: payload) } catch {
                                    throw ClientError(.invalidResponse, underlying: error, body: payload)
                                }
                                received = true
                                continuation.yield(status)
                                completed = status.status == .completed
                                return !completed
                            }
                            if completed { break }
                            throw ClientError(.transport, underlying: StreamEnded())
                        } catch let error as ClientError {
                            // A stream that delivered something earns a fresh set of tries.
                            if received { tries = 1 }
                            guard tries < client.retry.maxAttempts, RetryPolicy.shouldRetry(error) else { throw error }
                            try await client.retry.sleep(client.retry.delay(retry: tries, retryAfter: error.retryAfter))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// How ``subscribe(_:input:logs:mode:headers:webhook:onEnqueue:onUpdate:)`` follows a request.
    public enum FollowMode: Sendable, Equatable {
        /// The server-sent status stream.
        case stream
        /// Status polls, this far apart (waits go through the retry policy's `sleep`).
        case poll(every: Duration)
    }

    /// Submits, follows the request until it completes, and returns its result (fal's `subscribe`).
    /// - Parameters:
    ///   - endpoint: `owner/alias[/path]`.
    ///   - input: the request body.
    ///   - logs: ask for log lines in the updates.
    ///   - mode: stream (default) or poll.
    ///   - headers: extra submit headers.
    ///   - webhook: `fal_webhook` URL, if any.
    ///   - onEnqueue: called with the request id once submitted.
    ///   - onUpdate: called with each status.
    /// - Returns: the model's output.
    /// - Throws: ``ClientError``: the submit's, or the result's when the request failed.
    public func subscribe(
        _ endpoint: String, input: JSONValue, logs: Bool = false, mode: FollowMode = .stream, headers: [String: String] = [:],
        webhook: String? = nil, onEnqueue: @Sendable (String) -> Void = { _ in }, onUpdate: @Sendable (QueueStatus) -> Void = { _ in }
    ) async throws -> JSONValue {
        let submitted = try await submit(endpoint, input: input, headers: headers, webhook: webhook)
        onEnqueue(submitted.requestID)
        try await follow(endpoint, requestID: submitted.requestID, logs: logs, mode: mode, onUpdate: onUpdate)
        return try await result(endpoint, requestID: submitted.requestID)
    }

    /// Waits until a request completes, reporting each status.
    /// - Returns: the `COMPLETED` status.
    @discardableResult
    public func follow(
        _ endpoint: String, requestID: String, logs: Bool = false, mode: FollowMode = .stream,
        onUpdate: @Sendable (QueueStatus) -> Void = { _ in }
    ) async throws -> QueueStatus {
        switch mode {
        case .stream:
            for try await status in statusStream(endpoint, requestID: requestID, logs: logs) {
                onUpdate(status)
                if status.status == .completed { return status }
            }
            throw ClientError(.invalidResponse, underlying: StreamEnded())
        case .poll(let interval):
            while true {
                let status = try await self.status(endpoint, requestID: requestID, logs: logs)
                onUpdate(status)
                if status.status == .completed { return status }
                try await retry.sleep(interval)
            }
        }
    }

    func statusURL(_ endpoint: String, requestID: String, logs: Bool, stream: Bool = false) -> String {
        "\(queueBase(endpoint))/requests/\(Self.escape(requestID))/status" + (stream ? "/stream" : "") + (logs ? "?logs=1" : "")
    }
}

/// A status stream that closed before its request completed.
struct StreamEnded: Error, CustomStringConvertible {
    var description: String { "the status stream ended before the request completed" }
}
