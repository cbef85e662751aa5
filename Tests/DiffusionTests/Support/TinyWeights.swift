import Foundation
import Tensor

/// The deterministic weights and inputs of `scripts/diffusion/tiny_weights.py`, rebuilt bit for
/// bit: SplitMix64 seeded with the FNV-1a hash of the tensor's name.
enum TinyWeights {
    static func fnv1a64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01B3
        }
        return h
    }

    /// `count` values in [-1, 1) as doubles.
    static func uniform(_ label: String, count: Int) -> [Double] {
        var rng = SplitMix64(seed: fnv1a64(label))
        return (0..<count).map { _ in Double(rng.next() >> 40) / Double(1 << 24) * 2 - 1 }
    }

    /// The weight `name` of `shape` (same rule as `value()` in the script).
    static func value(_ name: String, shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        let u = uniform(name, count: count)
        let v: [Double]
        if shape.count == 1 && name.hasSuffix(".weight") {
            v = u.map { 1 + 0.2 * $0 }
        } else if name.hasSuffix(".bias") || shape.count <= 1 {
            v = u.map { 0.1 * $0 }
        } else {
            let fanIn = shape.dropFirst().reduce(1, *)
            let k = (3.0 / Double(fanIn)).squareRoot()
            v = u.map { $0 * k }
        }
        return Tensor(shape: Shape(shape), values: v.map { Float($0) })
    }

    /// Every weight of a model, from the `name → shape` table its golden records.
    static func tensors(_ shapes: [String: [Int]]) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, shape) in shapes { out[name] = value(name, shape: shape) }
        return out
    }

    /// An input tensor uniform in [-scale, scale).
    static func input(_ label: String, shape: [Int], scale: Double = 1) -> Tensor {
        let u = uniform(label, count: shape.reduce(1, *))
        return Tensor(shape: Shape(shape), values: u.map { Float($0 * scale) })
    }
}
