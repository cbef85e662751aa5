/// A reader of the protocol-buffers wire format over a byte buffer, written by hand so that the
/// ONNX importer needs no generated code.
///
/// The reader is a cursor over `bytes[start..<end]`; nested messages are read with a sub-reader
/// over the message's own range, so a length that overruns its parent is caught. Every failure
/// names the field being read and the absolute byte offset, and no input can make it trap.
struct ProtobufReader {
    /// Wire types of the protobuf encoding.
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    /// The whole buffer (shared, never copied; sub-readers view ranges of it).
    let bytes: [UInt8]
    /// Next byte to read.
    private(set) var offset: Int
    /// One past the last byte this reader may read.
    let end: Int
    /// The message being decoded, for errors (`GraphProto.node`).
    let context: String

    /// A reader over `bytes[range]`.
    init(bytes: [UInt8], range: Range<Int>? = nil, context: String) {
        self.bytes = bytes
        let r = range ?? 0..<bytes.count
        offset = r.lowerBound
        end = r.upperBound
        self.context = context
    }

    /// Whether every byte of this message has been read.
    var isAtEnd: Bool { offset >= end }

    func error(_ field: String, _ why: String, at position: Int? = nil) -> ModelFormatError {
        ModelFormatError(.malformed, "protobuf: \(context).\(field) at byte \(position ?? offset): \(why)")
    }

    /// Reads a base-128 varint (at most 10 bytes).
    mutating func readVarint(_ field: String) throws -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw error(field, "truncated varint", at: start) }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw error(field, "varint longer than 64 bits", at: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw error(field, "varint longer than 10 bytes", at: start) }
        }
    }

    /// Reads a field key: the field number and its wire type.
    mutating func readKey() throws -> (field: Int, wire: WireType) {
        let start = offset
        let key = try readVarint("key")
        let number = key >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else { throw error("key", "field number \(number) out of range", at: start) }
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw error("key", "unknown wire type \(key & 7) for field \(number)", at: start)
        }
        return (Int(number), wire)
    }

    /// Reads a little-endian 32-bit word.
    mutating func readFixed32(_ field: String) throws -> UInt32 {
        guard end - offset >= 4 else { throw error(field, "truncated fixed32") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return v
    }

    /// Reads a little-endian 64-bit word.
    mutating func readFixed64(_ field: String) throws -> UInt64 {
        guard end - offset >= 8 else { throw error(field, "truncated fixed64") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    /// Reads a length prefix and returns the range of the payload, moving past it.
    mutating func readLengthDelimited(_ field: String) throws -> Range<Int> {
        let start = offset
        let length = try readVarint(field)
        guard length <= UInt64(end - offset) else {
            throw error(field, "length \(length) overruns the enclosing message (\(end - offset) bytes left)", at: start)
        }
        let r = offset..<(offset + Int(length))
        offset = r.upperBound
        return r
    }

    /// A reader over the next length-delimited payload, which is a nested message.
    mutating func readMessage(_ field: String, context name: String) throws -> ProtobufReader {
        let r = try readLengthDelimited(field)
        return ProtobufReader(bytes: bytes, range: r, context: name)
    }

    /// Reads a length-delimited UTF-8 string (invalid sequences are repaired, not trapped on).
    mutating func readString(_ field: String) throws -> String {
        let r = try readLengthDelimited(field)
        return String(decoding: bytes[r], as: UTF8.self)
    }

    /// Reads a length-delimited byte string.
    mutating func readBytes(_ field: String) throws -> ArraySlice<UInt8> {
        bytes[try readLengthDelimited(field)]
    }

    /// Reads an `int64`/`int32` varint as a signed value (two's complement, as protobuf encodes).
    mutating func readInt64(_ field: String) throws -> Int64 {
        Int64(bitPattern: try readVarint(field))
    }

    /// Reads a `float` field.
    mutating func readFloat(_ field: String) throws -> Float {
        Float(bitPattern: try readFixed32(field))
    }

    /// Reads a `double` field.
    mutating func readDouble(_ field: String) throws -> Double {
        Double(bitPattern: try readFixed64(field))
    }

    /// Checks that a field arrived with the wire type its schema declares.
    func expect(_ wire: WireType, _ expected: WireType, _ field: String) throws {
        guard wire == expected else { throw error(field, "wire type \(wire) where \(expected) was expected") }
    }

    /// Appends a repeated varint field, packed or not.
    mutating func readRepeatedInt64(_ wire: WireType, _ field: String, into out: inout [Int64]) throws {
        switch wire {
        case .varint:
            out.append(try readInt64(field))
        case .lengthDelimited:
            var sub = ProtobufReader(bytes: bytes, range: try readLengthDelimited(field), context: context)
            while !sub.isAtEnd { out.append(try sub.readInt64(field)) }
        default:
            throw error(field, "wire type \(wire) for a repeated varint")
        }
    }

    /// Appends a repeated `float` field, packed or not.
    mutating func readRepeatedFloat(_ wire: WireType, _ field: String, into out: inout [Float]) throws {
        switch wire {
        case .fixed32:
            out.append(try readFloat(field))
        case .lengthDelimited:
            let r = try readLengthDelimited(field)
            guard r.count % 4 == 0 else { throw error(field, "packed floats of \(r.count) bytes", at: r.lowerBound) }
            var sub = ProtobufReader(bytes: bytes, range: r, context: context)
            out.reserveCapacity(out.count + r.count / 4)
            while !sub.isAtEnd { out.append(try sub.readFloat(field)) }
        default:
            throw error(field, "wire type \(wire) for a repeated float")
        }
    }

    /// Appends a repeated `double` field, packed or not.
    mutating func readRepeatedDouble(_ wire: WireType, _ field: String, into out: inout [Double]) throws {
        switch wire {
        case .fixed64:
            out.append(try readDouble(field))
        case .lengthDelimited:
            let r = try readLengthDelimited(field)
            guard r.count % 8 == 0 else { throw error(field, "packed doubles of \(r.count) bytes", at: r.lowerBound) }
            var sub = ProtobufReader(bytes: bytes, range: r, context: context)
            while !sub.isAtEnd { out.append(try sub.readDouble(field)) }
        default:
            throw error(field, "wire type \(wire) for a repeated double")
        }
    }

    /// Skips a field this decoder does not use.
    mutating func skip(_ wire: WireType, field number: Int) throws {
        let name = "field \(number)"
        switch wire {
        case .varint: _ = try readVarint(name)
        case .fixed64: _ = try readFixed64(name)
        case .fixed32: _ = try readFixed32(name)
        case .lengthDelimited: _ = try readLengthDelimited(name)
        case .startGroup, .endGroup:
            // Groups are deprecated and never appear in onnx.proto.
            throw error(name, "groups are not supported")
        }
    }
}
