import Foundation
import Webhooks

/// The server's use of `OutboundURLPolicy`: webhook targets and remote file inputs may not point
/// at private, loopback or link-local addresses unless configured to.
struct URLPolicy: Sendable {
    let policy: OutboundURLPolicy

    init(allowPrivate: Bool) {
        policy = OutboundURLPolicy(allowPrivateAddresses: allowPrivate)
    }

    /// Why `url` is refused, or `nil` when it may be used.
    func refusal(for url: String) async -> String? {
        do {
            _ = try await policy.check(url)
            return nil
        } catch let error as OutboundURLError {
            return "URL not allowed: \(error.message)"
        } catch {
            return "URL not allowed"
        }
    }

    /// The checked URL (connect to its `address`).
    /// - Throws: `OutboundURLError` when refused.
    func check(_ url: String) async throws -> CheckedURL {
        try await policy.check(url)
    }
}
