import BlobStore
import Crypto
import Foundation
import Hummingbird
import ModelKit
import NIOConcurrencyHelpers
import NIOCore
@testable import Platform
import Testing

@testable import Server

/// A request body that records whether anyone asked for a byte of it, then yields `chunks`
/// chunks of `chunkSize` bytes (pass 0 chunks for a body that must never be read).
struct RecordingUploadBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let consumed = NIOLockedValueBox(false)
    var chunks: Int
    var chunkSize: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let consumed: NIOLockedValueBox<Bool>
        var remaining: Int
        let chunkSize: Int
        mutating func next() async throws -> ByteBuffer? {
            consumed.withLockedValue { $0 = true }
            guard remaining > 0 else { return nil }
            remaining -= 1
            return ByteBuffer(repeating: UInt8(truncatingIfNeeded: remaining), count: chunkSize)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumed: consumed, remaining: chunks, chunkSize: chunkSize) }

    /// The bytes this body yields, for checking what was stored.
    var bytes: Data {
        var data = Data()
        for left in (0..<chunks).reversed() { data.append(Data(repeating: UInt8(truncatingIfNeeded: left), count: chunkSize)) }
        return data
    }
}

/// A body that yields one chunk, announces it, then waits until `release()` before ending.
final class GatedUploadBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let (announcements, announce) = AsyncStream<Void>.makeStream()
    let (releases, releaser) = AsyncStream<Void>.makeStream()

    func release() { releaser.finish() }

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: GatedUploadBody
        var step = 0
        mutating func next() async throws -> ByteBuffer? {
            step += 1
            switch step {
            case 1:
                body.announce.yield()
                return ByteBuffer(string: "first")
            case 2:
                for await _ in body.releases {}
                return ByteBuffer(string: "-last")
            default:
                return nil
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}

/// Fails the test instead of hanging when `body` does not finish within a generous deadline.
func withUploadDeadline<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(60))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let value = first else { throw HarnessError("\(what) did not happen in time") }
        return value
    }
}

extension Harness {
    /// The platform's API, answering requests with bodies of the test's own making.
    var directResponder: APIResponder { APIResponder(services: services, scheme: "https") }

    /// Sends one request straight to the API.
    func sendDirect<Body: AsyncSequence & Sendable>(
        _ method: HTTPRequest.Method, _ path: String, body: Body, headers: HTTPFields = [:]
    ) async throws -> Response where Body.Element == ByteBuffer, Body.AsyncIterator: SendableMetatype {
        let head = HTTPRequest(method: method, scheme: "https", authority: "127.0.0.1:8443", path: path, headerFields: headers)
        return try await directResponder.answer(Request(head: head, body: RequestBody(asyncSequence: body)))
    }

    /// Starts an upload through the JS route; answers its id.
    func initiateUpload(headers: HTTPFields = [:]) async throws -> String {
        var h = headers
        h[.contentType] = "application/json"
        let response = try await sendDirect(
            .post, "/storage/upload/initiate-multipart", body: uploadBody(#"{"file_name":"f.bin"}"#),
            headers: h)
        #expect(response.status == .ok)
        let json = try JSONValue(parsing: try await uploadResponseBody(response))
        let url = try #require(json["upload_url"]?.stringValue)
        return String(url.split(separator: "/").last!)
    }

    func removeHome() { try? FileManager.default.removeItem(at: platform.configuration.home) }
}

/// A one-chunk body holding `text`.
func uploadBody(_ text: String) -> AsyncStream<ByteBuffer> {
    AsyncStream { continuation in
        continuation.yield(ByteBuffer(string: text))
        continuation.finish()
    }
}

/// The whole body of a response.
func uploadResponseBody(_ response: Response) async throws -> Data {
    let collector = UploadBodyCollector()
    try await response.body.write(collector)
    return collector.data.withLockedValue({ $0 })
}

final class UploadBodyCollector: ResponseBodyWriter, @unchecked Sendable {
    let data = NIOLockedValueBox(Data())
    func write(_ buffer: ByteBuffer) async throws { data.withLockedValue { $0.append(contentsOf: buffer.readableBytesView) } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// The `detail` or `error_type` of an error answer.
func uploadErrorType(_ response: Response) async throws -> String? {
    let json = try JSONValue(parsing: try await uploadResponseBody(response))
    return json["error_type"]?.stringValue ?? json["detail"]?.stringValue
}

@Suite("Upload hardening")
struct UploadHardeningTests {
    static let unknown = "0123456789abcdef0123456789abcdef"

    @Test(
        "an unknown upload id is answered 404 before a byte of the body is read",
        arguments: [
            "/storage/upload/\(unknown)", "/storage/upload/\(unknown)/1", "/files/\(unknown)/f.bin/multipart/\(unknown)/1",
        ])
    func unknownUploadIsRefusedUnread(path: String) async throws {
        let h = try Harness.make()
        defer { h.removeHome() }
        let body = RecordingUploadBody(chunks: 10, chunkSize: 1 << 20)
        let response = try await h.sendDirect(.put, path, body: body)
        #expect(response.status == .notFound)
        #expect(try await uploadErrorType(response) == "Upload not found")
        #expect(body.consumed.withLockedValue({ $0 }) == false)
        let complete = RecordingUploadBody(chunks: 1, chunkSize: 10)
        let completion = try await h.sendDirect(.post, "/storage/upload/\(Self.unknown)/complete", body: complete)
        #expect(completion.status == .notFound)
        #expect(complete.consumed.withLockedValue({ $0 }) == false)
    }

    @Test("POST /files/upload without credentials is refused before its body is read")
    func unauthenticatedUploadIsRefusedUnread() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        defer { h.removeHome() }
        let body = RecordingUploadBody(chunks: 10, chunkSize: 1 << 20)
        let response = try await h.sendDirect(.post, "/files/upload", body: body)
        #expect(response.status == .unauthorized)
        #expect(body.consumed.withLockedValue({ $0 }) == false)
    }

    @Test("a large upload is streamed to disk: the largest chunk held stays the transport's, whatever the size")
    func largeUploadIsStreamed() async throws {
        let h = try Harness.make()
        defer { h.removeHome() }
        let chunk = 64 << 10
        // Whole-file PUT to the upload URL.
        let upload = try await h.initiateUpload()
        let body = RecordingUploadBody(chunks: 256, chunkSize: chunk)
        let put = try await h.sendDirect(.put, "/storage/upload/\(upload)", body: body)
        #expect(put.status == .ok)
        let stored = try #require(try await h.platform.blobs.get(id: upload))
        #expect(stored.metadata.size == Int64(256 * chunk))
        #expect(stored.data == body.bytes)
        #expect(stored.metadata.sha256 == SHA256.hash(data: body.bytes).map { String(format: "%02x", $0) }.joined())
        // A multipart part and a Python upload take the same path.
        let multipart = try await h.initiateUpload()
        #expect(try await h.sendDirect(.put, "/storage/upload/\(multipart)/1", body: RecordingUploadBody(chunks: 64, chunkSize: chunk)).status == .ok)
        #expect(try await h.sendDirect(.post, "/files/upload", body: RecordingUploadBody(chunks: 64, chunkSize: chunk)).status == .ok)
        #expect(h.services.uploadGate.largestChunk == chunk)
        // Nothing is left half-written.
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.platform.blobs.root + "/tmp").isEmpty)
    }

    @Test("a body past the upload limit is cut off with 413 and leaves nothing behind")
    func oversizedBodyIsCutOff() async throws {
        let h = try Harness.make { $0.maxUploadBytes = 1000 }
        defer { h.removeHome() }
        let upload = try await h.initiateUpload()
        let response = try await h.sendDirect(.put, "/storage/upload/\(upload)", body: RecordingUploadBody(chunks: 3, chunkSize: 400))
        #expect(response.status == .contentTooLarge)
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.platform.blobs.root + "/tmp").isEmpty)
        // A declared length over the limit is refused before the body is read.
        let declared = RecordingUploadBody(chunks: 3, chunkSize: 400)
        let refused = try await h.sendDirect(.put, "/storage/upload/\(upload)", body: declared, headers: [.contentLength: "1200"])
        #expect(refused.status == .contentTooLarge)
        #expect(declared.consumed.withLockedValue({ $0 }) == false)
        // The upload is still there and takes a body that fits.
        #expect(try await h.sendDirect(.put, "/storage/upload/\(upload)", body: RecordingUploadBody(chunks: 2, chunkSize: 500)).status == .ok)
    }

    @Test("over the concurrent upload cap an upload is answered 503 with Retry-After, unread")
    func concurrencyCap() async throws {
        let h = try Harness.make { $0.maxConcurrentUploads = 1 }
        defer { h.removeHome() }
        let first = try await h.initiateUpload()
        let second = try await h.initiateUpload()
        let gated = GatedUploadBody()
        let inFlight = Task { try await h.sendDirect(.put, "/storage/upload/\(first)", body: gated) }
        // The first upload holds the only slot once its body is being read.
        _ = try await withUploadDeadline("first upload reading its body") {
            for await _ in gated.announcements { return true }
            return false
        }
        let waiting = RecordingUploadBody(chunks: 1, chunkSize: 10)
        let refused = try await h.sendDirect(.put, "/storage/upload/\(second)", body: waiting)
        #expect(refused.status == .serviceUnavailable)
        #expect(refused.headers[.retryAfter] == "1")
        #expect(try await uploadErrorType(refused) == "server_busy")
        #expect(waiting.consumed.withLockedValue({ $0 }) == false)
        gated.release()
        let done = try await withUploadDeadline("first upload") { try await inFlight.value }
        #expect(done.status == .ok)
        #expect(try await h.platform.blobs.get(id: first)?.data == Data("first-last".utf8))
        // The slot is free again.
        #expect(try await h.sendDirect(.put, "/storage/upload/\(second)", body: RecordingUploadBody(chunks: 1, chunkSize: 10)).status == .ok)
        #expect(h.services.uploadGate.active == 0)
    }

    @Test("a body that does not arrive within the upload timeout is answered 408 and frees its slot")
    func slowBodyTimesOut() async throws {
        let h = try Harness.make {
            $0.uploadTimeout = 0.05
            $0.maxConcurrentUploads = 1
        }
        defer { h.removeHome() }
        let upload = try await h.initiateUpload()
        // One chunk, then nothing until the test ends: the body cannot finish before the deadline.
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        continuation.yield(ByteBuffer(string: "trickle"))
        let response = try await withUploadDeadline("timeout answer") { try await h.sendDirect(.put, "/storage/upload/\(upload)", body: stream) }
        continuation.finish()
        #expect(response.status == .requestTimeout)
        #expect(h.services.uploadGate.active == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.platform.blobs.root + "/tmp").isEmpty)
        #expect(try await h.platform.blobs.upload(id: upload) != nil)
    }

    @Test("a key may have only so many uploads in progress; completing one makes room")
    func pendingUploadsPerKey() async throws {
        let h = try Harness.make {
            $0.authEnabled = true
            $0.maxPendingUploadsPerKey = 2
        }
        defer { h.removeHome() }
        let (key, secret) = try await h.platform.keys.createKey(name: "a", now: Date())
        let auth: HTTPFields = [.authorization: "Key \(key.id):\(secret)"]
        let first = try await h.initiateUpload(headers: auth)
        _ = try await h.initiateUpload(headers: auth)
        let refused = try await h.sendDirect(.post, "/storage/upload/initiate", body: uploadBody("{}"), headers: auth)
        #expect(refused.status == .tooManyRequests)
        let python = try await h.sendDirect(.post, "/files/upload/multipart", body: uploadBody(""), headers: auth)
        #expect(python.status == .tooManyRequests)
        #expect(try await h.sendDirect(.put, "/storage/upload/\(first)", body: uploadBody("done")).status == .ok)
        _ = try await h.initiateUpload(headers: auth)
    }
}
