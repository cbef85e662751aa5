import ModelKit

extension ONNXManifest {
    /// The request schema: one property per mapped field plus `sync_mode`; fields without a
    /// default are required (an image always is, a seed never is).
    public var inputSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        var order: [JSONValue] = []
        var required: [JSONValue] = []
        for input in inputs {
            guard let field = input.field else { continue }
            var p: [String: JSONValue] = ["title": .string(input.title ?? Self.titled(field))]
            if let d = input.description { p["description"] = .string(d) }
            switch input.kind {
            case "image":
                p["type"] = "string"
                if p["description"] == nil { p["description"] = "URL or data URI of the input image (PNG, JPEG or WebP)." }
                required.append(.string(field))
            case "seed_noise":
                p["type"] = "integer"
                p["minimum"] = 0
                p["maximum"] = 4_294_967_295
                if p["description"] == nil {
                    p["description"] = "Seed of the noise: the same seed and inputs give the same output. Random when omitted; the seed used is returned."
                }
            default:
                let integral = input.kind == "integer"
                p["type"] = integral ? "integer" : "number"
                func number(_ v: Double) -> JSONValue { integral ? Int64(exactly: v).map(JSONValue.int) ?? .double(v) : .double(v) }
                if let v = input.minimum { p["minimum"] = number(v) }
                if let v = input.maximum { p["maximum"] = number(v) }
                if let v = input.defaultValue { p["default"] = number(v) } else { required.append(.string(field)) }
            }
            properties[field] = .object(p)
            order.append(.string(field))
        }
        properties["sync_mode"] = [
            "type": "boolean", "title": "Sync Mode", "default": false,
            "description": "If true, output files are returned inline as data URIs instead of stored file URLs.",
        ]
        order.append("sync_mode")
        var schema: [String: JSONValue] = [
            "type": "object", "title": .string("\(schemaName)Input"), "properties": .object(properties),
            "x-fal-order-properties": .array(order),
        ]
        if !required.isEmpty { schema["required"] = .array(required) }
        return .object(schema)
    }

    /// The response schema: a file object per image output, `{shape, data}` per tensor output,
    /// `seed` when noise is drawn, and `timings`.
    public var outputSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        var order: [JSONValue] = []
        for output in outputs {
            var p: JSONValue
            if output.kind == "image" {
                p = [
                    "type": "object",
                    "properties": [
                        "url": ["type": "string"], "content_type": ["type": "string"], "file_name": ["type": "string"],
                        "file_size": ["type": "integer"], "width": ["type": "integer"], "height": ["type": "integer"],
                    ],
                    "required": ["url", "content_type", "width", "height"],
                ]
            } else {
                p = [
                    "type": "object",
                    "properties": [
                        "shape": ["type": "array", "items": ["type": "integer"]],
                        "data": ["type": "array", "items": ["type": "number"]],
                    ],
                    "required": ["shape", "data"],
                ]
            }
            if case .object(var o) = p {
                o["title"] = .string(output.title ?? Self.titled(output.field))
                if let d = output.description { o["description"] = .string(d) }
                p = .object(o)
            }
            properties[output.field] = p
            order.append(.string(output.field))
        }
        var required = order
        if inputs.contains(where: { $0.kind == "seed_noise" }) {
            properties["seed"] = ["type": "integer", "title": "Seed", "description": "The seed used."]
            order.append("seed")
            required.append("seed")
        }
        properties["timings"] = [
            "type": "object", "title": "Timings",
            "properties": ["inference": ["type": "number", "description": "Seconds spent in the network."]],
        ]
        order.append("timings")
        required.append("timings")
        return [
            "type": "object", "title": .string("\(schemaName)Output"), "properties": .object(properties),
            "required": .array(required), "x-fal-order-properties": .array(order),
        ]
    }

    /// OpenAPI component name: the endpoint's alias in UpperCamelCase (`local/tiny-filter` →
    /// `TinyFilter`).
    public var schemaName: String {
        let alias = endpointID.split(separator: "/").dropFirst().joined(separator: "-")
        let words = alias.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        let name = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return name.first?.isLetter == true ? name : "Model" + name
    }

    /// `image_url` → `Image Url`, the way fal titles fields.
    static func titled(_ field: String) -> String {
        field.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
    }
}
