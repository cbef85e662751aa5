import Foundation
import Graph
import Kernels
import ModelFormats
import Tensor
import Testing

/// The ncnn reader on synthetic files: parameters, weight tags, and every error naming where.
@Suite("ncnn importer")
struct NCNNImporterTests {
    static func floats(_ xs: [Float]) -> Data {
        var d = Data()
        for x in xs { withUnsafeBytes(of: x.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    static func u32(_ x: UInt32) -> Data { withUnsafeBytes(of: x.littleEndian) { Data($0) } }

    static func importGraph(_ param: String, _ bin: Data) throws -> Graph {
        var reader = NCNNWeightReader(data: bin, fileName: "t.bin")
        return try NCNNImporter.importGraph(param: try NCNNParamFile(text: param, fileName: "t.param"), weights: &reader)
    }

    @Test("parses keys, defaults, float detection and -233xx arrays")
    func paramDict() throws {
        let p = try NCNNParamFile(text: """
        7767517
        2 2
        Input in 0 1 data 0=8 1=8 2=3
        Convolution c 1 1 data out 0=4 1=3 4=1 5=1 6=108 9=2 -23310=1,2.000000e-01 -23320=3,1,2.5,-3
        """)
        #expect(p.layers.count == 2 && p.blobCount == 2)
        let c = p.layers[1]
        #expect(c.inputs == ["data"] && c.outputs == ["out"] && c.line == 4)
        #expect(c.params.int(0, 0) == 4 && c.params.int(11, c.params.int(1, 0)) == 3 && c.params.int(3, 1) == 1)
        #expect(c.params.floats(10) == [0.2])
        #expect(c.params.values[20] == .array([.int(1), .float(2.5), .int(-3)]))
    }

    @Test("malformed text names the line", arguments: [
        ("7767516\n0 0\n", "line 1"),
        ("7767517\n1 1\n", "declares 1 layers"),
        ("7767517\n1 1\nInput in 0 1\n", "line 3"),
        ("7767517\n1 1\nInput in 0 1 data 0=abc\n", "line 3"),
        ("7767517\n1 1\nInput in 0 1 data -23300=3,1,2\n", "line 3"),
    ])
    func malformed(text: String, mention: String) {
        #expect {
            _ = try NCNNParamFile(text: text, fileName: "t.param")
        } throws: { ($0 as? ModelFormatError)?.message.contains(mention) == true }
    }

    @Test("unknown layer types are errors naming the layer and its line")
    func unknownLayer() {
        let text = "7767517\n2 2\nInput in 0 1 data\nYOLOv9Magic magic0 1 1 data out\n"
        #expect {
            _ = try Self.importGraph(text, Data())
        } throws: {
            guard let e = $0 as? ModelFormatError else { return false }
            return e.code == .unsupportedLayer && e.message.contains("YOLOv9Magic magic0 (line 4)")
        }
    }

    static let convParam = "7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=2 1=1 5=1 6=4\n"

    @Test("fp32, fp16 and codebook weights decode to the same values")
    func weightTags() throws {
        let w: [Float] = [0.5, -1.25, 2, 0.75]
        let bias = Self.floats([0.1, -0.2])
        var fp16 = Self.u32(0x0130_6B47)
        for x in w { withUnsafeBytes(of: Float16(x).bitPattern.littleEndian) { fp16.append(contentsOf: $0) } }
        var table = Self.u32(0x0102_0304)
        var codebook = [Float](repeating: 0, count: 256)
        for (i, x) in w.enumerated() { codebook[i * 10] = x }
        table.append(Self.floats(codebook))
        table.append(contentsOf: [0, 10, 20, 30])
        for weights in [Self.u32(0) + Self.floats(w), Self.u32(0x0002_C056) + Self.floats(w), fp16, table] {
            let g = try Self.importGraph(Self.convParam, weights + bias)
            guard case .convolution(let c) = g.nodes[0].op else { Issue.record("not a convolution"); return }
            #expect(c.weights == w)
            #expect(c.bias == [0.1, -0.2])
            #expect(c.inChannels == 2 && c.outChannels == 2)
        }
    }

    @Test("a .bin that is short or long is an error with the byte counts")
    func sizeChecks() {
        let good = Self.u32(0) + Self.floats([1, 2, 3, 4]) + Self.floats([0, 0])
        #expect { _ = try Self.importGraph(Self.convParam, good.dropLast(4)) } throws: {
            ($0 as? ModelFormatError)?.code == .weightsSize && "\($0)".contains("Convolution c (line 4)")
        }
        #expect { _ = try Self.importGraph(Self.convParam, good + Data([0, 0, 0, 0])) } throws: {
            ($0 as? ModelFormatError)?.code == .weightsSize && "\($0)".contains("4 bytes left")
        }
        #expect(throws: Never.self) { _ = try Self.importGraph(Self.convParam, good) }
    }

    @Test("Split aliases values; outputs are the blobs nobody reads")
    func splitAndOutputs() throws {
        let text = """
        7767517
        4 5
        Input in 0 1 data
        Split s 1 2 data a b
        ReLU r 1 1 a ra
        BinaryOp add 2 1 ra b out 0=0
        """
        let g = try Self.importGraph(text, Data())
        #expect(g.nodes.count == 2)
        #expect(g.outputs.map { g.valueNames[$0.index] } == ["out"])
        #expect(g.nodes[1].inputs.contains(g.inputs[0]))
    }
}
