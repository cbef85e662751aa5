import Foundation
import ModelFormats
import Tensor
import Testing

/// The safetensors reader: decoding F32, F16 and BF16, and hostile headers (lengths, shapes and
/// offsets that would overflow or read outside the file, dtypes that do not match their byte
/// ranges), each refused with `ModelFormatError`, never a trap.
@Suite("safetensors")
struct SafetensorsTests {
    /// A file: the 8-byte header length (given, or the JSON's own), the JSON, then `body`.
    static func file(_ json: String, length: UInt64? = nil, body: [UInt8] = [UInt8](repeating: 0, count: 16)) -> [UInt8] {
        var data: [UInt8] = []
        withUnsafeBytes(of: (length ?? UInt64(json.utf8.count)).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(json.utf8))
        data.append(contentsOf: body)
        return data
    }

    static func isMalformed(_ error: any Error) -> Bool { (error as? ModelFormatError)?.code == .malformed }

    @Test("each hostile header is refused as malformed", arguments: [
        file("{}", length: UInt64.max),
        file("{}", length: UInt64(Int.max)),
        file("{}", length: UInt64(Int.max) - 4),
        file("{}", length: 0),
        file("{}", length: 19),
        [1, 2, 3],
        file("[1,2]"),
        file(#"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[-4,-1],"data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[9223372036854775807,-9223372036854775808]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[-9223372036854775807,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[16,9223372036854775807]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#),
        file(#"{"t":{"dtype":"F16","shape":[2305843009213693952,4],"data_offsets":[0,0]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#),
        file(#"{"t":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":"4","data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0]}}"#),
        file(#"{"__metadata__":{"a":1}}"#),
    ])
    func hostile(bytes: [UInt8]) {
        #expect { try SafetensorsFile(bytes: bytes, name: "w.safetensors") } throws: { Self.isMalformed($0) }
    }

    @Test("F32, F16 and BF16 decode to the same floats; metadata and a scalar are read")
    func decoding() throws {
        let values: [Float] = [1, -2, 0.5, 384, -0.0, 3.140625]
        var body: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        for v in values { withUnsafeBytes(of: HalfConversion.f16(from: v).littleEndian) { body.append(contentsOf: $0) } }
        for v in values { withUnsafeBytes(of: HalfConversion.bf16(from: v).littleEndian) { body.append(contentsOf: $0) } }
        withUnsafeBytes(of: Float(7).bitPattern.littleEndian) { body.append(contentsOf: $0) }
        // A header length that is not a multiple of 8 leaves the data unaligned: still readable.
        let json = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#
            + #""b":{"dtype":"F16","shape":[6],"data_offsets":[24,36]},"c":{"dtype":"BF16","shape":[3,2],"data_offsets":[36,48]},"#
            + #""s":{"dtype":"F32","shape":[],"data_offsets":[48,52]}}"#
        let file = try SafetensorsFile(bytes: Self.file(json, body: body), name: "w")
        #expect(file.names == ["a", "b", "c", "s"])
        #expect(file.metadata == ["format": "pt"])
        #expect(file.entries["b"]?.dtype == .f16 && file.entries["c"]?.byteRange == 36..<48)
        let all = try file.tensors()
        #expect(all["a"]?.shape.dims == [2, 3] && all["a"]?.toArray() == values)
        #expect(all["b"]?.toArray() == values)
        #expect(all["c"]?.shape.dims == [3, 2] && all["c"]?.toArray() == values)
        #expect(all["s"]?.toArray() == [7])
        #expect { try file.tensor(named: "missing") } throws: { Self.isMalformed($0) }
    }

    @Test("written files map back unchanged; a damaged header or a missing file is an error")
    func roundTripAndDamage() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let tensors = ["a.weight": Tensor(shape: Shape([2, 3]), values: [1, -2, 3.5, 0, 1e-3, 7]), "b": Tensor(shape: Shape([1]), values: [42])]
        try SafetensorsFile.write(tensors, to: url)
        let back = try SafetensorsFile(contentsOf: url).tensors()
        #expect(back.keys.sorted() == ["a.weight", "b"])
        #expect(back["a.weight"]?.shape.dims == [2, 3] && back["a.weight"]?.toArray() == tensors["a.weight"]?.toArray())
        var bytes = try Data(contentsOf: url)
        bytes[0] = 0xFF
        try bytes.write(to: url)
        #expect { try SafetensorsFile(contentsOf: url) } throws: { Self.isMalformed($0) }
        #expect { try SafetensorsFile(contentsOf: url.appendingPathExtension("missing")) } throws: {
            ($0 as? ModelFormatError)?.code == .io
        }
    }

    @Test("truncations and bit flips of a valid file parse or fail cleanly")
    func mutations() throws {
        var body: [UInt8] = []
        for i in 0..<12 { withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        let original = Self.file(#"{"x":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]},"y":{"dtype":"BF16","shape":[0],"data_offsets":[48,48]}}"#, body: body)
        _ = try SafetensorsFile(bytes: original, name: "w").tensors()
        for length in 0..<original.count {
            #expect(throws: ModelFormatError.self) { try SafetensorsFile(bytes: original[..<length], name: "w") }
        }
        var rng = SplitMix64(seed: 11)
        for _ in 0..<2000 {
            var mutated = original
            let i = Int(rng.next() % UInt64(mutated.count))
            mutated[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            _ = try? SafetensorsFile(bytes: mutated, name: "w").tensors()
        }
    }

    @Test("integer buffers are skipped on request, with their byte ranges still checked")
    func skippedElementTypes() throws {
        var body: [UInt8] = []
        for v in [Float(1.5), -2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        for v in [Int64(0), 1] { withUnsafeBytes(of: v.littleEndian) { body.append(contentsOf: $0) } }
        let json = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[8,24]}}"#
        #expect { try SafetensorsFile(bytes: Self.file(json, body: body), name: "w") } throws: { Self.isMalformed($0) }
        let file = try SafetensorsFile(bytes: Self.file(json, body: body), name: "w", otherElementTypes: .skip)
        #expect(file.names == ["w"] && file.skipped == ["ids": "I64"])
        #expect(try file.tensor(named: "w").toArray() == [1.5, -2])
        // A skipped tensor's bytes must still match its shape, and unknown dtypes stay errors.
        for bad in [#"{"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,16]}}"#,
                    #"{"ids":{"dtype":"I64","shape":[4],"data_offsets":[0,32]}}"#,
                    #"{"ids":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}}"#] {
            #expect { try SafetensorsFile(bytes: Self.file(bad, body: body), name: "w", otherElementTypes: .skip) } throws: { Self.isMalformed($0) }
        }
    }
}
