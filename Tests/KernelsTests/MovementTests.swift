import Kernels
import Tensor
import Testing

/// Data movement (gather, multi-axis slice with steps, split, expand, concat on any axis,
/// transpose of any permutation) against references on seeded random shapes, exact.
@Suite("Data movement, random shapes")
struct MovementTests {
    static func randomShape(_ rng: inout SplitMix64, rank: Int) -> [Int] {
        (0..<rank).map { _ in Int.random(in: 1...6, using: &rng) }
    }

    @Test(arguments: 0..<30)
    func gatherMatchesReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 11)
        let shape = Self.randomShape(&rng, rank: Int.random(in: 1...4, using: &rng))
        let axis = Int.random(in: 0..<shape.count, using: &rng) - (seed % 2 == 0 ? shape.count : 0)
        let dim = shape[(axis + shape.count) % shape.count]
        let indicesShape = [[], [3], [2, 2]][seed % 3]
        let indices = (0..<indicesShape.reduce(1, *)).map { _ in Int.random(in: -dim..<dim, using: &rng) }
        let x = randomTensor(Shape(shape), seed: UInt64(seed))
        expectClose(try Ops.gather(x, indices: indices, indicesShape: indicesShape, axis: axis),
                    Reference.gather(x, indices: indices, indicesShape: indicesShape, axis: axis), relative: 0)
    }

    @Test func gatherRejectsIndicesOutOfRange() {
        #expect(throws: KernelError.self) { try Ops.gather(Tensor(zeros: [3, 2]), indices: [3], indicesShape: [1], axis: 0) }
    }

    @Test(arguments: 0..<40)
    func sliceMatchesReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 23)
        let shape = Self.randomShape(&rng, rank: Int.random(in: 1...4, using: &rng))
        let axes = Array(Set((0..<Int.random(in: 1...shape.count, using: &rng)).map { _ in Int.random(in: 0..<shape.count, using: &rng) }))
        var starts: [Int] = [], ends: [Int] = [], steps: [Int] = []
        for a in axes {
            let d = shape[a]
            starts.append(Int.random(in: -d - 2...d + 2, using: &rng))
            ends.append(seed % 5 == 0 ? Int.max / 4 : Int.random(in: -d - 2...d + 2, using: &rng))
            steps.append([1, 2, 3, -1, -2][Int.random(in: 0...4, using: &rng)])
        }
        let x = randomTensor(Shape(shape), seed: UInt64(seed))
        expectClose(try Ops.slice(x, starts: starts, ends: ends, axes: axes, steps: steps),
                    Reference.slice(x, starts: starts, ends: ends, axes: axes, steps: steps), relative: 0)
    }

    @Test(arguments: 0..<20)
    func splitThenConcatRoundTrips(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 37)
        let shape = Self.randomShape(&rng, rank: Int.random(in: 1...4, using: &rng))
        let axis = Int.random(in: 0..<shape.count, using: &rng)
        var left = shape[axis], sizes: [Int] = []
        while left > 0 { let s = Int.random(in: 0...left, using: &rng); sizes.append(s); left -= s }
        sizes.append(0)
        let x = randomTensor(Shape(shape), seed: UInt64(seed))
        let parts = try Ops.split(x, axis: axis, sizes: sizes)
        for (p, s) in zip(parts, sizes) {
            var d = shape
            d[axis] = s
            #expect(p.shape.dims == d)
        }
        // Each part is the reference slice of its range; concatenated they are the input.
        var start = 0
        for (p, s) in zip(parts, sizes) {
            expectClose(p, Reference.slice(x, starts: [start], ends: [start + s], axes: [axis], steps: nil), relative: 0)
            start += s
        }
        let joined = try Layout.concat(parts.map { $0.toArray() }, shapes: parts.map(\.shape.dims), axis: axis)
        #expect(joined.shape == shape && joined.values == x.toArray())
        #expect(throws: KernelError.self) { try Ops.split(x, axis: axis, sizes: [shape[axis] + 1]) }
    }

    @Test(arguments: [([Int](), [2, 3]), ([3], [2, 3]), ([2, 1], [2, 5]), ([1, 4, 1], [3, 1, 4, 2]), ([5], [5])])
    func expandMatchesBroadcastReference(from: [Int], to: [Int]) throws {
        let x = randomTensor(Shape(from), seed: 3)
        let want = try Reference.binary(.add, Tensor(shape: Shape(to), repeating: 0), x)
        expectClose(try Ops.expand(x, to: to), want, relative: 0)
    }

    @Test(arguments: 0..<20)
    func permuteMatchesTranspose(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 51)
        let shape = Self.randomShape(&rng, rank: Int.random(in: 1...5, using: &rng))
        let perm = Array(0..<shape.count).shuffled(using: &rng)
        let x = randomTensor(Shape(shape), seed: UInt64(seed))
        let fast = Layout.permute(x.toArray(), shape: shape, perm: perm)
        #expect(fast == Reference.transpose(x, permutation: perm).toArray())
        expectClose(try Ops.transpose(x, permutation: perm, pool: testPool), Reference.transpose(x, permutation: perm), relative: 0)
    }
}
