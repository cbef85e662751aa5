import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Looks up the addresses of a host name for `OutboundURLPolicy`. The policy asks once per use
/// of a URL and connects to the address it checked, so an answer is never trusted twice; tests
/// give the policy a scripted resolver to play a rebinding name server.
public protocol HostResolver: Sendable {
    /// The addresses `host` resolves to (may be empty).
    /// - Parameters:
    ///   - host: a host name (never an address literal).
    ///   - port: the port the caller will connect to.
    /// - Throws: `OutboundURLError` (`.resolutionFailed`) when the name does not resolve;
    ///   `CancellationError` when the calling task is cancelled.
    func resolve(host: String, port: Int) async throws -> [IPAddress]
}

/// The system resolver (`getaddrinfo`), run on a Dispatch worker because it blocks: never on a
/// NIO event loop or Swift's cooperative pool. A cancelled caller is answered at once; the
/// blocking lookup then finishes on its worker and its answer is dropped.
public struct SystemResolver: HostResolver {
    /// The system resolver.
    public init() {}

    public func resolve(host: String, port: Int) async throws -> [IPAddress] {
        let answer = OnceContinuation<[IPAddress]>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                answer.install(continuation)
                DispatchQueue.global(qos: .userInitiated).async {
                    answer.resume(with: Result { try Self.resolveBlocking(host: host, port: port) })
                }
            }
        } onCancel: {
            answer.resume(with: .failure(CancellationError()))
        }
    }

    private static func resolveBlocking(host: String, port: Int) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw OutboundURLError(.resolutionFailed, "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = list
        while let current = node {
            if let sockaddr = current.pointee.ai_addr {
                switch current.pointee.ai_family {
                case AF_INET:
                    let v4 = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let address = withUnsafeBytes(of: v4, { IPAddress(bytes: Array($0)) }) { addresses.append(address) }
                case AF_INET6:
                    let v6 = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let address = withUnsafeBytes(of: v6, { IPAddress(bytes: Array($0)) }) { addresses.append(address) }
                default:
                    break
                }
            }
            node = current.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }
}

/// A continuation resumed by whichever comes first (the answer or the cancellation), once.
///
/// `@unchecked Sendable` is sound because every access to the state goes through `lock`.
private final class OnceContinuation<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Value, any Error>?
    /// A result that arrived before the continuation was installed (cancelled before starting).
    private var early: Result<Value, any Error>?
    private var done = false

    func install(_ continuation: CheckedContinuation<Value, any Error>) {
        let ready: Result<Value, any Error>? = lock.withLock {
            if let early { return early }
            self.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    func resume(with result: Result<Value, any Error>) {
        let waiting: CheckedContinuation<Value, any Error>? = lock.withLock {
            guard !done else { return nil }
            done = true
            guard let continuation else {
                early = result
                return nil
            }
            self.continuation = nil
            return continuation
        }
        waiting?.resume(with: result)
    }
}
