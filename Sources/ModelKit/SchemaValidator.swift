import Foundation

/// Validates request bodies against a model's input schema (the JSON Schema subset the gallery
/// uses) and fills in defaults, answering failures the way fal's (pydantic's) validation does.
///
/// Supported keywords: `type` (with the integer/number distinction, and type lists), `enum`,
/// `const`, `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`/`multipleOf`,
/// `minLength`/`maxLength`/`pattern`, `items`/`minItems`/`maxItems`, `properties`/`required`/
/// `additionalProperties`, `anyOf`/`oneOf` (first matching branch wins), `allOf`, local `$ref`
/// (`#/$defs/...`, `#/definitions/...`) and `default`. Unknown keywords (`title`, `format`,
/// `examples`, `description`) are ignored, as JSON Schema requires.
public struct SchemaValidator: Sendable {
    /// The schema being enforced.
    public let schema: JSONValue
    /// Most issues one validation collects and reports. A body of a million small wrong values
    /// would otherwise become a million issues, many times the body's size in memory and in the
    /// 422 response; past the limit the remaining values are not examined.
    public let maxIssues: Int

    /// - Parameters:
    ///   - schema: a JSON Schema object (usually `ModelManifest.inputSchema`).
    ///   - maxIssues: most issues reported per validation (at least 1). Default 100.
    public init(schema: JSONValue, maxIssues: Int = 100) {
        self.schema = schema
        self.maxIssues = max(1, maxIssues)
    }

    /// Checks `value` and returns it with defaults filled in and integral numbers normalized.
    /// - Parameters:
    ///   - value: the decoded request body.
    ///   - root: the location prefix of every issue (`["body"]` for request bodies).
    /// - Throws: `SchemaValidationError` listing every issue found.
    public func validate(_ value: JSONValue, root: [LocationComponent] = [.key("body")]) throws -> JSONValue {
        var issues: [ValidationIssue] = []
        let result = check(value, against: schema, at: root, issues: &issues, depth: 0, refs: [])
        if !issues.isEmpty { throw SchemaValidationError(issues: Array(issues.prefix(maxIssues))) }
        return result
    }

    // MARK: - Recursion

    /// Deepest schema nesting followed (subschemas, `$ref`s and nested values together). A value
    /// nested deeper than this under a recursive schema is refused rather than left unchecked.
    private static let maxDepth = 64

    /// - Parameter refs: the `$ref`s being expanded for this same value. Meeting one again
    ///   means the schema refers to itself without descending into the value (`A: allOf [A, A]`),
    ///   which would otherwise recurse to `maxDepth` with every branch doubling the work.
    private func check(
        _ value: JSONValue, against rawSchema: JSONValue, at path: [LocationComponent],
        issues: inout [ValidationIssue], depth: Int, refs: Set<String>
    ) -> JSONValue {
        guard case .object(var s) = rawSchema else { return value }
        guard depth < Self.maxDepth else {
            issues.append(ValidationIssue(loc: path, msg: "value is nested too deeply to validate", type: "value_error.depth"))
            return value
        }
        if let ref = s["$ref"]?.stringValue {
            guard let target = resolve(ref) else {
                issues.append(ValidationIssue(loc: path, msg: "schema reference \(ref) not found", type: "value_error.schema"))
                return value
            }
            guard !refs.contains(ref) else {
                issues.append(ValidationIssue(loc: path, msg: "schema reference \(ref) refers to itself", type: "value_error.schema"))
                return value
            }
            // Keywords next to `$ref` (2020-12 allows them) apply as well.
            s["$ref"] = nil
            let resolved = check(value, against: target, at: path, issues: &issues, depth: depth + 1, refs: refs.union([ref]))
            return s.isEmpty ? resolved : check(resolved, against: .object(s), at: path, issues: &issues, depth: depth + 1, refs: refs)
        }
        var value = value
        if let all = s["allOf"]?.arrayValue {
            for sub in all { value = check(value, against: sub, at: path, issues: &issues, depth: depth + 1, refs: refs) }
        }
        if let branches = s["anyOf"]?.arrayValue ?? s["oneOf"]?.arrayValue {
            value = checkUnion(value, branches: branches, at: path, issues: &issues, depth: depth, refs: refs)
        }
        if let types = declaredTypes(s) {
            guard let coerced = checkType(value, types: types, at: path, issues: &issues) else { return value }
            value = coerced
        }
        if let allowed = s["enum"]?.arrayValue, !allowed.contains(where: { Self.equal($0, value) }) {
            let permitted = allowed.map(Self.literal).joined(separator: ", ")
            issues.append(ValidationIssue(
                loc: path, msg: "value is not a valid enumeration member; permitted: \(permitted)", type: "type_error.enum"))
            return value
        }
        if let constant = s["const"], !Self.equal(constant, value) {
            issues.append(ValidationIssue(
                loc: path, msg: "unexpected value; permitted: \(Self.literal(constant))", type: "value_error.const"))
            return value
        }
        switch value {
        case .int, .double: checkNumber(value, s, at: path, issues: &issues)
        case .string(let string): checkString(string, s, at: path, issues: &issues)
        case .array(let elements): return .array(checkArray(elements, s, at: path, issues: &issues, depth: depth))
        case .object(let members): return .object(checkObject(members, s, at: path, issues: &issues, depth: depth))
        case .null, .bool: break
        }
        return value
    }

    private func checkUnion(
        _ value: JSONValue, branches: [JSONValue], at path: [LocationComponent], issues: inout [ValidationIssue],
        depth: Int, refs: Set<String>
    ) -> JSONValue {
        var failures: [(compatible: Bool, issues: [ValidationIssue])] = []
        for branch in branches {
            var branchIssues: [ValidationIssue] = []
            let result = check(value, against: branch, at: path, issues: &branchIssues, depth: depth + 1, refs: refs)
            if branchIssues.isEmpty { return result }
            failures.append((typeAdmits(branch, value, depth: depth), branchIssues))
        }
        // Report what the branches that could have held this kind of value say; when none could,
        // every branch's complaint is relevant (pydantic does the same for unions).
        let relevant = failures.filter(\.compatible)
        for failure in (relevant.isEmpty ? failures : relevant) { issues.append(contentsOf: failure.issues) }
        return value
    }

    // MARK: - Types

    private func declaredTypes(_ s: [String: JSONValue]) -> [String]? {
        switch s["type"] {
        case .string(let t): return [t]
        case .array(let ts): return ts.compactMap(\.stringValue)
        default: return nil
        }
    }

    /// Whether a branch's declared type (following `$ref`) admits the value's JSON type.
    private func typeAdmits(_ branch: JSONValue, _ value: JSONValue, depth: Int) -> Bool {
        guard depth < Self.maxDepth, case .object(let s) = branch else { return true }
        if let ref = s["$ref"]?.stringValue, let target = resolve(ref) { return typeAdmits(target, value, depth: depth + 1) }
        if let types = declaredTypes(s) { return types.contains { Self.jsonType(value, matches: $0) } }
        if let allowed = s["enum"]?.arrayValue {
            return allowed.contains { Self.sameKind($0, value) }
        }
        return true
    }

    private static func jsonType(_ value: JSONValue, matches type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("number", .int), ("number", .double), ("integer", .int): return true
        // An integer must be exact in Int64: models convert these to sizes, counts and tensor
        // elements, and a huge or fractional "integer" must be a 422 here, not a trap there.
        case ("integer", .double(let d)): return Int64(exactly: d) != nil
        default: return false
        }
    }

    private static func sameKind(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null), (.bool, .bool), (.string, .string), (.array, .array), (.object, .object): return true
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double): return true
        default: return false
        }
    }

    /// Checks the value's type; returns the value (integral doubles become `.int` for integer
    /// fields) or `nil` after recording an issue.
    private func checkType(
        _ value: JSONValue, types: [String], at path: [LocationComponent], issues: inout [ValidationIssue]
    ) -> JSONValue? {
        if types.contains(where: { Self.jsonType(value, matches: $0) }) {
            if case .double(let d) = value, types.contains("integer"), !types.contains("number"),
                let i = Int64(exactly: d)
            {
                return .int(i)
            }
            return value
        }
        if case .null = value {
            issues.append(ValidationIssue(loc: path, msg: "none is not an allowed value", type: "type_error.none.not_allowed"))
            return nil
        }
        let primary = types.first { $0 != "null" } ?? "null"
        let (msg, type): (String, String)
        switch primary {
        case "integer": (msg, type) = ("value is not a valid integer", "type_error.integer")
        case "number": (msg, type) = ("value is not a valid float", "type_error.float")
        case "string": (msg, type) = ("str type expected", "type_error.str")
        case "boolean": (msg, type) = ("value could not be parsed to a boolean", "type_error.bool")
        case "array": (msg, type) = ("value is not a valid list", "type_error.list")
        case "object": (msg, type) = ("value is not a valid dict", "type_error.dict")
        default: (msg, type) = ("value is not none", "type_error.none.allowed")
        }
        issues.append(ValidationIssue(loc: path, msg: msg, type: type))
        return nil
    }

    // MARK: - Keywords by type

    private func checkNumber(_ value: JSONValue, _ s: [String: JSONValue], at path: [LocationComponent], issues: inout [ValidationIssue]) {
        guard let x = value.doubleValue else { return }
        func bound(_ key: String, fails: (Double, Double) -> Bool, msg: String, type: String) {
            // Draft 4 spelled exclusive bounds as booleans next to minimum/maximum; only numbers count here.
            guard let limit = s[key]?.doubleValue, fails(x, limit) else { return }
            issues.append(ValidationIssue(loc: path, msg: "\(msg) \(Self.number(limit))", type: type))
        }
        bound("minimum", fails: { $0 < $1 }, msg: "ensure this value is greater than or equal to", type: "value_error.number.not_ge")
        bound("exclusiveMinimum", fails: { $0 <= $1 }, msg: "ensure this value is greater than", type: "value_error.number.not_gt")
        bound("maximum", fails: { $0 > $1 }, msg: "ensure this value is less than or equal to", type: "value_error.number.not_le")
        bound("exclusiveMaximum", fails: { $0 >= $1 }, msg: "ensure this value is less than", type: "value_error.number.not_lt")
        if let m = s["multipleOf"]?.doubleValue, m > 0 {
            let q = x / m
            if abs(q - q.rounded()) > 1e-9 * max(1, abs(q)) {
                issues.append(ValidationIssue(
                    loc: path, msg: "ensure this value is a multiple of \(Self.number(m))", type: "value_error.number.not_multiple"))
            }
        }
    }

    private func checkString(_ string: String, _ s: [String: JSONValue], at path: [LocationComponent], issues: inout [ValidationIssue]) {
        // Lengths count Unicode code points, as JSON Schema and Python do.
        let length = string.unicodeScalars.count
        if let min = s["minLength"]?.intValue, length < min {
            issues.append(ValidationIssue(
                loc: path, msg: "ensure this value has at least \(min) characters", type: "value_error.any_str.min_length"))
        }
        if let max = s["maxLength"]?.intValue, length > max {
            issues.append(ValidationIssue(
                loc: path, msg: "ensure this value has at most \(max) characters", type: "value_error.any_str.max_length"))
        }
        if let pattern = s["pattern"]?.stringValue {
            // A pattern that does not compile is the schema's fault, but passing every string
            // would leave the field unchecked; it is reported like an unresolvable `$ref`.
            guard let regex = try? NSRegularExpression(pattern: pattern) else {
                issues.append(ValidationIssue(loc: path, msg: "schema pattern \"\(pattern)\" is not a valid regex", type: "value_error.schema"))
                return
            }
            if regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) == nil {
                issues.append(ValidationIssue(loc: path, msg: "string does not match regex \"\(pattern)\"", type: "value_error.str.regex"))
            }
        }
    }

    private func checkArray(
        _ elements: [JSONValue], _ s: [String: JSONValue], at path: [LocationComponent], issues: inout [ValidationIssue],
        depth: Int
    ) -> [JSONValue] {
        if let min = s["minItems"]?.intValue, elements.count < min {
            issues.append(ValidationIssue(loc: path, msg: "ensure this value has at least \(min) items", type: "value_error.list.min_items"))
        }
        if let max = s["maxItems"]?.intValue, elements.count > max {
            issues.append(ValidationIssue(loc: path, msg: "ensure this value has at most \(max) items", type: "value_error.list.max_items"))
        }
        guard let itemSchema = s["items"], case .object = itemSchema else { return elements }
        var out = elements
        for (i, element) in elements.enumerated() {
            // Enough to report: the rest of a huge array would only grow the issue list.
            if issues.count >= maxIssues { break }
            out[i] = check(element, against: itemSchema, at: path + [.index(i)], issues: &issues, depth: depth + 1, refs: [])
        }
        return out
    }

    private func checkObject(
        _ members: [String: JSONValue], _ s: [String: JSONValue], at path: [LocationComponent],
        issues: inout [ValidationIssue], depth: Int
    ) -> [String: JSONValue] {
        var out = members
        let properties = s["properties"]?.objectValue ?? [:]
        // Issues in the order the schema lists its fields (stable), then extras sorted by name.
        for name in (s["required"]?.arrayValue ?? []).compactMap(\.stringValue) where members[name] == nil {
            issues.append(ValidationIssue(loc: path + [.key(name)], msg: "field required", type: "value_error.missing"))
        }
        for name in properties.keys.sorted() {
            guard let propertySchema = properties[name] else { continue }
            if issues.count >= maxIssues { break }
            if let present = members[name] {
                out[name] = check(present, against: propertySchema, at: path + [.key(name)], issues: &issues, depth: depth + 1, refs: [])
            } else if let fallback = defaultValue(of: propertySchema, depth: depth) {
                out[name] = fallback
            }
        }
        let extras = members.keys.filter { properties[$0] == nil }.sorted()
        switch s["additionalProperties"] {
        case .bool(false)?:
            for name in extras {
                if issues.count >= maxIssues { break }
                issues.append(ValidationIssue(loc: path + [.key(name)], msg: "extra fields not permitted", type: "value_error.extra"))
            }
        case .object(let extraSchema)?:
            for name in extras {
                if issues.count >= maxIssues { break }
                out[name] = check(members[name]!, against: .object(extraSchema), at: path + [.key(name)], issues: &issues, depth: depth + 1, refs: [])
            }
        default: break
        }
        return out
    }

    private func defaultValue(of schema: JSONValue, depth: Int) -> JSONValue? {
        guard depth < Self.maxDepth, case .object(let s) = schema else { return nil }
        if let d = s["default"] { return d }
        if let ref = s["$ref"]?.stringValue, let target = resolve(ref) { return defaultValue(of: target, depth: depth + 1) }
        return nil
    }

    // MARK: - Helpers

    /// Resolves a local JSON pointer (`#/$defs/ImageSize`) against the root schema.
    private func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        var node = schema
        for raw in ref.dropFirst().split(separator: "/") {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node[key] else { return nil }
            node = next
        }
        return node
    }

    /// JSON equality with numbers compared by value (`1` equals `1.0`).
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue, !(a.boolValue != nil || b.boolValue != nil) { return x == y }
        return a == b
    }

    /// How a permitted value is quoted in messages: strings in single quotes, as Python prints them.
    static func literal(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "'\(s)'"
        case .int(let i): return String(i)
        case .double(let d): return number(d)
        case .bool(let b): return b ? "True" : "False"
        case .null: return "None"
        default: return String(decoding: v.encoded(), as: UTF8.self)
        }
    }

    static func number(_ d: Double) -> String {
        if d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}

/// The issues that made a value fail its schema (a 422 at the HTTP edge).
public struct SchemaValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every issue found, in a stable order.
    public var issues: [ValidationIssue]

    /// - Parameter issues: the issues found.
    public init(issues: [ValidationIssue]) { self.issues = issues }

    public var description: String {
        issues.map { "\($0.loc.map(\.description).joined(separator: ".")): \($0.msg)" }.joined(separator: "; ")
    }
}
