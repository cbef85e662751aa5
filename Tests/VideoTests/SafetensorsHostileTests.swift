import Foundation
import ModelKit
@testable import Models
import Testing

/// Hostile `.safetensors` headers: lengths, shapes and offsets that would overflow or read
/// outside the file must be `weightsInvalid`, never a trap.
@Suite("safetensors: hostile headers")
struct SafetensorsHostileTests {
    /// A file: the 8-byte header length (given, or the JSON's own), the JSON, then `body`.
    static func file(_ json: String, length: UInt64? = nil, body: Data = Data(count: 16)) -> Data {
        var data = Data()
        withUnsafeBytes(of: (length ?? UInt64(json.utf8.count)).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(json.utf8))
        data.append(body)
        return data
    }

    @Test("each hostile header is refused with weightsInvalid", arguments: [
        file("{}", length: UInt64.max),
        file("{}", length: UInt64(Int.max)),
        file("{}", length: UInt64(Int.max) - 4),
        file(#"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[-4,-1],"data_offsets":[0,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[9223372036854775807,-9223372036854775808]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[-9223372036854775807,16]}}"#),
        file(#"{"t":{"dtype":"F32","shape":[4],"data_offsets":[16,9223372036854775807]}}"#),
        file(#"{"t":{"dtype":"F16","shape":[2305843009213693952,4],"data_offsets":[0,0]}}"#),
    ])
    func hostile(bytes: Data) {
        #expect { try SafetensorsFile.parse(bytes, name: "w.safetensors") } throws: { ($0 as? ModelError)?.code == .weightsInvalid }
    }

    @Test("a valid file still parses")
    func valid() throws {
        let tensors = try SafetensorsFile.parse(Self.file(#"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#), name: "w")
        #expect(tensors["t"]?.shape.dims == [2, 2])
    }
}
