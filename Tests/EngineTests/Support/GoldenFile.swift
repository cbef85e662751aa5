import Foundation

/// One golden file written by scripts/make_ncnn_goldens.py (layout documented there).
struct GoldenFile: Sendable, CustomStringConvertible {
    struct Header: Decodable, Sendable {
        var name: String
        var model: String
        var input_blob: String
        var output_blob: String
        var width: Int
        var height: Int
        var pad: [Int]
        var net_input_shape: [Int]
        var output_shape: [Int]
        var sample_stride: Int
        var sample_count: Int
        var sum: Double
        var sum_sq: Double
    }

    var header: Header
    /// RGB bytes, row-major, `height * width * 3`.
    var pixels: [UInt8]
    /// Output samples at indices `k * sample_stride`.
    var samples: [Float]

    var description: String { header.name }

    static func load(_ url: URL) throws -> GoldenFile {
        let data = try Data(contentsOf: url)
        let magic = Data("PGGOLD1\n".utf8)
        guard data.prefix(magic.count) == magic, let nl = data[magic.count...].firstIndex(of: 0x0A) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let header = try JSONDecoder().decode(Header.self, from: data[magic.count..<nl])
        let pixelCount = header.width * header.height * 3
        let pixelStart = nl + 1
        let pixels = [UInt8](data[pixelStart..<(pixelStart + pixelCount)])
        let sampleStart = pixelStart + pixelCount
        let samples: [Float] = data[sampleStart...].withUnsafeBytes { raw in
            (0..<header.sample_count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        return GoldenFile(header: header, pixels: pixels, samples: samples)
    }

    /// Every golden file, sorted by name.
    static func all() -> [GoldenFile] {
        let dir = TestWeights.goldenDirectory
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".golden") }.sorted()
        return names.compactMap { try? load(dir.appendingPathComponent($0)) }
    }
}
