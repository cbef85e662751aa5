/// The element type of a tensor's storage.
///
/// Kernels compute in `f32`; `f16` and `bf16` exist so weights can stay in the file's
/// precision (mmap without a copy) and so reduced-precision kernels can take packed inputs;
/// `i64` holds shapes and indices (graph constants such as a `Reshape`'s target or a `Gather`'s
/// indices), which float32 could not represent exactly beyond 2^24.
public enum DType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 binary32.
    case f32
    /// IEEE 754 binary16 (half precision).
    case f16
    /// bfloat16: the upper 16 bits of a binary32.
    case bf16
    /// Two's-complement 64-bit integers (shapes, indices).
    case i64

    /// Bytes one element takes in storage.
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        }
    }

    /// Whether the elements are 16-bit floats (read through ``Tensor/halfPointer``).
    public var isHalf: Bool { self == .f16 || self == .bf16 }

    /// The name as written in model files and error messages.
    public var description: String { rawValue }
}
