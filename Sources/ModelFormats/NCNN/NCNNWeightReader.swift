import Foundation
import Tensor

/// Reads an ncnn `.bin` front to back, in the order the layers ask for their weights.
///
/// Large arrays (convolution, deconvolution and inner-product weights) begin with a 4-byte tag
/// that says how they are stored; small ones (biases, PReLU slopes, scales) are raw fp32.
public struct NCNNWeightReader: Sendable {
    /// The tag of fp16 weights (padded to 4 bytes).
    static let fp16Tag: UInt32 = 0x0130_6B47
    /// The tag of int8 weights (padded to 4 bytes); ncnn dequantizes them later with scales.
    static let int8Tag: UInt32 = 0x000D_4B38
    /// An explicit fp32 tag.
    static let fp32Tag: UInt32 = 0x0002_C056

    private let data: Data
    private let fileName: String
    /// Bytes consumed so far.
    public private(set) var offset = 0

    /// Wraps the bytes of a `.bin` file.
    public init(data: Data, fileName: String = ".bin") {
        self.data = data
        self.fileName = fileName
    }

    /// Bytes left unread.
    public var remaining: Int { data.count - offset }

    /// Reads `count` weights preceded by a storage tag, converting them to fp32.
    /// - Parameters:
    ///   - count: number of weights the layer declares.
    ///   - layer: the layer label, for error messages.
    /// - Throws: ``ModelFormatError`` `.weightsSize` when the file ends early, `.unsupportedLayer`
    ///   for int8 weights (they need per-channel scales this importer does not read).
    public mutating func readTagged(_ count: Int, layer: String) throws -> [Float] {
        try checkCount(count, layer: layer)
        let tag = try readUInt32(layer: layer)
        switch tag {
        case Self.fp16Tag:
            let bytes = try take((count * 2 + 3) / 4 * 4, layer: layer, what: "fp16 weights")
            var halves = [UInt16](repeating: 0, count: count)
            halves.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(count * 2))) } }
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                halves.withUnsafeBufferPointer { HalfConversion.convert(f16: $0.baseAddress!, to: out.baseAddress!, count: count) }
                initialized = count
            }
        case Self.int8Tag:
            throw ModelFormatError(.unsupportedLayer, "\(fileName): \(layer): int8 weights are not supported")
        case Self.fp32Tag, 0:
            return try readRaw(count, layer: layer)
        default:
            // A 256-entry fp32 codebook followed by one uint8 index per weight.
            let table = try readRaw(256, layer: layer)
            let indices = try take((count + 3) / 4 * 4, layer: layer, what: "quantized weight indices")
            return indices.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in (0..<count).map { table[Int(raw[$0])] } }
        }
    }

    /// Reads `count` raw little-endian fp32 values (biases, slopes, scales).
    /// - Throws: ``ModelFormatError`` `.weightsSize` when the file ends early.
    public mutating func readRaw(_ count: Int, layer: String) throws -> [Float] {
        try checkCount(count, layer: layer)
        let bytes = try take(count * 4, layer: layer, what: "\(count) fp32 values")
        // One copy of the whole array (model loads are dominated by this): the file is
        // little-endian, like every host this runs on.
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { dst.copyMemory(from: $0) } }
        #if _endian(big)
        values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        return values
    }

    /// Checks that every byte was consumed: a reader that stops early or runs past the end
    /// would otherwise load shifted, wrong weights without noticing.
    /// - Throws: ``ModelFormatError`` `.weightsSize` naming the leftover byte count.
    public func finish() throws {
        guard remaining == 0 else {
            throw ModelFormatError(.weightsSize,
                "\(fileName): \(remaining) bytes left after the last layer (read \(offset) of \(data.count)); the .bin does not match the .param")
        }
    }

    /// A weight count comes from the `.param` text: it must be one the file could hold, before
    /// any size arithmetic or allocation uses it.
    private func checkCount(_ count: Int, layer: String) throws {
        guard count >= 0, count <= data.count else {
            throw ModelFormatError(.weightsSize, "\(fileName): \(layer): \(count) weights cannot be in a \(data.count)-byte file")
        }
    }

    private mutating func readUInt32(layer: String) throws -> UInt32 {
        let b = try take(4, layer: layer, what: "a weight tag")
        return b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    private mutating func take(_ n: Int, layer: String, what: String) throws -> Data {
        guard n >= 0, n <= remaining else {
            throw ModelFormatError(.weightsSize,
                "\(fileName): \(layer): needs \(what) (\(n) bytes) at offset \(offset) but only \(remaining) bytes remain")
        }
        let start = data.startIndex + offset
        offset += n
        return data[start..<(start + n)]
    }
}
