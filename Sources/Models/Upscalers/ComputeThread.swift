import Foundation

/// Runs blocking engine work on its own thread and awaits it, so a long inference never holds
/// one of Swift's cooperative threads (the compute pool's helpers are separate threads anyway).
enum ComputeThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            thread.name = "peregrine-inference"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
