import Foundation
@testable import ModelFormats

/// Locates and reads the goldens written by scripts/onnx/make_goldens.py.
enum Goldens {
    /// `Tests/ONNXTests/Goldens`.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Goldens")

    /// The operator case directories, by name.
    static func operatorCases() -> [String] {
        let ops = directory.appendingPathComponent("ops").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: ops)) ?? []).sorted()
    }

    /// Reads `input_i.pb` (or `output_i.pb`) files of a case directory in order.
    static func tensors(in dir: URL, prefix: String) throws -> [(name: String, tensor: ONNXTensor)] {
        var out: [(String, ONNXTensor)] = []
        var i = 0
        while let data = FileManager.default.contents(atPath: dir.appendingPathComponent("\(prefix)_\(i).pb").path) {
            let proto = try ONNX.TensorProto(serialized: [UInt8](data))
            out.append((proto.name, try ONNXTensor(proto: proto)))
            i += 1
        }
        return out
    }

    /// Largest absolute difference, or nil when shapes or kinds differ.
    static func maxAbsDifference(_ a: ONNXTensor, _ b: ONNXTensor) -> Float? {
        guard a.shape == b.shape else { return nil }
        switch (a.elements, b.elements) {
        case (.bool(let x), .bool(let y)): return x == y ? 0 : .infinity
        case (.int64(let x), .int64(let y)): return x == y ? 0 : .infinity
        case (.float(let x), .float(let y)):
            var m: Float = 0
            for (p, q) in zip(x, y) {
                if p.isNaN != q.isNaN { return .infinity }
                if !p.isNaN { m = max(m, abs(p - q)) }
            }
            return m
        default: return nil
        }
    }
}
