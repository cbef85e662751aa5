import Foundation
import Testing
@testable import Tensor

@Suite("Tensor")
struct TensorTests {
    @Test func shapeAccessorsReadNCHW() {
        let s: Shape = [2, 3, 4, 5]
        #expect(s.count == 120)
        #expect((s.n, s.c, s.h, s.w) == (2, 3, 4, 5))
        #expect(s.strides == [60, 20, 5, 1])
        let chw: Shape = [3, 4, 5]
        #expect((chw.n, chw.c) == (1, 3))
        #expect(s.description == "[2, 3, 4, 5]")
    }

    @Test func storageIsAlignedAndZeroed() {
        let t = Tensor(zeros: [1, 3, 7, 9])
        #expect(t.isAligned)
        #expect(t.toArray().allSatisfy { $0 == 0 })
    }

    @Test func viewsShareStorage() throws {
        let t = Tensor(shape: [2, 2, 1, 3], values: (0..<12).map(Float.init))
        let second = t.batch(1)
        #expect(second.shape == [1, 2, 1, 3])
        #expect(second[0, 0, 0, 0] == 6)
        second[0, 1, 0, 2] = 100
        #expect(t[flat: 11] == 100)
        let flat = try t.reshaped([12])
        #expect(flat[flat: 11] == 100)
        #expect(throws: TensorError.self) { try t.reshaped([5]) }
        #expect(throws: TensorError.self) { try t.view(elementOffset: 10, shape: [3]) }
        let c = t.copy()
        c[flat: 0] = -1
        #expect(t[flat: 0] == 0)
    }

    @Test(arguments: [Float(0), 1, -2.5, 65504, 1e-3, 3.14159, -0.0, 123.456])
    func halfRoundTrips(value: Float) {
        let f16 = HalfConversion.float(fromF16: HalfConversion.f16(from: value))
        #expect(abs(f16 - value) <= abs(value) * 1e-3)
        let bf16 = HalfConversion.float(fromBF16: HalfConversion.bf16(from: value))
        #expect(abs(bf16 - value) <= abs(value) * 4e-3)
    }

    @Test func infinitiesSurviveConversion() {
        #expect(HalfConversion.float(fromF16: HalfConversion.f16(from: .infinity)) == .infinity)
        #expect(HalfConversion.float(fromBF16: HalfConversion.bf16(from: -.infinity)) == -.infinity)
        #expect(HalfConversion.float(fromF16: HalfConversion.f16(from: 1e6)) == .infinity)
    }

    @Test func bf16RoundsToNearestEven() {
        // 1 + 2^-8 lies exactly between two bf16 values; ties go to the even mantissa (1.0).
        #expect(HalfConversion.bf16(from: 1 + 1.0 / 256) == 0x3F80)
        // 1 + 3 * 2^-8 lies between 1+2^-7 (odd) and 1+2^-6 (even): rounds up to even.
        #expect(HalfConversion.bf16(from: 1 + 3.0 / 256) == 0x3F82)
        #expect(HalfConversion.float(fromBF16: HalfConversion.bf16(from: .nan)).isNaN)
    }

    @Test func convertedTensorsKeepValues() {
        let t = Tensor(shape: [1, 1, 2, 2], values: [0.5, -1, 2, 1024])
        #expect(t.converted(to: .f16).converted(to: .f32).toArray() == [0.5, -1, 2, 1024])
        #expect(t.converted(to: .bf16).toArray() == [0.5, -1, 2, 1024])
    }

    @Test func mappedFileIsReadable() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tensor-map-\(getpid()).bin").path
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let storage = try TensorStorage(mappingFile: path)
        #expect(!storage.isWritable)
        let t = try Tensor(shape: [2], storage: storage, byteOffset: 8)
        #expect(t.toArray() == [3, 4])
        #expect(throws: TensorError.self) { try Tensor(shape: [7], storage: storage) }
        #expect(throws: TensorError.self) { try TensorStorage(mappingFile: path + ".missing") }
    }
}
