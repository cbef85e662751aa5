/// The file format of a model's weights: which importer turns them into a graph. Every
/// manifest names one (`"format": "ncnn" | "onnx" | "safetensors"`).
public enum ModelFormat: String, Sendable, CaseIterable, Codable {
    /// ncnn `.param` + `.bin` (the gallery's upscalers).
    case ncnn
    /// An ONNX protobuf file.
    case onnx
    /// A safetensors checkpoint; its architecture is a Swift model family.
    case safetensors

    /// The `format` value manifests written before formats were named (ONNX only) carry.
    static let legacyONNX = "peregrine.onnx-manifest/1"
}

extension ManifestReader {
    /// A string member read as a typed value (an enum), rejecting anything else with the list
    /// of allowed values.
    mutating func choice<Value: RawRepresentable & CaseIterable>(_ key: String, as type: Value.Type) throws -> Value?
    where Value.RawValue == String {
        guard let s = try string(key) else { return nil }
        guard let value = Value(rawValue: s) else {
            throw error(key, "unknown value '\(s)'; allowed: \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// The manifest's `format`: a ``ModelFormat``, or the legacy ONNX manifest version.
    mutating func format() throws -> ModelFormat {
        let raw = try requiredString("format")
        if raw == ModelFormat.legacyONNX { return .onnx }
        guard let format = ModelFormat(rawValue: raw) else {
            throw error("format", "unknown format '\(raw)'; allowed: \(ModelFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return format
    }

    /// A list of integers.
    mutating func ints(_ key: String, in range: ClosedRange<Int>) throws -> [Int]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v else { throw error(key, "must be an array of integers") }
        return try items.enumerated().map { i, item in
            guard let i = item.intValue, let n = Int(exactly: i), range.contains(n) else {
                throw ManifestError(field: "\(field(key))[\(i)]", "must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
    }

    /// A list of non-empty strings.
    mutating func strings(_ key: String) throws -> [String]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v else { throw error(key, "must be an array of strings") }
        return try items.enumerated().map { i, item in
            guard let s = item.stringValue, !s.isEmpty else { throw ManifestError(field: "\(field(key))[\(i)]", "must be a non-empty string") }
            return s
        }
    }

    /// A boolean member.
    mutating func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw error(key, "must be true or false") }
        return b
    }
}
