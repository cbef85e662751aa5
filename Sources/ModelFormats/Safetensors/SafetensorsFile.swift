// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
// JSON header naming each tensor's dtype, shape and byte range, then the data.

import Foundation
import Tensor

/// A `.safetensors` file, memory-mapped: opening it reads and checks only the header; a tensor's
/// bytes are touched when it is decoded.
///
/// Every number in the header is checked before it is used (the header length against the file
/// and ``maxHeaderBytes``, each shape's element count with overflow checks, each byte range
/// against the data and against its dtype and shape), so a hostile file fails with a
/// `ModelFormatError` naming the file and the tensor, never a trap or an out-of-bounds read.
public struct SafetensorsFile: Sendable {
    /// The element types this reader decodes.
    public enum ElementType: String, Sendable, Hashable, CaseIterable {
        /// IEEE 754 binary32.
        case f32 = "F32"
        /// IEEE 754 binary16.
        case f16 = "F16"
        /// bfloat16.
        case bf16 = "BF16"

        /// Bytes per element.
        public var byteSize: Int { self == .f32 ? 4 : 2 }
    }

    /// One tensor's header entry.
    public struct Entry: Sendable, Hashable {
        /// Element type in the file.
        public var dtype: ElementType
        /// Dimensions (rank 0 is a scalar).
        public var shape: [Int]
        /// Bytes in the file, counted from the start of the data (after the header).
        public var byteRange: Range<Int>
        /// Elements: the product of `shape`.
        public var count: Int
    }

    /// The largest header accepted, 100 MB (the reference implementation's limit): a header
    /// names tensors, it does not hold them.
    public static let maxHeaderBytes = 100_000_000

    /// The file's name, for messages.
    public let name: String
    /// The tensors' entries by name.
    public let entries: [String: Entry]
    /// The free-form string pairs of `__metadata__`.
    public let metadata: [String: String]
    /// Tensors of element types this reader does not decode (integer buffers such as CLIP's
    /// `position_ids`), by name with their dtype, when the file was opened with
    /// ``OtherElementTypes/skip``; their byte ranges were checked all the same.
    public let skipped: [String: String]
    private let storage: TensorStorage
    /// Where the data begins in `storage`.
    private let dataStart: Int

    /// What opening a file does with a tensor whose element type this reader does not decode.
    public enum OtherElementTypes: Sendable, Hashable {
        /// The file is malformed (the default: a model's weights are floating point).
        case reject
        /// The tensor is listed in ``skipped`` and left out of ``entries``: whole checkpoints
        /// carry integer buffers (step counters, position ids) that no model reads.
        case skip
    }

    /// Byte sizes of the safetensors element types this reader skips but does not decode.
    private static let otherByteSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2,
        "I32": 4, "U32": 4, "I64": 8, "U64": 8, "F64": 8,
    ]

    /// Maps and checks a file.
    /// - Parameters:
    ///   - url: a local `.safetensors` file.
    ///   - otherElementTypes: whether tensors of other element types are errors or skipped.
    /// - Throws: `ModelFormatError` `.io` when the file cannot be mapped, `.malformed` naming
    ///   what is wrong with the header.
    public init(contentsOf url: URL, otherElementTypes: OtherElementTypes = .reject) throws {
        let storage: TensorStorage
        do {
            storage = try TensorStorage(mappingFile: url.path)
        } catch {
            throw ModelFormatError(.io, "\(url.lastPathComponent): \(error)")
        }
        try self.init(storage: storage, name: url.lastPathComponent, otherElementTypes: otherElementTypes)
    }

    /// Checks the bytes of a file held in memory (for tests and fuzzing).
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - name: the file's name, for messages.
    ///   - otherElementTypes: whether tensors of other element types are errors or skipped.
    /// - Throws: `ModelFormatError` `.malformed` naming what is wrong.
    public init(bytes: some Collection<UInt8>, name: String, otherElementTypes: OtherElementTypes = .reject) throws {
        let storage = TensorStorage(byteCount: bytes.count, zeroed: false)
        UnsafeMutableRawBufferPointer(start: storage.pointer, count: bytes.count).copyBytes(from: bytes)
        try self.init(storage: storage, name: name, otherElementTypes: otherElementTypes)
    }

    private init(storage: TensorStorage, name fileName: String, otherElementTypes: OtherElementTypes) throws {
        func invalid(_ why: String) -> ModelFormatError { ModelFormatError(.malformed, "\(fileName): \(why)") }
        let file = UnsafeRawBufferPointer(start: storage.pointer, count: storage.byteCount)
        guard file.count >= 8 else { throw invalid("shorter than its header") }
        let declared = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard declared >= 2, declared <= UInt64(file.count - 8) else { throw invalid("header length \(declared) exceeds the file") }
        guard declared <= UInt64(Self.maxHeaderBytes) else { throw invalid("header length \(declared) exceeds \(Self.maxHeaderBytes) bytes") }
        let headerLength = Int(declared)
        let headerBytes = Data(file[8..<(8 + headerLength)])
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw invalid("the header is not a JSON object")
        }
        let available = file.count - 8 - headerLength
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        var skipped: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let pairs = value as? [String: String] else { throw invalid("__metadata__ is not an object of strings") }
                metadata = pairs
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw invalid("tensor \(name) has no dtype, shape or data_offsets")
            }
            let dtype = ElementType(rawValue: dtypeName)
            let byteSize: Int
            if let dtype {
                byteSize = dtype.byteSize
            } else if otherElementTypes == .skip, let size = Self.otherByteSizes[dtypeName] {
                byteSize = size
            } else {
                throw invalid("tensor \(name) has dtype \(dtypeName); F32, F16 or BF16 expected")
            }
            // The element count, checked: negative or overflowing shapes are not tensors.
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow, product <= available else { throw invalid("tensor \(name) has shape \(shape)") }
                count = product
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= available else {
                throw invalid("tensor \(name) has byte range \(offsets), outside the \(available) bytes of data")
            }
            guard offsets[1] - offsets[0] == count * byteSize else {
                throw invalid("tensor \(name) has \(offsets[1] - offsets[0]) bytes for \(count) \(dtypeName) values of shape \(shape)")
            }
            guard let dtype else {
                skipped[name] = dtypeName
                continue
            }
            entries[name] = Entry(dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1], count: count)
        }
        self.name = fileName
        self.entries = entries
        self.metadata = metadata
        self.skipped = skipped
        self.storage = storage
        self.dataStart = 8 + headerLength
    }

    /// The tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// Decodes one tensor to f32 (F16 and BF16 widened exactly).
    /// - Parameter name: the tensor's name in the header.
    /// - Throws: `ModelFormatError` `.malformed` when the file has no such tensor.
    public func tensor(named name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw ModelFormatError(.malformed, "\(self.name): no tensor \(name)") }
        let out = Tensor(uninitialized: Shape(entry.shape))
        let src = UnsafeRawPointer(storage.pointer) + dataStart + entry.byteRange.lowerBound
        let dst = out.floatPointer
        switch entry.dtype {
        case .f32:
            for i in 0..<entry.count {
                dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
        case .bf16:
            for i in 0..<entry.count {
                dst[i] = HalfConversion.float(fromBF16: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            }
        case .f16:
            for i in 0..<entry.count {
                dst[i] = HalfConversion.float(fromF16: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            }
        }
        return out
    }

    /// Decodes every tensor to f32, by name.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in entries.keys { out[name] = try tensor(named: name) }
        return out
    }

    /// Writes f32 tensors as a `.safetensors` file (for tools and tests that produce weights).
    /// - Parameters:
    ///   - tensors: the tensors by name.
    ///   - url: where to write; replaced atomically.
    ///   - metadata: the `__metadata__` strings, if any.
    /// - Throws: the file system's error.
    public static func write(_ tensors: [String: Tensor], to url: URL, metadata: [String: String] = [:]) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var body = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let start = body.count
            for v in t.toArray() { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            header[name] = ["dtype": "F32", "shape": t.shape.dims, "data_offsets": [start, body.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(body)
        try file.write(to: url, options: .atomic)
    }
}
