import Kernels
import Tensor
import Testing

/// Casts through float16 / bfloat16 as graph ops: the values a narrower type can hold.
@Suite("Rounding to float16 and bfloat16")
struct HalfRoundingTests {
    @Test func float16KnownValues() throws {
        let x = Tensor(shape: [7], values: [1.0 / 3.0, 65504, 65520, -1e-8, 2049, 2051, 0.1])
        let y = try Ops.unary(.roundToFloat16, x, pool: testPool).toArray()
        // 1/3 and 0.1 to 11 significant bits; 65520 and beyond overflow; 2049 and 2051 tie to even.
        #expect(y == [0.333251953125, 65504, .infinity, -0.0, 2048, 2052, 0.0999755859375])
    }

    @Test func bfloat16KnownValues() throws {
        // 8 significant bits: 257 and 259 tie to even.
        let x = Tensor(shape: [3], values: [1.0 / 3.0, 257, 259])
        #expect(try Ops.unary(.roundToBFloat16, x, pool: testPool).toArray() == [0.333984375, 256, 260])
    }

    @Test func roundingIsIdempotentOnRandomValues() throws {
        var rng = SplitMix64(seed: 21)
        let x = Tensor(shape: [1000], values: (0..<1000).map { _ in Float(rng.nextDouble() * 200 - 100) })
        for op in [UnaryOp.roundToFloat16, .roundToBFloat16] {
            let once = try Ops.unary(op, x, pool: testPool)
            #expect(try Ops.unary(op, once, pool: testPool).toArray() == once.toArray())
            #expect(zip(once.toArray(), x.toArray()).allSatisfy { abs($0 - $1) <= abs($1) * (op == .roundToFloat16 ? 1.0 / 2048 : 1.0 / 256) })
        }
    }
}
