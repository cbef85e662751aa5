import Foundation
import ModelKit
import TestSupport
import Testing

@Suite("Schema validator")
struct SchemaValidatorTests {
    let validator = SchemaValidator(schema: EchoModel().manifest.inputSchema)

    func issues(_ body: JSONValue) -> [ValidationIssue] {
        do {
            _ = try validator.validate(body)
            return []
        } catch let error as SchemaValidationError {
            return error.issues
        } catch {
            return [ValidationIssue(loc: [], msg: "\(error)", type: "unexpected")]
        }
    }

    @Test("fills defaults and normalizes integral numbers")
    func defaults() throws {
        let out = try validator.validate(["prompt": "a", "count": 2.0])
        #expect(out["count"] == .int(2))
        #expect(out["output_format"] == "png")
        #expect(out["image_size"] == "square_hd")
        #expect(out["sync_mode"] == false)
        #expect(out["strength"] == nil)
    }

    @Test(
        "each violation is reported with fal's loc, msg and type",
        arguments: [
            (JSONValue.object([:]), ["body", "prompt"], "value_error.missing", "field required"),
            (["prompt": 5], ["body", "prompt"], "type_error.str", "str type expected"),
            (["prompt": ""], ["body", "prompt"], "value_error.any_str.min_length", "ensure this value has at least 1 characters"),
            (["prompt": "a", "count": 1.5], ["body", "count"], "type_error.integer", "value is not a valid integer"),
            (["prompt": "a", "count": "3"], ["body", "count"], "type_error.integer", "value is not a valid integer"),
            (["prompt": "a", "count": 0], ["body", "count"], "value_error.number.not_ge", "ensure this value is greater than or equal to 1"),
            (["prompt": "a", "count": 11], ["body", "count"], "value_error.number.not_le", "ensure this value is less than or equal to 10"),
            (["prompt": "a", "strength": "x"], ["body", "strength"], "type_error.float", "value is not a valid float"),
            (["prompt": "a", "strength": true], ["body", "strength"], "type_error.float", "value is not a valid float"),
            (["prompt": "a", "output_format": "gif"], ["body", "output_format"], "type_error.enum",
             "value is not a valid enumeration member; permitted: 'jpeg', 'png', 'webp'"),
            (["prompt": "a", "tags": "x"], ["body", "tags"], "type_error.list", "value is not a valid list"),
            (["prompt": "a", "tags": ["a", "b", "c", "d"]], ["body", "tags"], "value_error.list.max_items", "ensure this value has at most 3 items"),
            (["prompt": "a", "sync_mode": "yes"], ["body", "sync_mode"], "type_error.bool", "value could not be parsed to a boolean"),
            (["prompt": "a", "extra": 1], ["body", "extra"], "value_error.extra", "extra fields not permitted"),
            (["prompt": nil], ["body", "prompt"], "type_error.none.not_allowed", "none is not an allowed value"),
        ] as [(JSONValue, [String], String, String)])
    func violation(body: JSONValue, loc: [String], type: String, msg: String) {
        let found = issues(body)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.loc == loc.map { .key($0) })
        #expect(found.first?.type == type)
        #expect(found.first?.msg == msg)
    }

    @Test("array items carry their index in loc")
    func arrayIndex() {
        let found = issues(["prompt": "a", "tags": ["ok", 3]])
        #expect(found == [ValidationIssue(loc: [.key("body"), .key("tags"), .index(1)], msg: "str type expected", type: "type_error.str")])
    }

    @Test("image_size accepts an enum member or a {width, height} object")
    func imageSize() throws {
        #expect(issues(["prompt": "a", "image_size": "landscape_16_9"]).isEmpty)
        #expect(issues(["prompt": "a", "image_size": ["width": 512, "height": 768]]).isEmpty)
        let badName = issues(["prompt": "a", "image_size": "huge"])
        #expect(badName.map(\.type) == ["type_error.enum"])
        let badObject = issues(["prompt": "a", "image_size": ["width": 0]])
        #expect(Set(badObject.map(\.type)) == ["value_error.missing", "value_error.number.not_ge"])
        #expect(badObject.contains { $0.loc == [.key("body"), .key("image_size"), .key("height")] })
        let wrongType = issues(["prompt": "a", "image_size": 5])
        #expect(wrongType.count == 2, "both branches explain why 5 does not fit")
    }

    @Test("several problems are all reported")
    func several() {
        let found = issues(["count": 0, "output_format": "bmp"])
        #expect(found.count == 3)
    }

    @Test("loc renders as JSON strings and integers")
    func locEncoding() throws {
        let issue = ValidationIssue(loc: [.key("body"), .key("tags"), .index(2)], msg: "m", type: "t")
        let json = String(decoding: try JSONEncoder().encode(issue.loc), as: UTF8.self)
        #expect(json == #"["body","tags",2]"#)
    }
}
