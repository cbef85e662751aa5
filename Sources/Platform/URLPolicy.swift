import Foundation
import Webhooks

/// The server's use of `OutboundURLPolicy`: webhook targets and remote file inputs may not point
/// at private, loopback or link-local addresses unless configured to.
public struct URLPolicy: Sendable {
    /// The underlying policy (shared with the webhook sender).
    public let policy: OutboundURLPolicy

    /// - Parameters:
    ///   - allowPrivate: accept non-public addresses.
    ///   - resolver: the name lookup used when a URL is fetched or delivered to.
    public init(allowPrivate: Bool, resolver: any HostResolver = SystemResolver()) {
        policy = OutboundURLPolicy(allowPrivateAddresses: allowPrivate, resolver: resolver)
    }

    /// Why `url` is refused at submit, or `nil` when it may be used. No lookup: a submit never
    /// waits on DNS; names are resolved and checked when the URL is used.
    public func refusal(for url: String) -> String? {
        do {
            try policy.validate(url)
            return nil
        } catch let error as OutboundURLError {
            return "URL not allowed: \(error.message)"
        } catch {
            return "URL not allowed"
        }
    }

    /// The checked URL (connect to its `address`).
    /// - Throws: `OutboundURLError` when refused.
    public func check(_ url: String) async throws -> CheckedURL {
        try await policy.check(url)
    }
}
