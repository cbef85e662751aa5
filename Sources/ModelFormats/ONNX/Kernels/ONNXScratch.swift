import Foundation

/// A reusable, 64-byte aligned scratch buffer for the ONNX kernels (im2col matrices, attention
/// score blocks). A fresh multi-megabyte allocation per step would be mapped and faulted in
/// every time; this one grows to the largest request and stays.
///
/// `@unchecked Sendable`: the buffer is only reached inside `with`, which holds the lock for the
/// whole use, so two plans running at once take turns instead of sharing it.
final class ONNXScratch: @unchecked Sendable {
    /// The buffer the ONNX kernels share.
    static let shared = ONNXScratch()

    private let lock = NSLock()
    private var buffer: UnsafeMutableRawPointer?
    private var capacity = 0

    deinit { free(buffer) }

    /// Lends at least `floats` floats (contents undefined) for the duration of `body`.
    func with<R>(floats: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        let bytes = max(64, floats * 4)
        if bytes > capacity || buffer == nil {
            free(buffer)
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
                fatalError("ONNXScratch: cannot allocate \(bytes) bytes")
            }
            buffer = raw
            capacity = bytes
        }
        return try body(buffer!.assumingMemoryBound(to: Float.self))
    }
}
