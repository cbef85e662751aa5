import BlobStore
import Foundation
import Hummingbird
import ModelKit
import NIOConcurrencyHelpers
import NIOCore
@testable import Platform
import Testing

@testable import BlobStore
@testable import Server

@Suite("Upload quotas and limits")
struct UploadQuotaTests {
    @Test("a multipart upload's parts together stay within maxUploadBytes, checked before a part is stored")
    func multipartTotal() async throws {
        let h = try Harness.make { $0.maxUploadBytes = 1000 }
        defer { h.removeHome() }
        let upload = try await h.initiateUpload()
        #expect(try await h.sendDirect(.put, "/storage/upload/\(upload)/1", body: RecordingUploadBody(chunks: 1, chunkSize: 600)).status == .ok)
        // Declared: refused before the body is read.
        let declared = RecordingUploadBody(chunks: 1, chunkSize: 600)
        let refused = try await h.sendDirect(.put, "/storage/upload/\(upload)/2", body: declared, headers: [.contentLength: "600"])
        #expect(refused.status == .contentTooLarge)
        #expect(declared.consumed.withLockedValue({ $0 }) == false)
        // Undeclared: cut off as soon as it passes the upload's remaining room, and not stored.
        let streamed = try await h.sendDirect(.put, "/storage/upload/\(upload)/2", body: RecordingUploadBody(chunks: 6, chunkSize: 100))
        #expect(streamed.status == .contentTooLarge)
        #expect(try await h.platform.blobs.upload(id: upload) == BlobUpload(owner: nil, partCount: 1, storedBytes: 600))
        // Re-sending part 1 replaces it rather than adding to it.
        #expect(try await h.sendDirect(.put, "/storage/upload/\(upload)/1", body: RecordingUploadBody(chunks: 1, chunkSize: 900)).status == .ok)
        #expect(try await h.sendDirect(.put, "/storage/upload/\(upload)/2", body: RecordingUploadBody(chunks: 1, chunkSize: 100)).status == .ok)
        #expect(try await h.platform.blobs.upload(id: upload)?.storedBytes == 1000)
    }

    @Test("part numbers past maxUploadParts are refused with 422 before the body is read")
    func partCount() async throws {
        let h = try Harness.make { $0.maxUploadParts = 3 }
        defer { h.removeHome() }
        let upload = try await h.initiateUpload()
        #expect(try await h.sendDirect(.put, "/storage/upload/\(upload)/3", body: RecordingUploadBody(chunks: 1, chunkSize: 10)).status == .ok)
        let body = RecordingUploadBody(chunks: 1, chunkSize: 10)
        let refused = try await h.sendDirect(.put, "/storage/upload/\(upload)/4", body: body)
        #expect(refused.status == .unprocessableContent)
        guard case .array(let issues)? = try JSONValue(parsing: try await uploadResponseBody(refused))["detail"] else {
            Issue.record("no validation issues")
            return
        }
        #expect(issues.first?["type"] == "value_error.number.not_le")
        #expect(issues.first?["loc"] == ["path", "part_number"])
        #expect(body.consumed.withLockedValue({ $0 }) == false)
    }

    @Test("a key's quota counts uploads through its unauthenticated upload URLs, Python uploads and parts alike")
    func perKeyQuota() async throws {
        let h = try Harness.make {
            $0.authEnabled = true
            $0.maxUploadBytes = 1000
            $0.uploadQuotaBytes = 1500
        }
        defer { h.removeHome() }
        let (key, secret) = try await h.platform.keys.createKey(name: "a", now: Date())
        let (other, otherSecret) = try await h.platform.keys.createKey(name: "b", now: Date())
        let auth: HTTPFields = [.authorization: "Key \(key.id):\(secret)"]
        let otherAuth: HTTPFields = [.authorization: "Key \(other.id):\(otherSecret)"]

        // The upload URL needs no key; its bytes count against the key that initiated it.
        let first = try await h.initiateUpload(headers: auth)
        #expect(try await h.sendDirect(.put, "/storage/upload/\(first)", body: RecordingUploadBody(chunks: 1, chunkSize: 1000)).status == .ok)
        #expect(try await h.platform.blobs.storedBytes(owner: key.id) == 1000)

        let second = try await h.initiateUpload(headers: auth)
        let over = try await h.sendDirect(.put, "/storage/upload/\(second)", body: RecordingUploadBody(chunks: 1, chunkSize: 600))
        #expect(over.status == .contentTooLarge)
        #expect(try await uploadErrorType(over) == "upload_quota_exceeded")
        let part = RecordingUploadBody(chunks: 1, chunkSize: 600)
        #expect(try await h.sendDirect(.put, "/storage/upload/\(second)/1", body: part, headers: [.contentLength: "600"]).status == .contentTooLarge)
        #expect(part.consumed.withLockedValue({ $0 }) == false)
        var python = auth
        python[.contentLength] = "600"
        let direct = try await h.sendDirect(.post, "/files/upload", body: RecordingUploadBody(chunks: 1, chunkSize: 600), headers: python)
        #expect(direct.status == .contentTooLarge)
        // What is left still fits, and nothing was counted for the refusals.
        #expect(try await h.sendDirect(.put, "/storage/upload/\(second)", body: RecordingUploadBody(chunks: 1, chunkSize: 500)).status == .ok)
        #expect(try await h.platform.blobs.storedBytes(owner: key.id) == 1500)

        // Another key has its own quota.
        #expect(try await h.sendDirect(.post, "/files/upload", body: RecordingUploadBody(chunks: 1, chunkSize: 1000), headers: otherAuth).status == .ok)

        // Deleting a file gives its bytes back.
        #expect(try await h.platform.blobs.delete(id: first))
        #expect(try await h.platform.blobs.storedBytes(owner: key.id) == 500)
        #expect(try await h.sendDirect(.post, "/files/upload", body: RecordingUploadBody(chunks: 1, chunkSize: 1000), headers: auth).status == .ok)
    }

    @Test("a completed upload's file URL resolves after a crash right after the store committed it")
    func completionSurvivesACrash() async throws {
        let h = try Harness.make()
        defer { h.removeHome() }
        // Complete in the store only (nothing else records it), as if the process died right after.
        let blobs = h.platform.blobs
        let upload = try await blobs.beginMultipart(contentType: "text/plain", fileName: "a.txt", expiresAt: nil)
        let etag = try await blobs.putPart(uploadID: upload, partNumber: 1, data: Data("survives".utf8))
        _ = try await blobs.completeMultipart(uploadID: upload, parts: [BlobPart(partNumber: 1, etag: etag)])

        // Reopen everything on the same home.
        let reopened = try Harness.make { $0.home = h.platform.configuration.home }
        let file = try await reopened.sendDirect(.get, "/files/\(upload)/a.txt", body: uploadBody(""))
        #expect(file.status == .ok)
        #expect(try await uploadResponseBody(file) == Data("survives".utf8))
        // A retried completion (its first answer lost) answers the same file.
        let retried = try await reopened.sendDirect(.post, "/storage/upload/\(upload)/complete", body: uploadBody(#"{"parts":[]}"#))
        #expect(retried.status == .ok)
        let url = try JSONValue(parsing: try await uploadResponseBody(retried))["access_url"]?.stringValue
        #expect(url?.hasSuffix("/files/\(upload)/a.txt") == true)
    }

    @Test("completing with bad JSON is answered 422 for an upload that exists")
    func completeWithBadJSON() async throws {
        let h = try Harness.make()
        defer { h.removeHome() }
        let upload = try await h.initiateUpload()
        let response = try await h.sendDirect(.post, "/storage/upload/\(upload)/complete", body: uploadBody("["))
        #expect(response.status == .unprocessableContent)
    }

    @Test("the server's own file URLs as inputs are held to the input size limit")
    func ownFilesAreBounded() async throws {
        let h = try Harness.make { $0.maxUploadBytes = 1000 }
        defer { h.removeHome() }
        let files = h.platform.files
        let fits = try await h.platform.blobs.put(Data(count: 1000), contentType: "a/b", fileName: "a", expiresAt: nil)
        #expect(try await files.fetch("https://127.0.0.1:8443/files/\(fits.id)/a", field: "image_url").data.count == 1000)

        let big = try await h.platform.blobs.put(Data(count: 1001), contentType: "a/b", fileName: "b", expiresAt: nil)
        let tooBig = await #expect(throws: ModelError.self) {
            _ = try await files.fetch("https://127.0.0.1:8443/files/\(big.id)/b", field: "image_url")
        }
        #expect(tooBig?.status == 413)

        // Reading stops at the limit even when the recorded size understates the content.
        try Data(count: 50_000).write(to: URL(fileURLWithPath: h.platform.blobs.dataPath(fits.id)))
        let understated = await #expect(throws: ModelError.self) {
            _ = try await files.fetch("https://127.0.0.1:8443/files/\(fits.id)/a", field: "image_url")
        }
        #expect(understated?.status == 413)
    }
}
