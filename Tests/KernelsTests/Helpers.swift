import Kernels
import Tensor
import Testing

/// The pool every test shares (two threads, so parallel splits are exercised even on one core).
let testPool = ComputePool(threads: 2)

/// A tensor of uniform values in [lo, hi), the same for the same seed.
func randomTensor(_ shape: Shape, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
    var rng = SplitMix64(seed: seed)
    let span = range.upperBound - range.lowerBound
    return Tensor(shape: shape, values: (0..<shape.count).map { _ in range.lowerBound + span * rng.nextFloat() })
}

/// Largest |a - b| over the elements, and the largest |b| (the reference's scale).
func maxDifference(_ a: Tensor, _ b: Tensor) -> (diff: Float, scale: Float) {
    let x = a.toArray(), y = b.toArray()
    var d: Float = 0, s: Float = 0
    for i in x.indices {
        d = max(d, abs(x[i] - y[i]))
        s = max(s, abs(y[i]))
    }
    return (d, s)
}

/// Expects equal shapes and every element within `relative * max(1, max|reference|)`.
func expectClose(_ actual: Tensor, _ reference: Tensor, relative: Float = 1e-4,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == reference.shape, sourceLocation: sourceLocation)
    guard actual.count == reference.count else { return }
    let (d, s) = maxDifference(actual, reference)
    #expect(d <= relative * max(1, s), "max difference \(d) at scale \(s)", sourceLocation: sourceLocation)
}
