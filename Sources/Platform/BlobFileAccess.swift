import AsyncHTTPClient
import BlobStore
import Foundation
import ModelKit
import NIOCore
import Runners
import Webhooks

/// The runners' file access over the blob store, without HTTP: outputs go to the blob store and
/// are named by `/files/{id}/{name}` URLs under the public URL; inputs that are this platform's
/// own file URLs are read from the blob store directly, other http(s) URLs are downloaded under
/// the outbound address policy with size and time limits.
public struct BlobFileAccess: FileAccess {
    let blobs: any BlobStore
    let uploads: UploadIndex
    let policy: URLPolicy
    /// `https://host:port` of output URLs.
    let publicBase: String
    /// Host names and addresses (lowercase, no brackets) under which this server's files are
    /// reachable; any port, since proxies and the plain listener change it.
    let ownHosts: Set<String>
    let maxBytes: Int
    let downloadTimeout: TimeInterval
    let defaultLifetime: TimeInterval

    /// - Parameters:
    ///   - blobs: where files live.
    ///   - uploads: completed uploads by their upload id.
    ///   - policy: which remote inputs may be downloaded.
    ///   - configuration: limits (input size, download time, result lifetime) and host names.
    ///   - publicBase: scheme, host and port of output URLs (default: the configuration's).
    ///   - downloadTimeout: seconds one remote input may take in all (default: the
    ///     configuration's `inputDownloadTimeout`).
    public init(
        blobs: any BlobStore, uploads: UploadIndex, policy: URLPolicy, configuration c: ServerConfiguration,
        publicBase: String? = nil, downloadTimeout: TimeInterval? = nil
    ) {
        self.blobs = blobs
        self.uploads = uploads
        self.policy = policy
        let publicBase = publicBase ?? c.publicBaseURL
        self.publicBase = publicBase
        var hosts: Set<String> = ["127.0.0.1", "localhost", "::1"]
        for h in c.hostNames { hosts.insert(h.lowercased()) }
        if c.host != "0.0.0.0", c.host != "::" { hosts.insert(c.host.lowercased()) }
        if let host = URL(string: publicBase)?.host { hosts.insert(Self.bare(host)) }
        ownHosts = hosts
        maxBytes = c.maxUploadBytes
        self.downloadTimeout = downloadTimeout ?? c.inputDownloadTimeout
        defaultLifetime = c.resultTTL
    }

    /// Stores an output in the blob store; answers its `/files/{id}/{name}` URL.
    public func store(_ data: Data, contentType: String, fileName: String, lifetime: TimeInterval?) async throws -> StoredFile {
        let name = FileNames.sanitize(fileName)
        let blob = try await blobs.put(data, contentType: contentType, fileName: name, expiresAt: Date().addingTimeInterval(lifetime ?? defaultLifetime))
        return StoredFile(url: FileNames.url(base: publicBase, id: blob.id, name: name), contentType: contentType, fileName: name, fileSize: data.count)
    }

    /// Reads an input URL: this server's own files locally, others downloaded under the policy.
    public func fetch(_ text: String, field: String) async throws -> FetchedFile {
        func failure(_ why: String, status: Int = 422) -> ModelError {
            ModelError(.fileDownloadError, "\(field): \(why)", status: status, field: ["body", field])
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host
        else { throw failure("not an http(s) URL or data URI") }
        let segments = url.path.split(separator: "/").map(String.init)
        if ownHosts.contains(Self.bare(host)), segments.count >= 2, segments[0] == "files" {
            return try await readOwn(segments[1], failure: failure)
        }
        return try await download(url: url, text: text, failure: failure)
    }

    /// One of this server's own files, under the same size limit as a download: refused from
    /// its recorded size before reading, and never read past the limit.
    private func readOwn(_ id: String, failure: (String, Int) -> ModelError) async throws -> FetchedFile {
        guard let reader = try await FileLookup.open(id, blobs: blobs, uploads: uploads) else {
            throw failure("file not found on this server", 422)
        }
        let metadata = reader.metadata
        do {
            guard metadata.size <= Int64(maxBytes) else { throw failure("file larger than \(maxBytes) bytes", 413) }
            var data = Data()
            data.reserveCapacity(Int(metadata.size))
            while true {
                let chunk = try await reader.read(upTo: min(1 << 20, maxBytes - data.count + 1))
                if chunk.isEmpty { break }
                data.append(chunk)
                guard data.count <= maxBytes else { throw failure("file larger than \(maxBytes) bytes", 413) }
            }
            try await reader.close()
            return FetchedFile(data: data, contentType: metadata.contentType, fileName: metadata.fileName)
        } catch {
            try? await reader.close()
            throw error
        }
    }

    /// The stored file a URL handed out by this platform names (`.../files/{id}/{name}`), or `nil`.
    public func storedFile(at url: String) async throws -> (data: Data, contentType: String, fileName: String?)? {
        guard let parsed = URL(string: url) else { return nil }
        let segments = parsed.path.split(separator: "/").map(String.init)
        guard segments.count >= 2, segments[0] == "files", let blob = try await FileLookup.get(segments[1], blobs: blobs, uploads: uploads)
        else { return nil }
        return (blob.data, blob.metadata.contentType, blob.metadata.fileName)
    }

    /// Lowercase host without IPv6 brackets.
    static func bare(_ host: String) -> String {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        return h
    }

    private func download(url: URL, text: String, failure: (String, Int) -> ModelError) async throws -> FetchedFile {
        let checked: CheckedURL
        do {
            checked = try await policy.check(text)
        } catch let error as OutboundURLError {
            throw failure("URL not allowed: \(error.message)", 422)
        }
        // The whole download, body included, within one deadline: the client's own timeouts
        // bound each read, and a host sending a byte just inside each would hold the job forever.
        let limit = Duration.milliseconds(Int64(min(downloadTimeout, 86_400) * 1000))
        do {
            return try await withDeadline(limit) { [maxBytes] in
                try await Self.get(checked, maxBytes: maxBytes, readTimeout: limit)
            }
        } catch let error as DownloadFailure {
            throw failure(error.why, error.status)
        } catch is DeadlineExceeded {
            throw failure("download took longer than \(Int(downloadTimeout)) s", 422)
        }
    }

    /// One GET of a checked URL, connected to its checked address, body limited to `maxBytes`.
    private static func get(
        _ checked: CheckedURL, maxBytes: Int, readTimeout: Duration
    ) async throws -> FetchedFile {
        func failure(_ why: String, _ status: Int) -> DownloadFailure { DownloadFailure(why: why, status: status) }
        let read = TimeAmount.nanoseconds(Int64(readTimeout.components.seconds) * 1_000_000_000)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: read))
        // Connect to the address that was checked, never to a second resolution of the name.
        configuration.dnsOverride = checked.dnsOverride
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let result: Result<FetchedFile, any Error>
        do {
            var request = HTTPClientRequest(url: checked.requestURL)
            request.method = .GET
            let response = try await client.execute(request, timeout: read)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw failure("download failed with HTTP \(response.status.code)", 422)
            }
            if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
                throw failure("file larger than \(maxBytes) bytes", 413)
            }
            let buffer: ByteBuffer
            do {
                buffer = try await response.body.collect(upTo: maxBytes)
            } catch is NIOTooManyBytesError {
                throw failure("file larger than \(maxBytes) bytes", 413)
            }
            // A body cut short by cancellation (the deadline) is not the file.
            try Task.checkCancellation()
            let name = checked.url.lastPathComponent
            result = .success(
                FetchedFile(
                    data: Data(buffer.readableBytesView), contentType: response.headers.first(name: "content-type"),
                    fileName: name.isEmpty ? nil : name))
        } catch let error as DownloadFailure {
            result = .failure(error)
        } catch is CancellationError {
            result = .failure(CancellationError())
        } catch {
            result = .failure(Task.isCancelled ? CancellationError() : failure("download failed", 422))
        }
        try? await client.shutdown()
        return try result.get()
    }
}

/// Why a remote input could not be downloaded, before it is named after its field.
private struct DownloadFailure: Error {
    var why: String
    var status: Int
}

extension BlobFileAccess {
    /// The file id in one of this server's own file URLs (`https://<own host>/files/{id}/...`),
    /// or `nil` for any other string.
    public func ownFileID(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, ownHosts.contains(Self.bare(host))
        else { return nil }
        let segments = url.path.split(separator: "/").map(String.init)
        guard segments.count >= 2, segments[0] == "files", UploadIndex.isID(segments[1]) else { return nil }
        return segments[1]
    }
}
