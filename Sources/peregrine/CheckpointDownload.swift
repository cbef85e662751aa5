import AsyncHTTPClient
import Foundation
import ModelKit
import NIOCore
import Weights

/// Downloads a checkpoint file from a URL into the model cache: resumable (the bytes so far are
/// kept in `NAME.partial`, and a retry asks for the rest with an HTTP `Range`), bounded in size,
/// and verified against a SHA-256 before the file takes its final name.
struct CheckpointDownload {
    /// Why a download failed, in words for the terminal.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Largest file accepted (`--max-bytes`; SDXL single files are about 7 GB in fp16).
    var maxBytes: Int64 = 32 << 30

    /// Whether `url` may be fetched: https anywhere, http only to this machine (tests and local
    /// mirrors; plain http elsewhere would let anyone on the path swap the weights).
    static func check(_ url: URL) throws {
        switch url.scheme?.lowercased() {
        case "https": return
        case "http":
            let host = (url.host ?? "").lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard host == "localhost" || host == "::1" || host.hasPrefix("127.") else {
                throw Failure("\(url.absoluteString): plain http is allowed only to loopback addresses; use https")
            }
        default:
            throw Failure("\(url.absoluteString): only https URLs (or http to loopback) can be downloaded")
        }
    }

    /// Downloads `url` to `destination` unless it is there already with the expected digest.
    /// - Parameters:
    ///   - url: the file's URL.
    ///   - destination: the final path; `destination.partial` holds an unfinished download.
    ///   - sha256: the expected digest; when given, a mismatch removes the download.
    ///   - log: notices (resuming, already there).
    ///   - progress: bytes so far and the file's size when known, after every chunk.
    /// - Returns: the file's SHA-256.
    /// - Throws: ``Failure`` naming the URL and what went wrong.
    func fetch(
        _ url: URL, to destination: URL, sha256: String?, log: (String) -> Void, progress: (Int64, Int64?) -> Void = { _, _ in }
    ) async throws -> String {
        try Self.check(url)
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) {
            let digest = try FileDigest.sha256(ofFile: destination)
            if sha256 == nil || digest == sha256 {
                log("\(destination.lastPathComponent): already downloaded")
                return digest
            }
            try fm.removeItem(at: destination)
        }
        try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = URL(fileURLWithPath: destination.path + ".partial")
        if !fm.fileExists(atPath: partial.path) { _ = fm.createFile(atPath: partial.path, contents: nil) }
        try await download(url, into: partial, log: log, progress: progress)
        let digest = try FileDigest.sha256(ofFile: partial)
        if let sha256, digest != sha256 {
            // A complete file with the wrong digest is no use to resume from.
            try? fm.removeItem(at: partial)
            throw Failure("\(url.absoluteString): sha256 is \(digest), expected \(sha256); the download was removed")
        }
        try fm.moveItem(at: partial, to: destination)
        return digest
    }

    /// Appends the rest of `url` to `partial`, asking for the bytes after those it holds.
    private func download(_ url: URL, into partial: URL, log: (String) -> Void, progress: (Int64, Int64?) -> Void) async throws {
        let handle = try FileHandle(forWritingTo: partial)
        defer { try? handle.close() }
        var offset = Int64(try handle.seekToEnd())
        var request = HTTPClientRequest(url: url.absoluteString)
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(24))
        } catch {
            throw Failure("\(url.absoluteString): \(error)")
        }
        switch response.status.code {
        case 206:
            log("\(partial.lastPathComponent): resuming after \(offset) bytes")
        case 200:
            // The server ignored the range (or there was none): start over.
            if offset > 0 {
                try handle.truncate(atOffset: 0)
                offset = 0
            }
        case 416 where offset > 0:
            // Nothing left to send: the partial file is complete.
            return
        default:
            throw Failure("\(url.absoluteString): HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
        let remaining = response.headers.first(name: "content-length").flatMap { Int64($0) }
        if let remaining {
            let (total, overflow) = offset.addingReportingOverflow(remaining)
            guard !overflow, total <= maxBytes else {
                throw Failure("\(url.absoluteString): the file is \(offset) + \(remaining) bytes, more than the limit of \(maxBytes) (--max-bytes)")
            }
        }
        var received: Int64 = 0
        for try await buffer in response.body {
            received += Int64(buffer.readableBytes)
            guard offset + received <= maxBytes else {
                throw Failure("\(url.absoluteString): more than the limit of \(maxBytes) bytes (--max-bytes); the partial download is kept")
            }
            try handle.write(contentsOf: buffer.readableBytesView)
            progress(offset + received, remaining.map { offset + $0 })
        }
        if let remaining, received != remaining {
            throw Failure("\(url.absoluteString): the connection ended after \(received) of \(remaining) bytes; run the command again to resume")
        }
    }
}
