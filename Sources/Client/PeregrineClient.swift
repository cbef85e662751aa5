import APITypes
import AsyncHTTPClient
import Foundation
import ModelKit
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small Swift SDK for a Peregrine (or any fal-compatible) server: queue submit, status,
/// status stream, result, cancel, synchronous run and uploads.
public struct PeregrineClient: Sendable {
    /// `https://host:port` of the server (queue under `/queue`, runs under `/run`).
    public let baseURL: String
    /// `id:secret`, sent as `Authorization: Key ...`; `nil` for servers without auth.
    public let key: String?
    let http: HTTPClient
    /// Largest response body accepted.
    public var maxResponseBytes = 256 << 20

    /// - Parameters:
    ///   - baseURL: scheme, host and port.
    ///   - key: the API key, if the server wants one.
    ///   - httpClient: the HTTP client to use (its owner shuts it down); see `makeHTTPClient`.
    public init(baseURL: String, key: String?, httpClient: HTTPClient) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.key = key
        http = httpClient
    }

    /// An HTTP client that trusts the certificate in `certificatePath` (the server's self-signed
    /// certificate) in addition to nothing else, or the system roots when `nil`.
    /// - Throws: when the certificate cannot be read.
    public static func makeHTTPClient(trusting certificatePath: String?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificatePath {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificatePath))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    // MARK: Queue

    /// Submits a request to the queue.
    /// - Parameters:
    ///   - endpoint: `owner/alias[/path]`.
    ///   - input: the request body.
    ///   - headers: extra headers (`X-Fal-Queue-Priority`, `X-Fal-Request-Timeout`, ...).
    ///   - webhook: `fal_webhook` URL, if any.
    /// - Throws: `ClientError` for non-2xx answers.
    public func submit(_ endpoint: String, input: JSONValue, headers: [String: String] = [:], webhook: String? = nil) async throws -> SubmitResponse {
        var url = "\(baseURL)/queue/\(endpoint)"
        if let webhook, let q = webhook.addingPercentEncoding(withAllowedCharacters: .alphanumerics) { url += "?fal_webhook=\(q)" }
        return try await send(.POST, url, body: input.encoded(), headers: headers, as: SubmitResponse.self)
    }

    /// The status of a request (`statusURL` from `submit`).
    public func status(_ submitted: SubmitResponse, logs: Bool = false) async throws -> QueueStatus {
        try await send(.GET, submitted.statusURL + (logs ? "?logs=1" : ""), as: QueueStatus.self)
    }

    /// The status of a request by endpoint and id.
    public func status(_ endpoint: String, requestID: String, logs: Bool = false) async throws -> QueueStatus {
        try await send(.GET, "\(queueBase(endpoint))/requests/\(requestID)/status" + (logs ? "?logs=1" : ""), as: QueueStatus.self)
    }

    /// Status updates over server-sent events until the request completes.
    public func statusUpdates(_ endpoint: String, requestID: String, logs: Bool = false) -> AsyncThrowingStream<QueueStatus, any Error> {
        let url = "\(queueBase(endpoint))/requests/\(requestID)/status/stream" + (logs ? "?logs=1" : "")
        return events(.GET, url, body: nil) { try JSONDecoder().decode(QueueStatus.self, from: $0) }
    }

    /// The result of a finished request: the model's output.
    /// - Throws: `ClientError` with the model's status and body when it failed.
    public func result(_ endpoint: String, requestID: String) async throws -> JSONValue {
        try await send(.GET, "\(queueBase(endpoint))/requests/\(requestID)", as: JSONValue.self)
    }

    /// Asks for cancellation; answers fal's cancel status (`CANCELLATION_REQUESTED`, ...).
    public func cancel(_ endpoint: String, requestID: String) async throws -> CancelResponse {
        let (status, data, _) = try await raw(.PUT, "\(queueBase(endpoint))/requests/\(requestID)/cancel", body: nil, headers: [:])
        guard let body = try? JSONDecoder().decode(CancelResponse.self, from: data) else {
            throw ClientError(status: status, body: data)
        }
        return body
    }

    /// Submits, follows the status stream and returns the result.
    /// - Parameter onUpdate: called with each status.
    public func subscribe(
        _ endpoint: String, input: JSONValue, logs: Bool = false, onUpdate: @Sendable (QueueStatus) -> Void = { _ in }
    ) async throws -> JSONValue {
        let submitted = try await submit(endpoint, input: input)
        for try await status in statusUpdates(endpoint, requestID: submitted.requestID, logs: logs) {
            onUpdate(status)
            if status.status == .completed { break }
        }
        return try await result(endpoint, requestID: submitted.requestID)
    }

    // MARK: Run

    /// Runs synchronously (`POST /run/{endpoint}`) and returns the output.
    public func run(_ endpoint: String, input: JSONValue, headers: [String: String] = [:]) async throws -> JSONValue {
        try await send(.POST, "\(baseURL)/run/\(endpoint)", body: input.encoded(), headers: headers, as: JSONValue.self)
    }

    /// `POST /run/{endpoint}/stream`: every event as JSON; the last one is the output.
    public func stream(_ endpoint: String, input: JSONValue) -> AsyncThrowingStream<JSONValue, any Error> {
        events(.POST, "\(baseURL)/run/\(endpoint)/stream", body: input.encoded()) { try JSONValue(parsing: $0) }
    }

    // MARK: Files

    /// Uploads bytes the way fal's JS client does and returns the file URL.
    public func upload(_ data: Data, contentType: String, fileName: String) async throws -> String {
        let initiate = try await send(
            .POST, "\(baseURL)/storage/upload/initiate?storage_type=fal-cdn-v3",
            body: JSON.encode(UploadInitiateRequest(contentType: contentType, fileName: fileName)), as: UploadInitiateResponse.self)
        let (status, body, _) = try await raw(.PUT, initiate.uploadURL, body: data, headers: ["Content-Type": contentType], authenticated: false)
        guard (200..<300).contains(status) else { throw ClientError(status: status, body: body) }
        return initiate.fileURL
    }

    /// Downloads a file URL.
    public func download(_ url: String) async throws -> Data {
        let (status, body, _) = try await raw(.GET, url, body: nil, headers: [:], authenticated: false)
        guard (200..<300).contains(status) else { throw ClientError(status: status, body: body) }
        return body
    }

    // MARK: Plumbing

    /// `base/queue/{owner}/{alias}`: queue follow-up URLs name the app only.
    func queueBase(_ endpoint: String) -> String {
        "\(baseURL)/queue/" + endpoint.split(separator: "/").prefix(2).joined(separator: "/")
    }

    func send<T: Decodable>(
        _ method: HTTPMethod, _ url: String, body: Data? = nil, headers: [String: String] = [:], as type: T.Type
    ) async throws -> T {
        let (status, data, _) = try await raw(method, url, body: body, headers: headers)
        guard (200..<300).contains(status) else { throw ClientError(status: status, body: data) }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ClientError(status: status, body: data)
        }
    }

    /// One request; answers status, body and headers.
    public func raw(
        _ method: HTTPMethod, _ url: String, body: Data?, headers: [String: String], authenticated: Bool = true
    ) async throws -> (status: Int, body: Data, headers: [(String, String)]) {
        let request = makeRequest(method, url, body: body, headers: headers, authenticated: authenticated)
        let response = try await http.execute(request, timeout: .seconds(600))
        let buffer = try await response.body.collect(upTo: maxResponseBytes)
        return (Int(response.status.code), Data(buffer.readableBytesView), response.headers.map { ($0.name, $0.value) })
    }

    func makeRequest(_ method: HTTPMethod, _ url: String, body: Data?, headers: [String: String], authenticated: Bool = true) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if authenticated, let key { request.headers.add(name: "Authorization", value: "Key \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        return request
    }

    /// Server-sent events of one request, each `data:` payload decoded by `decode`.
    func events<T: Sendable>(
        _ method: HTTPMethod, _ url: String, body: Data?, decode: @escaping @Sendable (Data) throws -> T
    ) -> AsyncThrowingStream<T, any Error> {
        let request = makeRequest(method, url, body: body, headers: ["Accept": "text/event-stream"])
        let http = self.http
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await http.execute(request, timeout: .hours(24))
                    guard response.status.code == 200 else {
                        let data = try await response.body.collect(upTo: 1 << 20)
                        throw ClientError(status: Int(response.status.code), body: Data(data.readableBytesView))
                    }
                    var parser = EventParser()
                    for try await chunk in response.body {
                        for payload in parser.feed(Data(chunk.readableBytesView)) { continuation.yield(try decode(payload)) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// A non-2xx answer.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    /// HTTP status.
    public var status: Int
    /// Raw body.
    public var body: Data

    /// - Parameters:
    ///   - status: HTTP status.
    ///   - body: raw body.
    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }

    /// `detail` of a fal-shaped error body, as text.
    public var detail: String {
        if let value = try? JSONValue(parsing: body), let detail = value["detail"] {
            return detail.stringValue ?? String(decoding: detail.encoded(), as: UTF8.self)
        }
        return String(decoding: body.prefix(500), as: UTF8.self)
    }

    public var description: String { "HTTP \(status): \(detail)" }
}

/// Splits a server-sent event stream into `data:` payloads (comments and other fields skipped).
struct EventParser {
    private var buffer = Data()

    mutating func feed(_ bytes: Data) -> [Data] {
        buffer.append(bytes)
        var events: [Data] = []
        while let range = buffer.range(of: Data("\n\n".utf8)) {
            let block = buffer.subdata(in: buffer.startIndex..<range.lowerBound)
            buffer.removeSubrange(buffer.startIndex..<range.upperBound)
            var payload = Data()
            for line in block.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                if line.starts(with: Data("data:".utf8)) {
                    var value = line.dropFirst(5)
                    if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
                    if !payload.isEmpty { payload.append(UInt8(ascii: "\n")) }
                    payload.append(contentsOf: value)
                }
            }
            if !payload.isEmpty { events.append(payload) }
        }
        return events
    }
}

enum JSON {
    static func encode<T: Encodable>(_ value: T) -> Data {
        (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    }
}
