import Foundation

/// Streaming reads of one file blob. Reads run on a Dispatch worker, never on the caller's thread.
///
/// `@unchecked Sendable`: the file handle is only touched under `lock`.
final class FileBlobReader: BlobReader, @unchecked Sendable {
    let metadata: BlobMetadata
    let localPath: String?
    private let lock = NSLock()
    private var handle: FileHandle?

    init(metadata: BlobMetadata, path: String, handle: FileHandle) {
        self.metadata = metadata
        self.localPath = path
        self.handle = handle
    }

    func read(upTo maxLength: Int) async throws -> Data {
        try await offload { [self] in
            try lock.withLock {
                guard let handle else { throw BlobStoreError(.storage, "reader of blob \(metadata.id) is closed") }
                return try handle.read(upToCount: maxLength) ?? Data()
            }
        }
    }

    func close() async throws {
        let handle = lock.withLock { () -> FileHandle? in
            defer { self.handle = nil }
            return self.handle
        }
        try handle?.close()
    }

    deinit { try? handle?.close() }
}
