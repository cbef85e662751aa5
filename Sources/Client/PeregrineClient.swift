import APITypes
import AsyncHTTPClient
import Foundation
import ModelKit
import NIOCore
import NIOHTTP1
import NIOSSL

/// A Swift SDK for a Peregrine (or any fal-compatible) server: queue submit, status, status
/// stream, result, cancel, subscribe, synchronous run, uploads, and the admin reads behind
/// `peregrine ps`. Every call is retried as fal's clients retry (see ``RetryPolicy``) and fails
/// with a ``ClientError``.
///
/// ```swift
/// let http = try PeregrineClient.makeHTTPClient(trusting: "/path/to/cert.pem")
/// let client = PeregrineClient(baseURL: "https://127.0.0.1:8443", key: "id:secret", httpClient: http)
/// let output = try await client.subscribe("peregrine/realesr-animevideov3", input: ["image_url": .string(url)])
/// try await http.shutdown()
/// ```
public struct PeregrineClient: Sendable {
    /// `https://host:port` of the server (queue under `/queue`, runs under `/run`).
    public let baseURL: String
    /// `id:secret`, sent as `Authorization: Key ...`; `nil` for servers without auth.
    public let key: String?
    let http: HTTPClient
    /// Largest response body accepted.
    public var maxResponseBytes = 256 << 20
    /// How calls are retried.
    public var retry: RetryPolicy
    /// Longest time one HTTP exchange (not a status stream) may take.
    public var requestTimeout: Duration = .seconds(600)
    /// Bytes above which an upload is sent in parts (the server's default limit is 100 MiB per
    /// request).
    public var multipartThreshold = 90 << 20
    /// Size of one part of a multipart upload.
    public var partSize = 10 << 20

    /// - Parameters:
    ///   - baseURL: scheme, host and port.
    ///   - key: the API key, if the server wants one.
    ///   - httpClient: the HTTP client to use (its owner shuts it down); see ``makeHTTPClient(trusting:)``.
    ///   - retry: how failed calls are retried.
    public init(baseURL: String, key: String?, httpClient: HTTPClient, retry: RetryPolicy = RetryPolicy()) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.key = key
        http = httpClient
        self.retry = retry
    }

    /// An HTTP client that trusts the certificate in `certificatePath` (the server's self-signed
    /// certificate) and nothing else, or the system roots when `nil`.
    /// - Throws: when the certificate cannot be read.
    public static func makeHTTPClient(trusting certificatePath: String?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificatePath {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificatePath))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10))
        // A refused connection fails at once and the retry policy decides what follows; left on,
        // the HTTP client would retry it silently until each request's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    // MARK: Plumbing

    /// One answer: status, body and headers.
    public typealias Answer = (status: Int, body: Data, headers: [(String, String)])

    /// Sends one request, retried by ``retry``, and decodes a 2xx body as `T`.
    func send<T: Decodable>(
        _ method: HTTPMethod, _ url: String, body: Data? = nil, headers: [String: String] = [:], authenticated: Bool = true,
        outcome: Bool = false, as type: T.Type
    ) async throws -> T {
        let answer = try await exchange(method, url, body: body, headers: headers, authenticated: authenticated, outcome: outcome)
        do {
            return try JSONDecoder().decode(T.self, from: answer.body)
        } catch {
            throw ClientError(.invalidResponse, underlying: error, body: answer.body)
        }
    }

    /// Sends one request, retried by ``retry``, and answers a 2xx answer.
    /// - Parameter outcome: true when a 5xx is the request's stored outcome (not retried).
    /// - Throws: ``ClientError`` for anything else, once retries are spent.
    func exchange(
        _ method: HTTPMethod, _ url: String, body: Data?, headers: [String: String], authenticated: Bool = true,
        outcome: Bool = false
    ) async throws -> Answer {
        try await retrying(outcome: outcome) {
            let answer = try await raw(method, url, body: body, headers: headers, authenticated: authenticated)
            guard (200..<300).contains(answer.status) else {
                throw ClientError(status: answer.status, body: answer.body, headers: answer.headers)
            }
            return answer
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy's tries are spent.
    func retrying<T>(outcome: Bool = false, _ attempt: () async throws -> T) async throws -> T {
        var tries = 0
        while true {
            tries += 1
            do {
                return try await attempt()
            } catch let error as ClientError {
                guard tries < retry.maxAttempts, RetryPolicy.shouldRetry(error, serverErrorsAreOutcome: outcome) else { throw error }
                try await retry.sleep(retry.delay(retry: tries, retryAfter: error.retryAfter))
            }
        }
    }

    /// One request, no retries; any HTTP status is an answer.
    /// - Throws: ``ClientError`` with ``ClientError/Code-swift.struct/transport`` when no answer came.
    public func raw(
        _ method: HTTPMethod, _ url: String, body: Data?, headers: [String: String], authenticated: Bool = true
    ) async throws -> Answer {
        try await execute(makeRequest(method, url, body: body, headers: headers, authenticated: authenticated))
    }

    /// Executes one prepared request; any HTTP status is an answer.
    func execute(_ request: HTTPClientRequest) async throws -> Answer {
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(requestTimeout.nanosecondsClamped))
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            return (Int(response.status.code), Data(buffer.readableBytesView), response.headers.map { ($0.name, $0.value) })
        } catch let error as CancellationError {
            throw error
        } catch {
            throw ClientError(.transport, underlying: error)
        }
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

    /// `base/queue/{owner}/{alias}`: queue follow-up URLs name the app only.
    func queueBase(_ endpoint: String) -> String {
        "\(baseURL)/queue/" + endpoint.split(separator: "/").prefix(2).map(Self.escape).joined(separator: "/")
    }

    /// `endpoint` with each path segment percent-encoded.
    static func path(_ endpoint: String) -> String {
        endpoint.split(separator: "/").map(escape).joined(separator: "/")
    }

    static func escape<S: StringProtocol>(_ segment: S) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? String(segment)
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? 0 : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? .max : max(0, sum)
    }
}

enum JSON {
    static func encode<T: Encodable>(_ value: T) -> Data {
        (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    }
}
