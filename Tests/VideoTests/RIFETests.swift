import Foundation
import Kernels
import ModelKit
@testable import Models
import Tensor
import Testing

/// RIFE's IFNet and backward warp with generated weights (no published weights are obtainable
/// here): the warp against hand-computed samples, strict loading, and the network's wiring
/// checked through weights whose effect is known exactly.
@Suite("RIFE frame interpolation")
struct RIFETests {
    static let pool = ComputePool(threads: 2)

    /// Small pseudo-random values from a seed (SplitMix64).
    static func values(_ count: Int, seed: UInt64, amplitude: Float) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (rng.nextFloat() * 2 - 1) * amplitude }
    }

    /// Generated weights for every tensor; `override` replaces some.
    static func weights(seed: UInt64 = 1, override: [String: [Float]] = [:]) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, (name, shape)) in RIFE.parameterShapes.enumerated() {
            let count = shape.reduce(1, *)
            let fanIn = shape.count == 4 ? shape[1] * 9 : 1
            let v = override[name] ?? values(count, seed: seed &+ UInt64(k), amplitude: shape.count == 4 ? (3 / Float(fanIn)).squareRoot() : 0.01)
            out[name] = Tensor(shape: Shape(shape), values: v)
        }
        return out
    }

    /// Zero `lastconv` weights in every block, so each block's flow and mask are its bias.
    static func zeroHeads(biases: [[Float]]) -> [String: [Float]] {
        var o: [String: [Float]] = [:]
        for (b, (_, c)) in RIFE.blockShapes.enumerated() {
            o["block\(b).lastconv.weight"] = [Float](repeating: 0, count: c * 5 * 16)
            o["block\(b).lastconv.bias"] = biases[b]
        }
        return o
    }

    static func image(width: Int, height: Int, seed: UInt64) -> Tensor {
        Tensor(shape: Shape(n: 1, c: 3, h: height, w: width), values: values(3 * width * height, seed: seed, amplitude: 0.5).map { $0 + 0.5 })
    }

    @Test("backward warp: zero flow is the identity; whole, fractional and out-of-range flows sample as expected")
    func warp() {
        let (w, h) = (5, 4)
        let img = Tensor(shape: Shape(n: 1, c: 2, h: h, w: w), values: (0..<(2 * w * h)).map { Float($0) })
        func flow(_ fx: Float, _ fy: Float) -> Tensor {
            Tensor(shape: Shape(n: 1, c: 2, h: h, w: w), values: [Float](repeating: fx, count: w * h) + [Float](repeating: fy, count: w * h))
        }
        #expect(BackwardWarp.warp(img, flow: flow(0, 0), pool: Self.pool).toArray() == img.toArray())
        let shifted = BackwardWarp.warp(img, flow: flow(1, 1), pool: Self.pool)
        for c in 0..<2 { for y in 0..<h { for x in 0..<w {
            #expect(shifted[0, c, y, x] == img[0, c, min(y + 1, h - 1), min(x + 1, w - 1)])
        } } }
        let half = BackwardWarp.warp(img, flow: flow(0.5, 0), pool: Self.pool)
        #expect(half[0, 1, 2, 1] == (img[0, 1, 2, 1] + img[0, 1, 2, 2]) / 2)
        let far = BackwardWarp.warp(img, flow: flow(-100, 100), pool: Self.pool)
        #expect(far[0, 0, 0, 3] == img[0, 0, h - 1, 0], "border padding clamps")
    }

    @Test("weights load strictly: a missing, unused or mis-shaped tensor is named")
    func strictLoading() throws {
        var missing = Self.weights()
        missing["block1.convblock.3.0.bias"] = nil
        #expect { try RIFE(weights: missing, pool: ComputePool(threads: 1)) } throws: { ($0 as? ModelError)?.message.contains("block1.convblock.3.0.bias") == true }
        var extra = Self.weights()
        extra["block_tea.lastconv.bias"] = Tensor(shape: Shape([5]), values: [0, 0, 0, 0, 0])
        #expect { try RIFE(weights: extra, pool: ComputePool(threads: 1)) } throws: { ($0 as? ModelError)?.message.contains("block_tea.lastconv.bias") == true }
        var wrong = Self.weights()
        wrong["block0.lastconv.weight"] = Tensor(shape: Shape([5, 192, 4, 4]), values: [Float](repeating: 0, count: 5 * 192 * 16))
        #expect { try RIFE(weights: wrong, pool: ComputePool(threads: 1)) } throws: { ($0 as? ModelError)?.message.contains("block0.lastconv.weight") == true }
    }

    @Test("with no flow and an even mask the result is the mean of the frames (odd size, padded inside)")
    func zeroFlowIsMean() throws {
        let net = try RIFE(weights: Self.weights(override: Self.zeroHeads(biases: [[Float](repeating: 0, count: 5)] * 3)), pool: ComputePool(threads: 2))
        let a = Self.image(width: 40, height: 30, seed: 7), b = Self.image(width: 40, height: 30, seed: 8)
        let out = try net.interpolate(a, b)
        #expect(out.shape == a.shape)
        let expected = zip(a.toArray(), b.toArray()).map { ($0 + $1) / 2 }
        #expect(zip(out.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test("a flow from the first block reaches the output through its ×8 upsampling, the later blocks and the warp")
    func flowIsApplied() throws {
        // Block 0 works at 1/4 size and upsamples ×8 from its transposed convolution's 1/8:
        // a bias of 1/8 is a flow of one pixel; a large mask bias picks the first frame.
        let heads = Self.zeroHeads(biases: [[0.125, 0, 0.125, 0, 20], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
        let net = try RIFE(weights: Self.weights(seed: 3, override: heads), pool: ComputePool(threads: 2))
        let a = Self.image(width: 64, height: 32, seed: 11), b = Self.image(width: 64, height: 32, seed: 12)
        let out = try net.interpolate(a, b)
        var worst: Float = 0
        for c in 0..<3 { for y in 0..<32 { for x in 0..<64 {
            worst = max(worst, abs(out[0, c, y, x] - a[0, c, y, min(x + 1, 63)]))
        } } }
        #expect(worst < 1e-5)
    }

    @Test("generated weights give a finite frame of the input's size")
    func generatedWeights() throws {
        let net = try RIFE(weights: Self.weights(seed: 99), pool: ComputePool(threads: 2))
        let out = try net.interpolate(Self.image(width: 48, height: 40, seed: 1), Self.image(width: 48, height: 40, seed: 2), timestep: 0.25)
        #expect(out.shape == Shape(n: 1, c: 3, h: 40, w: 48))
        #expect(out.toArray().allSatisfy { $0.isFinite })
        #expect { try net.interpolate(Self.image(width: 48, height: 40, seed: 1), Self.image(width: 40, height: 40, seed: 2)) } throws: {
            ($0 as? ModelError)?.status == 422
        }
    }
}

private func * (lhs: [[Float]], rhs: Int) -> [[Float]] { Array(repeating: lhs[0], count: rhs) }
