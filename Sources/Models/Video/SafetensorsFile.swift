import Foundation
import ModelKit
import Tensor

/// Reads a `.safetensors` file (an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and byte range, then the data) into f32 tensors by name. Only
/// what RIFE's weights need: F32, F16 and BF16.
enum SafetensorsFile {
    /// - Throws: `ModelError` `.weightsInvalid` naming what is wrong with the file.
    static func read(_ url: URL) throws -> [String: Tensor] {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        return try parse(data, name: url.lastPathComponent)
    }

    /// Parses the bytes of a `.safetensors` file. Every number in the header is checked before
    /// it is used: lengths, shapes and offsets come from the file, and no value of them may
    /// overflow, read outside the data or allocate more than the file holds.
    /// - Throws: `ModelError` `.weightsInvalid` naming `name` and what is wrong.
    static func parse(_ data: Data, name fileName: String) throws -> [String: Tensor] {
        func invalid(_ why: String) -> ModelError { ModelError(.weightsInvalid, "\(fileName): \(why)") }
        guard data.count >= 8 else { throw invalid("shorter than its header") }
        let declared = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard declared > 0, declared <= UInt64(data.count - 8) else { throw invalid("header length \(declared) exceeds the file") }
        let headerLength = Int(declared)
        let start = data.startIndex
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: (start + 8)..<(start + 8 + headerLength))) as? [String: Any] else {
            throw invalid("the header is not a JSON object")
        }
        let base = 8 + headerLength
        let available = data.count - base
        var tensors: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw invalid("tensor \(name) has no dtype, shape or data_offsets")
            }
            let width = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0
            guard width > 0 else { throw invalid("tensor \(name) has dtype \(dtype); F32, F16 or BF16 expected") }
            // The element count, checked: negative or overflowing shapes are not tensors.
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow, product <= available else { throw invalid("tensor \(name) has shape \(shape)") }
                count = product
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= available, offsets[1] - offsets[0] == count * width else {
                throw invalid("tensor \(name) has byte range \(offsets) for \(count) \(dtype) values")
            }
            let bytes = data.subdata(in: (start + base + offsets[0])..<(start + base + offsets[1]))
            let values: [Float] = bytes.withUnsafeBytes { raw in
                (0..<count).map { i -> Float in
                    switch dtype {
                    case "F32": return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                    case "BF16": return Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)
                    default: return Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
                    }
                }
            }
            tensors[name] = Tensor(shape: Shape(shape), values: values)
        }
        return tensors
    }

    /// Writes f32 tensors (for tools and tests that produce weights).
    static func write(_ tensors: [String: Tensor], to url: URL) throws {
        var header: [String: Any] = [:]
        var body = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let start = body.count
            for v in t.toArray() { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            header[name] = ["dtype": "F32", "shape": t.shape.dims, "data_offsets": [start, body.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(body)
        try file.write(to: url)
    }
}
