import BlobStore
import Foundation
import Hummingbird

extension APICall {
    /// The declared `Content-Length`, if any.
    /// - Throws: `APIError` 400 when it is not a non-negative integer.
    func declaredLength() throws -> Int64? {
        guard let raw = request.headers[.contentLength] else { return nil }
        guard let value = Int64(raw.trimmingCharacters(in: .whitespaces)), value >= 0 else {
            throw APIError.detail(.badRequest, "Content-Length must be a non-negative integer")
        }
        return value
    }

    /// Streams the request body into a staging file of `blobs`, chunk by chunk: memory holds one
    /// transport chunk at a time, never the body.
    ///
    /// The room is reserved under `limits` before the first byte is read, so a declared length
    /// over the limit or the caller's quota is refused at once (413), and a body that grows past
    /// its reservation is cut off (413) as soon as it does.
    ///
    /// A body that has not ended within `timeout` is answered 408: an upload holds one of the
    /// few upload slots, and a sender trickling bytes must not keep it forever.
    /// - Returns: the received file; the caller commits it to the store or discards it.
    func receiveBody(
        into blobs: any BlobStore, limits: StagingLimits, gate: UploadGate, timeout: Duration
    ) async throws -> StagingFile {
        var limits = limits
        if let declared = try declaredLength() {
            guard declared <= limits.maxBytes else { throw Self.tooLarge(Int(clamping: limits.maxBytes)) }
            limits.declaredBytes = declared
        }
        let fixed = limits
        let staged = try await StorageRoutes.blobCall { try await blobs.stage(fixed) }
        do {
            let body = request.body
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for try await chunk in body {
                        gate.noteChunk(chunk.readableBytes)
                        try await StorageRoutes.blobCall { try await staged.append(Data(chunk.readableBytesView)) }
                    }
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                let ended = try await group.next() ?? false
                group.cancelAll()
                guard ended else {
                    throw APIError.typed(.requestTimeout, "Upload body not received within \(timeout)", type: "request_timeout")
                }
            }
            if let declared = limits.declaredBytes, staged.size != declared {
                throw APIError.detail(.badRequest, "Request body ended after \(staged.size) of \(declared) bytes")
            }
        } catch {
            staged.discard()
            throw error
        }
        return staged
    }
}
