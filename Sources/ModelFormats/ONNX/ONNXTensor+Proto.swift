import Foundation
import Tensor

extension ONNXTensor {
    /// Decodes a constant tensor: `raw_data`, the typed `*_data` fields, or an external file.
    /// - Parameters:
    ///   - proto: the tensor message.
    ///   - baseDirectory: where external data files are looked up (the model's directory).
    /// - Throws: ``ModelFormatError`` `.malformed` when the byte count does not match the shape,
    ///   `.unsupportedLayer` for an element type the importer does not compute with, `.io` when an
    ///   external file is missing or too short.
    public init(proto: ONNX.TensorProto, baseDirectory: String? = nil) throws {
        let name = proto.name.isEmpty ? "<unnamed>" : proto.name
        guard let type = proto.dataType, Self.supportedTypes.contains(type) else {
            throw ModelFormatError(.unsupportedLayer, "onnx: tensor '\(name)' has unsupported data type \(proto.dataTypeRaw)")
        }
        let shape = proto.dims.map { Int($0) }
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow, count < 1 << 34 else {
            throw ModelFormatError(.malformed, "onnx: tensor '\(name)' shape \(shape) is too large")
        }
        var raw = proto.rawData
        if proto.dataLocation == 1 {
            raw = try Self.readExternal(proto, name: name, byteCount: count * type.byteSize, baseDirectory: baseDirectory)
        }
        if let raw {
            guard raw.count == count * type.byteSize else {
                throw ModelFormatError(.malformed,
                    "onnx: tensor '\(name)' raw_data has \(raw.count) bytes, \(type)\(shape) needs \(count * type.byteSize)")
            }
            self = Self.decodeRaw(raw, type: type, shape: shape)
            return
        }
        func check(_ n: Int, _ field: String) throws {
            guard n == count else {
                throw ModelFormatError(.malformed, "onnx: tensor '\(name)' \(field) has \(n) values, shape \(shape) needs \(count)")
            }
        }
        switch type {
        case .float:
            try check(proto.floatData.count, "float_data")
            self.init(shape: shape, floats: proto.floatData)
        case .double:
            try check(proto.doubleData.count, "double_data")
            self.init(shape: shape, floats: proto.doubleData.map { Float($0) }, type: .double)
        case .float16, .bfloat16:
            try check(proto.int32Data.count, "int32_data")
            let values = proto.int32Data.map { bits -> Float in
                let b = UInt16(truncatingIfNeeded: bits)
                return type == .float16 ? HalfConversion.float(fromF16: b) : HalfConversion.float(fromBF16: b)
            }
            self.init(shape: shape, floats: values, type: type)
        case .int64:
            try check(proto.int64Data.count, "int64_data")
            self.init(shape: shape, ints: proto.int64Data)
        case .uint64:
            try check(proto.uint64Data.count, "uint64_data")
            self.init(shape: shape, ints: proto.uint64Data, type: .uint64)
        case .bool:
            try check(proto.int32Data.count, "int32_data")
            self.init(shape: shape, bools: proto.int32Data.map { $0 != 0 })
        default:
            try check(proto.int32Data.count, "int32_data")
            self.init(shape: shape, ints: proto.int32Data, type: type)
        }
    }

    /// Element types this importer computes with.
    static let supportedTypes: Set<ONNX.DataType> = [
        .float, .float16, .bfloat16, .double, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .bool,
    ]

    private static func decodeRaw(_ raw: ArraySlice<UInt8>, type: ONNX.DataType, shape: [Int]) -> ONNXTensor {
        let count = shape.reduce(1, *)
        return raw.withUnsafeBytes { buf -> ONNXTensor in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(littleEndian: buf.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
            }
            switch type {
            case .float:
                return ONNXTensor(shape: shape, floats: (0..<count).map { Float(bitPattern: load(UInt32.self, $0)) })
            case .double:
                return ONNXTensor(shape: shape, floats: (0..<count).map { Float(Double(bitPattern: load(UInt64.self, $0))) }, type: .double)
            case .float16:
                return ONNXTensor(shape: shape, floats: (0..<count).map { HalfConversion.float(fromF16: load(UInt16.self, $0)) }, type: type)
            case .bfloat16:
                return ONNXTensor(shape: shape, floats: (0..<count).map { HalfConversion.float(fromBF16: load(UInt16.self, $0)) }, type: type)
            case .bool:
                return ONNXTensor(shape: shape, bools: (0..<count).map { buf[$0] != 0 })
            case .int8: return ONNXTensor(shape: shape, ints: (0..<count).map { Int64(Int8(bitPattern: buf[$0])) }, type: type)
            case .uint8: return ONNXTensor(shape: shape, ints: (0..<count).map { Int64(buf[$0]) }, type: type)
            case .int16: return ONNXTensor(shape: shape, ints: (0..<count).map { Int64(load(Int16.self, $0)) }, type: type)
            case .uint16: return ONNXTensor(shape: shape, ints: (0..<count).map { Int64(load(UInt16.self, $0)) }, type: type)
            case .int32: return ONNXTensor(shape: shape, ints: (0..<count).map { Int64(load(Int32.self, $0)) }, type: type)
            case .uint32: return ONNXTensor(shape: shape, ints: (0..<count).map { Int64(load(UInt32.self, $0)) }, type: type)
            default:
                // int64 and uint64 (bit pattern kept).
                return ONNXTensor(shape: shape, ints: (0..<count).map { load(Int64.self, $0) }, type: type)
            }
        }
    }

    private static func readExternal(_ proto: ONNX.TensorProto, name: String, byteCount: Int,
                                     baseDirectory: String?) throws -> ArraySlice<UInt8> {
        guard let location = proto.externalData["location"], !location.isEmpty else {
            throw ModelFormatError(.malformed, "onnx: tensor '\(name)' is external but names no location")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw ModelFormatError(.malformed, "onnx: tensor '\(name)' external location '\(location)' leaves the model directory")
        }
        let offset = Int(proto.externalData["offset"] ?? "0") ?? -1
        let length = Int(proto.externalData["length"] ?? "\(byteCount)") ?? -1
        guard offset >= 0, length == byteCount else {
            throw ModelFormatError(.malformed,
                "onnx: tensor '\(name)' external offset \(proto.externalData["offset"] ?? "") length \(proto.externalData["length"] ?? "") (needs \(byteCount) bytes)")
        }
        let path = (baseDirectory ?? ".") + "/" + location
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelFormatError(.io, "onnx: tensor '\(name)' external file \(path) cannot be opened")
        }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            guard data.count == length else {
                throw ModelFormatError(.io, "onnx: tensor '\(name)' external file \(path) ends before byte \(offset + length)")
            }
            return ArraySlice([UInt8](data))
        } catch let e as ModelFormatError {
            throw e
        } catch {
            throw ModelFormatError(.io, "onnx: tensor '\(name)' external file \(path): \(error)")
        }
    }
}
