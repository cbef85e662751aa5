import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small HTTPS client for the system tests, trusting the server's self-signed certificate.
struct TestHTTP: Sendable {
    let client: HTTPClient
    let base: String

    init(base: String, certificate: String) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.base = base
    }

    /// Sends a request and returns status and JSON body (or `nil` when not JSON).
    func send(_ method: HTTPMethod, _ path: String, json: Any? = nil) async throws -> (status: Int, body: [String: Any]?) {
        let answer = try await exchange(method, path, json: json)
        return (answer.status, answer.body)
    }

    /// Sends a request and returns status, headers and JSON body (or `nil` when not JSON).
    func exchange(_ method: HTTPMethod, _ path: String, json: Any? = nil) async throws
        -> (status: Int, headers: HTTPHeaders, body: [String: Any]?)
    {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        let object = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
        return (Int(response.status.code), response.headers, object)
    }

    /// Raw bytes of a GET.
    func get(_ path: String) async throws -> Data {
        let response = try await client.execute(HTTPClientRequest(url: base + path), timeout: .seconds(30))
        return Data(try await response.body.collect(upTo: 32 << 20).readableBytesView)
    }

    func shutdown() async throws { try await client.shutdown() }
}

/// Runs `body` with a client and shuts the client down whether `body` returns or throws.
func withHTTP<T>(base: String, certificate: String, _ body: (TestHTTP) async throws -> T) async throws -> T {
    let http = try TestHTTP(base: base, certificate: certificate)
    do {
        let result = try await body(http)
        try await http.shutdown()
        return result
    } catch {
        try? await http.shutdown()
        throw error
    }
}

/// Polls `condition` until it holds or `timeout` passes; the deadline makes a hang a failure.
func eventually(timeout: TimeInterval, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw SystemTestError("timed out after \(Int(timeout)) s waiting for: \(what)")
}
