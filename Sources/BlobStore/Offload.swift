import Dispatch

/// Runs blocking file I/O on a Dispatch worker, so neither NIO event loops nor Swift's
/// cooperative pool wait on the disk.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .utility).async {
            continuation.resume(with: Result { try body() })
        }
    }
}
