import BlobStore
import Foundation
import Logging
import ServiceLifecycle

/// Deletes stored files whose lifetime ended (result TTL, or the caller's
/// `X-Fal-Object-Lifecycle-Preference`) and abandoned uploads, at start and then periodically.
public struct FileSweeper: Service {
    let blobs: any BlobStore
    let uploads: UploadIndex?
    let interval: Duration
    let logger: Logger

    /// - Parameters:
    ///   - blobs: the file store.
    ///   - interval: time between passes (default 10 minutes).
    ///   - logger: where failed passes are reported (retried next interval).
    public init(blobs: any BlobStore, interval: Duration = .seconds(600), logger: Logger) {
        self.init(blobs: blobs, uploads: nil, interval: interval, logger: logger)
    }

    /// - Parameters:
    ///   - blobs: the file store.
    ///   - uploads: the upload index, pruned of entries whose blob is gone.
    ///   - interval: time between passes (default 10 minutes).
    ///   - logger: where failed passes are reported (retried next interval).
    public init(blobs: any BlobStore, uploads: UploadIndex?, interval: Duration = .seconds(600), logger: Logger) {
        self.blobs = blobs
        self.uploads = uploads
        self.interval = interval
        self.logger = logger
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let deleted = try await blobs.sweepExpired(now: Date())
                    if !deleted.isEmpty { logger.info("swept expired files", metadata: ["count": "\(deleted.count)"]) }
                    if let uploads, !deleted.isEmpty {
                        _ = await uploads.prune { try await blobs.metadata(id: $0) != nil }
                    }
                } catch {
                    logger.warning("file sweep failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
