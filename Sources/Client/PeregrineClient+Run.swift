import AsyncHTTPClient
import Foundation
import ModelKit
import NIOHTTP1

extension PeregrineClient {
    /// Runs synchronously (`POST /run/{endpoint}`) and returns the output.
    /// - Throws: ``ClientError``; the model's own failures are not retried.
    public func run(_ endpoint: String, input: JSONValue, headers: [String: String] = [:]) async throws -> JSONValue {
        try await send(.POST, "\(baseURL)/run/\(Self.path(endpoint))", body: input.encoded(), headers: headers, outcome: true, as: JSONValue.self)
    }

    /// `POST /run/{endpoint}/stream`: every event as JSON (progress, previews); the last one is
    /// the output. Opening the stream is retried; a stream cut short is not (the run is gone).
    public func runStream(_ endpoint: String, input: JSONValue) -> AsyncThrowingStream<JSONValue, any Error> {
        let url = "\(baseURL)/run/\(Self.path(endpoint))/stream"
        let body = input.encoded()
        let client = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var opened = false
                    try await client.retrying(outcome: true) {
                        guard !opened else { return }
                        try await client.events(.POST, url, body: body) { payload in
                            opened = true
                            do { continuation.yield(try JSONValue(parsing: payload)) } catch {
                                throw ClientError(.invalidResponse, underlying: error, body: payload)
                            }
                            return true
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

    /// Reads one server-sent event stream, handing each `data:` payload to `onEvent` until it
    /// returns false or the stream ends.
    /// - Throws: ``ClientError``: the answer's when it is not 200, transport otherwise.
    func events(_ method: HTTPMethod, _ url: String, body: Data?, onEvent: (Data) throws -> Bool) async throws {
        let request = makeRequest(method, url, body: body, headers: ["Accept": "text/event-stream"])
        let response: HTTPClientResponse.Body
        do {
            let answer = try await http.execute(request, timeout: .hours(24))
            guard answer.status.code == 200 else {
                let data = try await answer.body.collect(upTo: 1 << 20)
                throw ClientError(status: Int(answer.status.code), body: Data(data.readableBytesView), headers: answer.headers.map { ($0.name, $0.value) })
            }
            response = answer.body
        } catch let error as ClientError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw ClientError(.transport, underlying: error)
        }
        var parser = EventParser()
        do {
            for try await chunk in response {
                for payload in try parser.feed(Data(chunk.readableBytesView)) where try !onEvent(payload) { return }
            }
        } catch let error as ClientError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch let error as EventParser.TooLarge {
            throw ClientError(.invalidResponse, underlying: error)
        } catch {
            throw ClientError(.transport, underlying: error)
        }
    }
}
