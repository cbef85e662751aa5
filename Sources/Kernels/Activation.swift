import CKernels
import Foundation

/// An activation fused into a kernel's epilogue (after the bias), or applied on its own.
public enum Activation: Sendable, Hashable {
    /// Identity.
    case none
    /// `max(x, 0)`.
    case relu
    /// `x < 0 ? slope * x : x`.
    case leakyReLU(slope: Float)
    /// Per-channel leaky ReLU with one slope per output channel (a single slope applies to all).
    case prelu(slopes: [Float])
    /// `1 / (1 + exp(-x))`.
    case sigmoid
    /// `x * sigmoid(x)` (a.k.a. swish).
    case silu
    /// `min(max(x, min), max)` (ReLU6 is `clip(0, 6)`).
    case clip(min: Float, max: Float)

    /// The activation of one value in channel `channel` (the plain definition, used by `Reference`).
    @inlinable
    public func apply(_ x: Float, channel: Int) -> Float {
        switch self {
        case .none: return x
        case .relu: return x > 0 ? x : 0
        case .leakyReLU(let s): return x < 0 ? x * s : x
        case .prelu(let s): return x < 0 ? x * (s.count == 1 ? s[0] : s[channel]) : x
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .silu: return x / (1 + Foundation.exp(-x))
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, lo), hi)
        }
    }

    /// Checks that a PReLU has one slope or one per channel.
    /// - Throws: ``KernelError`` `.invalidParameter` naming `op` otherwise.
    public func validate(channels: Int, op: String) throws {
        if case .prelu(let s) = self, s.count != 1, s.count != channels {
            throw KernelError(.invalidParameter, "\(op): PReLU has \(s.count) slopes for \(channels) channels")
        }
    }

    /// Calls `body` with the C description of this activation for `channels` channels (slopes
    /// expanded to one per channel so kernels index them directly).
    func withC<R>(channels: Int, _ body: (UnsafePointer<pg_activation>) throws -> R) rethrows -> R {
        var a = pg_activation(kind: Int32(PG_ACT_NONE), alpha: 0, beta: 0, slopes: nil)
        switch self {
        case .none: break
        case .relu: a.kind = Int32(PG_ACT_RELU)
        case .leakyReLU(let s): a.kind = Int32(PG_ACT_LEAKY); a.alpha = s
        case .sigmoid: a.kind = Int32(PG_ACT_SIGMOID)
        case .silu: a.kind = Int32(PG_ACT_SILU)
        case .clip(let lo, let hi): a.kind = Int32(PG_ACT_CLIP); a.alpha = lo; a.beta = hi
        case .prelu(let s):
            let slopes = s.count == 1 ? [Float](repeating: s[0], count: max(channels, 1)) : s
            a.kind = Int32(PG_ACT_PRELU)
            return try slopes.withUnsafeBufferPointer { sp in
                a.slopes = sp.baseAddress
                return try withUnsafePointer(to: &a) { try body($0) }
            }
        }
        return try withUnsafePointer(to: &a) { try body($0) }
    }
}
