/// One element of an error location: an object member or an array index.
public enum LocationComponent: Sendable, Hashable, Codable, CustomStringConvertible {
    case key(String)
    case index(Int)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .index(i) } else { self = .key(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .key(let k): try c.encode(k)
        case .index(let i): try c.encode(i)
        }
    }

    public var description: String {
        switch self {
        case .key(let k): return k
        case .index(let i): return String(i)
        }
    }
}

/// One input validation failure in fal's (pydantic's) shape: where, what, and a stable type.
public struct ValidationIssue: Sendable, Hashable, Codable {
    /// Path from the request root, starting with `"body"`: `["body", "image_size", "width"]`.
    public var loc: [LocationComponent]
    /// Human-readable message, e.g. `field required`.
    public var msg: String
    /// Stable machine-readable kind, e.g. `value_error.missing`, `type_error.integer`.
    public var type: String

    /// - Parameters:
    ///   - loc: path from the request root.
    ///   - msg: message.
    ///   - type: pydantic-style error type.
    public init(loc: [LocationComponent], msg: String, type: String) {
        self.loc = loc
        self.msg = msg
        self.type = type
    }
}
