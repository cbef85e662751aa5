import ModelKit

/// Reads one JSON object of a manifest strictly: every member must be read by the parser, so a
/// misspelt or unsupported field is an error that names it instead of a silently ignored line.
struct ManifestReader {
    /// The object's JSON path (`inputs[2]`), empty at the root.
    let path: String
    private let members: [String: JSONValue]
    private var read: Set<String> = []

    /// - Throws: ``ManifestError`` when `value` is not an object.
    init(_ value: JSONValue, path: String) throws {
        guard case .object(let members) = value else {
            throw ManifestError(field: path.isEmpty ? nil : path, "must be a JSON object")
        }
        self.members = members
        self.path = path
    }

    /// The JSON path of a member.
    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// An error about a member.
    func error(_ key: String, _ message: String) -> ManifestError { ManifestError(field: field(key), message) }

    /// A member's raw value, marked as read.
    mutating func value(_ key: String) -> JSONValue? {
        read.insert(key)
        guard let v = members[key], v != .null else { return nil }
        return v
    }

    mutating func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw error(key, "must be a string") }
        return s
    }

    mutating func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw error(key, "is required") }
        guard !s.isEmpty else { throw error(key, "must not be empty") }
        return s
    }

    /// A string member that must be one of `allowed`.
    mutating func choice(_ key: String, _ allowed: [String], default fallback: String? = nil) throws -> String? {
        guard let s = try string(key) else { return fallback }
        guard allowed.contains(s) else {
            throw error(key, "unknown value '\(s)'; allowed: \(allowed.joined(separator: ", "))")
        }
        return s
    }

    mutating func double(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw error(key, "must be a number") }
        return d
    }

    mutating func int(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else { throw error(key, "must be an integer") }
        return Int(i)
    }

    /// An integer member in `range`.
    mutating func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let i = try int(key) else { return nil }
        guard range.contains(i) else { throw error(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(i)") }
        return i
    }

    mutating func doubles(_ key: String) throws -> [Double]? {
        guard let v = value(key) else { return nil }
        guard let items = v.arrayValue else { throw error(key, "must be an array of numbers") }
        return try items.enumerated().map { i, item in
            guard let d = item.doubleValue, d.isFinite else { throw ManifestError(field: "\(field(key))[\(i)]", "must be a number") }
            return d
        }
    }

    /// A shape: non-negative extents.
    mutating func shape(_ key: String) throws -> [Int]? {
        guard let v = value(key) else { return nil }
        guard let items = v.arrayValue else { throw error(key, "must be an array of extents") }
        let shape = try items.enumerated().map { i, item in
            guard let d = item.intValue, d >= 1, d <= 1 << 24 else {
                throw ManifestError(field: "\(field(key))[\(i)]", "must be an integer extent in 1...16777216")
            }
            return Int(d)
        }
        // The engine's limit on one tensor; checked here so that no request can allocate more.
        var count = 1
        for d in shape {
            count = count.multipliedReportingOverflow(by: d).partialValue
            guard count <= 1 << 28 else { throw error(key, "\(shape) has more than 2^28 elements") }
        }
        return shape
    }

    /// Members of an array member, each with its path.
    mutating func objects(_ key: String) throws -> [(JSONValue, String)]? {
        guard let v = value(key) else { return nil }
        guard let items = v.arrayValue else { throw error(key, "must be an array") }
        return items.enumerated().map { ($1, "\(field(key))[\($0)]") }
    }

    /// Fails on the first member no parser asked for.
    func finish() throws {
        if let unknown = members.keys.sorted().first(where: { !read.contains($0) }) {
            throw ManifestError(field: field(unknown), "unknown field")
        }
    }
}
