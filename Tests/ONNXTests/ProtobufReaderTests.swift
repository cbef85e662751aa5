import Foundation
import Tensor
import Testing
@testable import ModelFormats

@Suite struct ProtobufReaderTests {
    @Test func varintsFixedAndPacked() throws {
        // field 1 varint 300; field 2 fixed32 1.5; field 3 packed varints [1, 150, -1]; field 4 fixed64 2.25.
        var bytes: [UInt8] = [0x08, 0xAC, 0x02, 0x15]
        bytes += withUnsafeBytes(of: Float(1.5).bitPattern.littleEndian, Array.init)
        let minusOne: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        bytes += [0x1A, UInt8(1 + 2 + minusOne.count), 0x01, 0x96, 0x01] + minusOne
        bytes += [0x21] + withUnsafeBytes(of: Double(2.25).bitPattern.littleEndian, Array.init)
        var r = ProtobufReader(bytes: bytes, context: "Test")
        var k = try r.readKey()
        #expect(k.field == 1 && k.wire == .varint)
        #expect(try r.readVarint("a") == 300)
        k = try r.readKey()
        #expect(k.field == 2 && k.wire == .fixed32)
        #expect(try r.readFloat("b") == 1.5)
        k = try r.readKey()
        var ints: [Int64] = []
        try r.readRepeatedInt64(k.wire, "c", into: &ints)
        #expect(ints == [1, 150, -1])
        k = try r.readKey()
        #expect(k.field == 4 && k.wire == .fixed64)
        #expect(try r.readDouble("d") == 2.25)
        #expect(r.isAtEnd)
    }

    @Test func truncatedLengthNamesFieldAndOffset() {
        // ModelProto.graph (field 7) claiming 10 bytes with 2 present.
        let bytes: [UInt8] = [0x08, 0x07, 0x3A, 0x0A, 0x01, 0x02]
        do {
            _ = try ONNX.ModelProto(serialized: bytes)
            Issue.record("decoded a truncated model")
        } catch let e as ModelFormatError {
            #expect(e.code == .malformed)
            #expect(e.message.contains("ModelProto.graph"))
            #expect(e.message.contains("byte 3"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func overlongVarintIsAnError() {
        let bytes = [UInt8](repeating: 0xFF, count: 11)
        var r = ProtobufReader(bytes: bytes, context: "Test")
        #expect(throws: ModelFormatError.self) { try r.readVarint("x") }
    }

    @Test func wrongWireTypeIsAnError() {
        // ir_version (field 1) sent as fixed32.
        let bytes: [UInt8] = [0x0D, 0, 0, 0, 0]
        #expect(throws: ModelFormatError.self) { try ONNX.ModelProto(serialized: bytes) }
    }

    /// Truncations at every length and random bit flips of a real model must decode or throw,
    /// never trap.
    @Test func fuzzTruncationsAndBitFlips() throws {
        let path = Goldens.directory.appendingPathComponent("ops/conv_3x3_pad/model.onnx").path
        let original = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        _ = try ONNXModel(model: try ONNX.ModelProto(serialized: original))
        var failures = 0
        for length in 0..<original.count {
            do { _ = try ONNXModel(model: try ONNX.ModelProto(serialized: Array(original[..<length]))) } catch { failures += 1 }
        }
        #expect(failures > original.count / 2)
        var rng = SplitMix64(seed: 7)
        for _ in 0..<3000 {
            var mutated = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(mutated.count))
                mutated[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            }
            if let model = try? ONNX.ModelProto(serialized: mutated) {
                _ = try? ONNXModel(model: model)
            }
        }
    }
}

/// Mutated operator models must import, plan and run to a result or an error, never trap.
@Suite struct ONNXExecutorFuzzTests {
    @Test(arguments: ["conv_3x3_pad", "conv_external_data", "convtranspose_s2", "resize_cubic_down", "resize_linear_align_sizes",
                      "slice_steps", "gather_axis0", "einsum_heads", "maxpool_ceil", "avgpool_pad_include_ceil", "split_sizes",
                      "shape_start_end_concat_reshape", "constantofshape_expand", "constant_range_shape_chain",
                      "groupnorm_pattern", "layernorm", "matmul_batched_broadcast", "where", "initializer_types_cast"])
    func mutatedModelsFailCleanly(_ name: String) throws {
        let dir = Goldens.directory.appendingPathComponent("ops/\(name)")
        let original = [UInt8](try #require(FileManager.default.contents(atPath: dir.appendingPathComponent("model.onnx").path)))
        let feeds = Dictionary(uniqueKeysWithValues: try Goldens.tensors(in: dir, prefix: "input").map { ($0.name, $0.tensor) })
        var rng = SplitMix64(seed: UInt64(name.utf8.count))
        var ran = 0
        for _ in 0..<150 {
            var mutated = original
            let i = Int(rng.next() % UInt64(mutated.count))
            mutated[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            guard let proto = try? ONNX.ModelProto(serialized: mutated), let model = try? ONNXModel(model: proto, baseDirectory: dir.path) else { continue }
            if (try? model.run(feeds)) != nil { ran += 1 }
        }
        // Most single-bit flips land in weights or names and leave a runnable model.
        #expect(ran > 0)
    }
}
