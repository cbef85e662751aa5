import Tensor

/// The optimized ops that are not weight-carrying layers (those are ``Conv2D``, ``Deconv2D``,
/// ``InnerProduct``). Every op runs on a ``ComputePool`` and has a ``Reference`` twin with the
/// same semantics; ops that a graph may want to write into a planned buffer take `into:`.
public enum Ops {}

extension Tensor {
    /// The tensor's shape as NCHW (`n`, `c`, `h`, `w`), for kernels that treat rank < 4 as
    /// leading ones.
    var nchw: (n: Int, c: Int, h: Int, w: Int) { (shape.n, shape.c, shape.h, shape.w) }
}

/// Raw pointers that pool parts share; parts write disjoint ranges, so sharing is safe.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

func checkF32(_ tensors: Tensor..., op: String) throws {
    for t in tensors where t.dtype != .f32 {
        throw KernelError(.unsupported, "\(op): \(t) must be f32")
    }
}
