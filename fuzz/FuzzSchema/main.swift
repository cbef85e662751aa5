// libFuzzer harness: the JSON parser and the JSON-schema validator. An input that parses as
// a two-element array is validated as `[schema, value]`; any JSON is also validated against a
// fixed schema with most keywords.
import Foundation
import ModelKit
import FuzzSupport

let fixedSchema: JSONValue = (try? JSONValue(parsing: Data("""
{"type":"object","required":["a"],"additionalProperties":false,"properties":{
 "a":{"type":"string","minLength":1,"maxLength":8,"enum":["x","yy"]},
 "b":{"type":"integer","minimum":-5,"maximum":5},
 "c":{"type":"array","items":{"type":"number","exclusiveMinimum":0},"minItems":1,"maxItems":3},
 "d":{"anyOf":[{"type":"null"},{"type":"boolean"}]},
 "e":{"$ref":"#/$defs/E"}},
 "$defs":{"E":{"type":"object","properties":{"f":{"type":"string","pattern":"^[a-z]+$"}}}}}
""".utf8))) ?? .null

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSchema(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    guard let value = try? JSONValue(parsing: bytes) else { return 0 }
    _ = try? SchemaValidator(schema: fixedSchema).validate(value)
    if let pair = value.arrayValue, pair.count == 2 {
        _ = try? SchemaValidator(schema: pair[0]).validate(pair[1])
    }
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzSchema($0, $1) })
