import Foundation
import ModelKit
import Testing

/// The schema validator under hostile values and awkward schemas: integers that do not fit
/// Int64, huge arrays of wrong values, self-referring `$ref`s and values nested past the depth
/// the validator follows all end in a bounded list of issues.
@Suite struct SchemaValidatorBoundsTests {
    private func issues(_ schema: JSONValue, _ body: JSONValue, maxIssues: Int = 100) -> [ValidationIssue] {
        do {
            _ = try SchemaValidator(schema: schema, maxIssues: maxIssues).validate(body)
            return []
        } catch let error as SchemaValidationError {
            return error.issues
        } catch {
            return [ValidationIssue(loc: [], msg: "\(error)", type: "unexpected")]
        }
    }

    private let integerField: JSONValue = ["type": "object", "properties": ["n": ["type": "integer"]]]

    @Test(arguments: [1e300, -1e300, 9.3e18, 9_223_372_036_854_775_808.0])
    func integersBeyondInt64AreNotIntegers(value: Double) {
        #expect(issues(integerField, ["n": .double(value)]).map(\.type) == ["type_error.integer"])
    }

    @Test func integralDoublesThatFitBecomeInts() throws {
        let out = try SchemaValidator(schema: integerField).validate(["n": 4.0e15])
        #expect(out["n"] == .int(4_000_000_000_000_000))
        // `number` still takes any finite double.
        let number: JSONValue = ["type": "object", "properties": ["n": ["type": "number"]]]
        #expect(issues(number, ["n": 1e300]).isEmpty)
    }

    @Test func hugeArraysOfWrongValuesReportABoundedNumberOfIssues() {
        let schema: JSONValue = ["type": "object", "properties": ["xs": ["type": "array", "items": ["type": "string"]]]]
        let body: JSONValue = ["xs": .array(Array(repeating: .int(1), count: 200_000))]
        let found = issues(schema, body, maxIssues: 10)
        #expect(found.count == 10)
        #expect(found.first?.loc == [.key("body"), .key("xs"), .index(0)])
        #expect(issues(schema, body).count == 100)
    }

    @Test func manyExtraFieldsReportABoundedNumberOfIssues() {
        let schema: JSONValue = ["type": "object", "properties": [:], "additionalProperties": false]
        let members = Dictionary(uniqueKeysWithValues: (0..<5_000).map { ("f\($0)", JSONValue.int(1)) })
        #expect(issues(schema, .object(members), maxIssues: 7).count == 7)
    }

    @Test func selfReferringRefIsAnIssueNotExponentialWork() {
        // Without cycle detection each level doubles the work down to the depth limit (2^64 checks).
        let schema: JSONValue = [
            "$defs": ["A": ["allOf": [["$ref": "#/$defs/A"], ["$ref": "#/$defs/A"]]]],
            "$ref": "#/$defs/A",
        ]
        let found = issues(schema, 1)
        #expect(!found.isEmpty && found.allSatisfy { $0.type == "value_error.schema" })
        #expect(issues(["$ref": "#"], ["a": 1]).map(\.type).contains("value_error.schema"))
    }

    @Test func invalidPatternIsAnIssueNotAPass() {
        let schema: JSONValue = ["type": "object", "properties": ["s": ["type": "string", "pattern": "(unclosed"]]]
        #expect(issues(schema, ["s": "anything"]).map(\.type) == ["value_error.schema"])
        let valid: JSONValue = ["type": "object", "properties": ["s": ["type": "string", "pattern": "^[a-z]+$"]]]
        #expect(issues(valid, ["s": "abc"]).isEmpty)
        #expect(issues(valid, ["s": "ABC"]).map(\.type) == ["value_error.str.regex"])
    }

    @Test func recursiveSchemaStillValidatesNestedValues() throws {
        let schema: JSONValue = [
            "$defs": ["Node": ["type": "object", "properties": ["child": ["$ref": "#/$defs/Node"], "v": ["type": "integer"]]]],
            "$ref": "#/$defs/Node",
        ]
        _ = try SchemaValidator(schema: schema).validate(["v": 1, "child": ["v": 2, "child": ["v": 3]]])
        #expect(issues(schema, ["child": ["child": ["v": "x"]]]).map(\.type) == ["type_error.integer"])
    }

    @Test func valuesNestedPastTheDepthLimitAreRefusedNotSkipped() {
        let schema: JSONValue = [
            "$defs": ["Node": ["type": "object", "properties": ["child": ["$ref": "#/$defs/Node"], "v": ["type": "integer"]]]],
            "$ref": "#/$defs/Node",
        ]
        var body: JSONValue = ["v": "not an integer"]
        for _ in 0..<100 { body = ["child": body] }
        // Before, the innermost value was silently accepted once the depth limit was reached.
        #expect(issues(schema, body).map(\.type) == ["value_error.depth"])
    }
}
