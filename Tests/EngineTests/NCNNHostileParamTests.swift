import Foundation
import ModelFormats
import Testing

/// Hostile `.param` text: numbers that would overflow, convert out of range or size an
/// allocation from nothing. Each must be an error naming its line, never a trap.
@Suite("ncnn importer: hostile .param numbers")
struct NCNNHostileParamTests {
    static func importGraph(_ param: String, _ bin: Data = Data(count: 64)) throws {
        var reader = NCNNWeightReader(data: bin, fileName: "t.bin")
        _ = try NCNNImporter.importGraph(param: try NCNNParamFile(text: param, fileName: "t.param"), weights: &reader)
    }

    /// `7767517`, the counts, an Input on line 3, and `layer` on line 4.
    static func model(_ layer: String) -> String { "7767517\n2 2\nInput in 0 1 data\n\(layer)\n" }

    @Test("each hostile number is an error naming line 4", arguments: [
        // Blob counts that would overflow `4 + n_in + n_out`.
        "ReLU r 9223372036854775807 1 data out",
        "ReLU r 1 9223372036854775807 data out",
        "ReLU r 4611686018427387904 4611686018427387904 data out",
        // Array counts that would overflow `n + 1`, and keys out of ncnn's range.
        "Eltwise e 1 1 data out -23301=9223372036854775807,1",
        "ReLU r 1 1 data out -9223372036854775808=1",
        "ReLU r 1 1 data out 99999999999=1",
        // Integers beyond ncnn's int32, non-finite floats.
        "ReLU r 1 1 data out 0=99999999999",
        "ReLU r 1 1 data out 0=1e39",
        "ReLU r 1 1 data out 0=-1e39",
        "Eltwise e 1 1 data out -23301=1,1e40",
        // Negative and huge sizes.
        "Convolution c 1 1 data out 0=1 1=1 6=-9",
        "Convolution c 1 1 data out 0=1 1=1 6=2147483647",
        "Convolution c 1 1 data out 0=1 1=1 3=0 6=1",
        "Convolution c 1 1 data out 0=1 1=1 2=-1 6=1",
        "Convolution c 1 1 data out 0=3.0e38 1=1 6=1",
        "InnerProduct f 1 1 data out 0=2 2=-4",
        "InnerProduct f 1 1 data out 0=1 2=2147483647",
        "Deconvolution d 1 1 data out 0=2147483647 1=2147483647 11=2147483647 6=1",
        "Deconvolution d 1 1 data out 0=1 1=1 6=-1",
        "Deconvolution d 1 1 data out 0=1 1=1 6=1 19=-5",
        "PReLU p 1 1 data out 0=2147483647",
        "BinaryOp b 1 1 data out 0=-1 1=1",
        "Crop c 1 1 data out 0=-3",
        "Interp i 1 1 data out 0=1 1=3.0e38 2=2",
        "Interp i 1 1 data out 0=1 1=2 2=-2.0",
    ])
    func hostile(layer: String) {
        #expect {
            try Self.importGraph(Self.model(layer))
        } throws: { error in
            guard let error = error as? ModelFormatError else { return false }
            return error.message.contains("line 4")
        }
    }

    @Test("a float converted to an integer saturates instead of trapping")
    func floatToInt() {
        #expect(NCNNParamDict.Number.float(3.0e38).int == 2_147_483_647)
        #expect(NCNNParamDict.Number.float(-3.0e38).int == -2_147_483_648)
        #expect(NCNNParamDict.Number.float(-2.9).int == -2)
    }

    @Test("weight reads with negative or impossible counts are errors, not traps")
    func weightCounts() {
        var reader = NCNNWeightReader(data: Data(count: 8), fileName: "t.bin")
        #expect(throws: ModelFormatError.self) { _ = try reader.readRaw(-1, layer: "L (line 9)") }
        #expect(throws: ModelFormatError.self) { _ = try reader.readTagged(-1, layer: "L (line 9)") }
        #expect(throws: ModelFormatError.self) { _ = try reader.readRaw(Int.max / 2, layer: "L (line 9)") }
        #expect(throws: ModelFormatError.self) { _ = try reader.readTagged(Int.max, layer: "L (line 9)") }
    }
}
