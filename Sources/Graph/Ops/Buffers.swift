/// A float pointer that may cross into compute-pool workers.
///
/// `@unchecked Sendable` because workers only ever write disjoint index ranges of the buffer
/// (each op splits its output by channel or row), and the pool's `parallelFor` returns only after
/// every worker finished, which orders those writes before the caller's next read.
struct FloatPointer: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
    init(_ p: UnsafePointer<Float>) { self.p = UnsafeMutablePointer(mutating: p) }
    @inline(__always) subscript(i: Int) -> Float {
        get { p[i] }
        nonmutating set { p[i] = newValue }
    }
    @inline(__always) func advanced(by n: Int) -> UnsafeMutablePointer<Float> { p + n }
}
