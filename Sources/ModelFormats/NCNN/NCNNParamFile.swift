import Foundation

/// The text half of an ncnn model: layers, their blobs and their `key=value` parameters.
///
/// Format: the magic `7767517`, a line `layer_count blob_count`, then one line per layer:
/// `Type Name n_in n_out in_blobs... out_blobs... key=value...`, where a key below -23300 marks
/// an array `-233xx=n,a,b,...` stored under id `-(key) - 23300`.
public struct NCNNParamFile: Sendable {
    /// Layers in file order (which is also the order of their weights in the `.bin`).
    public var layers: [NCNNLayer]
    /// Blob count declared in the header.
    public var blobCount: Int

    /// Parses `.param` text.
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - fileName: used in error messages.
    /// - Throws: ``ModelFormatError`` `.malformed` naming the line when anything is off.
    public init(text: String, fileName: String = ".param") throws {
        var lines = text.split(whereSeparator: \.isNewline).enumerated().map { (number: $0.offset + 1, text: $0.element) }
        lines.removeAll { $0.text.allSatisfy(\.isWhitespace) }
        guard let magic = lines.first, magic.text.trimmingCharacters(in: .whitespaces) == "7767517" else {
            throw ModelFormatError(.malformed, "\(fileName): line 1: expected the magic 7767517")
        }
        guard lines.count >= 2 else {
            throw ModelFormatError(.malformed, "\(fileName): missing the layer/blob count line")
        }
        let counts = lines[1].text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard counts.count == 2, counts[0] >= 0, counts[1] >= 0 else {
            throw ModelFormatError(.malformed, "\(fileName): line \(lines[1].number): expected `layer_count blob_count`")
        }
        let layerLines = lines.dropFirst(2)
        guard layerLines.count == counts[0] else {
            throw ModelFormatError(.malformed,
                "\(fileName): header declares \(counts[0]) layers, the file has \(layerLines.count)")
        }
        blobCount = counts[1]
        layers = try layerLines.map { try NCNNLayer(line: String($0.text), number: $0.number, fileName: fileName) }
    }
}

/// One layer line of a `.param` file.
public struct NCNNLayer: Sendable {
    /// Layer type, e.g. `Convolution`.
    public var type: String
    /// Layer name (unique in the file).
    public var name: String
    /// Names of the blobs it reads.
    public var inputs: [String]
    /// Names of the blobs it writes.
    public var outputs: [String]
    /// Its parameters.
    public var params: NCNNParamDict
    /// 1-based line number in the file, for error messages.
    public var line: Int

    /// `Convolution Conv_0 (line 3)`, for error messages.
    public var label: String { "\(type) \(name) (line \(line))" }

    init(line text: String, number: Int, fileName: String) throws {
        let fields = text.split(whereSeparator: \.isWhitespace).map(String.init)
        func fail(_ why: String) -> ModelFormatError {
            ModelFormatError(.malformed, "\(fileName): line \(number): \(why)")
        }
        guard fields.count >= 4, let nIn = Int(fields[2]), let nOut = Int(fields[3]), nIn >= 0, nOut >= 0 else {
            throw fail("expected `Type Name n_in n_out ...`")
        }
        // Both counts are compared with what the line holds before any sum: a huge count is a
        // short line, not an overflow.
        guard nIn <= fields.count - 4, nOut <= fields.count - 4 - nIn else {
            throw fail("layer \(fields[1]) declares \(nIn) inputs and \(nOut) outputs but lists fewer blobs")
        }
        type = fields[0]
        name = fields[1]
        inputs = Array(fields[4..<(4 + nIn)])
        outputs = Array(fields[(4 + nIn)..<(4 + nIn + nOut)])
        self.line = number
        var dict = NCNNParamDict()
        for field in fields[(4 + nIn + nOut)...] {
            // ncnn's keys are ids 0..<32 (arrays: -23300 - id); anything else is not a key.
            guard let eq = field.firstIndex(of: "="), let key = Int(field[..<eq]), (-23300 - 31)...31 ~= key, !(-23299 ... -1 ~= key) else {
                throw fail("layer \(name): `\(field)` is not key=value with a key in 0...31 or -23331...-23300")
            }
            let value = field[field.index(after: eq)...]
            if key <= -23300 {
                let parts = value.split(separator: ",", omittingEmptySubsequences: false)
                guard let n = parts.first.flatMap({ Int($0) }), n >= 0, n == parts.count - 1 else {
                    throw fail("layer \(name): array `\(field)` does not hold the count it declares")
                }
                var items: [NCNNParamDict.Number] = []
                for p in parts.dropFirst() {
                    guard let v = NCNNParamDict.Number(String(p)) else {
                        throw fail("layer \(name): `\(p)` in `\(field)` is not a finite number in ncnn's range")
                    }
                    items.append(v)
                }
                dict.values[-key - 23300] = .array(items)
            } else {
                guard let v = NCNNParamDict.Number(String(value)) else {
                    throw fail("layer \(name): `\(value)` for key \(key) is not a finite number in ncnn's range")
                }
                dict.values[key] = .scalar(v)
            }
        }
        params = dict
    }
}

/// A layer's parameters by id, with ncnn's default-value lookups.
public struct NCNNParamDict: Sendable {
    /// A number as written: ncnn treats text with `.` or an exponent as a float.
    ///
    /// Parsed into ncnn's own types: integers must fit an `Int32` and floats must be finite,
    /// so no later conversion or size arithmetic on them can trap.
    public enum Number: Sendable, Equatable {
        case int(Int)
        case float(Float)

        init?(_ text: String) {
            if text.contains(".") || text.contains("e") || text.contains("E") {
                guard let f = Float(text), f.isFinite else { return nil }
                self = .float(f)
            } else {
                guard let i = Int32(text) else { return nil }
                self = .int(Int(i))
            }
        }

        /// The value as a float.
        public var float: Float {
            switch self {
            case .int(let i): return Float(i)
            case .float(let f): return f
            }
        }

        /// The value as an integer: floats truncate, as ncnn does, and saturate at the `Int32`
        /// range (ncnn's `int`) instead of trapping; the importer range-checks every size.
        public var int: Int {
            switch self {
            case .int(let i): return i
            case .float(let f):
                if f >= 2_147_483_648 { return Int(Int32.max) }
                if f <= -2_147_483_648 { return Int(Int32.min) }
                return Int(f)
            }
        }
    }

    /// A scalar or an array parameter.
    public enum Value: Sendable, Equatable {
        case scalar(Number)
        case array([Number])
    }

    /// Parameters by id.
    public var values: [Int: Value] = [:]

    /// The integer parameter `id`, or `defaultValue` when absent.
    public func int(_ id: Int, _ defaultValue: Int) -> Int {
        if case .scalar(let n) = values[id] { return n.int }
        return defaultValue
    }

    /// The float parameter `id`, or `defaultValue` when absent.
    public func float(_ id: Int, _ defaultValue: Float) -> Float {
        if case .scalar(let n) = values[id] { return n.float }
        return defaultValue
    }

    /// The array parameter `id` as floats, or `[]` when absent.
    public func floats(_ id: Int) -> [Float] {
        if case .array(let a) = values[id] { return a.map(\.float) }
        return []
    }

    /// The array parameter `id` as integers, or `[]` when absent.
    public func ints(_ id: Int) -> [Int] {
        if case .array(let a) = values[id] { return a.map(\.int) }
        return []
    }
}
