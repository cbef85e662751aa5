import Foundation
import ModelKit

/// The OpenAPI 3 document of one model's queue endpoints, in the layout fal publishes per
/// endpoint: `components.schemas` holds `<Name>Input`, `<Name>Output` and `QueueStatus`.
enum OpenAPIDocument {
    static func make(for manifest: ModelManifest, serverURL: String) -> JSONValue {
        var schemas: [String: JSONValue] = ["QueueStatus": queueStatusSchema]
        let input = hoist(manifest.inputSchema, into: &schemas)
        let output = hoist(manifest.outputSchema, into: &schemas)
        schemas["\(manifest.schemaName)Input"] = input
        schemas["\(manifest.schemaName)Output"] = output
        let endpoint = "/" + manifest.endpointID
        let requestID: JSONValue = [
            "name": "request_id", "in": "path", "required": true, "description": "Request ID", "schema": ["type": "string"],
        ]
        func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
        func json(_ schema: JSONValue, _ description: String) -> JSONValue {
            ["description": .string(description), "content": ["application/json": ["schema": schema]]]
        }
        let paths: JSONValue = [
            endpoint: [
                "post": [
                    "summary": .string(manifest.displayName),
                    "parameters": [["name": "fal_webhook", "in": "query", "required": false, "schema": ["type": "string", "format": "uri"],
                                    "description": "URL to call when the request completes"]],
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ref("\(manifest.schemaName)Input")]]],
                    "responses": ["200": json(ref("QueueStatus"), "The request is queued."), "422": ["description": "Validation error"]],
                ]
            ],
            .init(stringLiteral: "\(endpoint)/requests/{request_id}/status"): [
                "get": [
                    "parameters": [requestID, ["name": "logs", "in": "query", "required": false, "schema": ["type": "number"],
                                               "description": "Whether to include logs (1) in the response or not (0)."]],
                    "responses": ["200": json(ref("QueueStatus"), "The request is done."), "202": json(ref("QueueStatus"), "The request is queued or running.")],
                ]
            ],
            .init(stringLiteral: "\(endpoint)/requests/{request_id}/cancel"): [
                "put": [
                    "parameters": [requestID],
                    "responses": [
                        "202": json(["type": "object", "properties": ["status": ["type": "string", "enum": ["CANCELLATION_REQUESTED"]]]], "Cancellation requested."),
                        "400": ["description": "The request had already completed."], "404": ["description": "No such request."],
                    ],
                ]
            ],
            .init(stringLiteral: "\(endpoint)/requests/{request_id}"): [
                "get": [
                    "parameters": [requestID],
                    "responses": ["200": json(ref("\(manifest.schemaName)Output"), "The result."), "400": ["description": "Request is still in progress."]],
                ]
            ],
        ]
        return [
            "openapi": "3.0.4",
            "info": [
                "title": .string(manifest.displayName), "version": .string(manifest.version), "description": .string(manifest.description),
                "x-fal-metadata": ["endpointId": .string(manifest.endpointID), "category": .string(manifest.category)],
            ],
            "servers": [["url": .string(serverURL)]],
            "paths": paths,
            "components": [
                "schemas": .object(schemas),
                "securitySchemes": ["apiKeyAuth": ["type": "apiKey", "in": "header", "name": "Authorization", "description": "Key <id>:<secret>"]],
            ],
            "security": [["apiKeyAuth": []]],
        ]
    }

    /// Moves `$defs`/`definitions` into `schemas` and points references there.
    static func hoist(_ schema: JSONValue, into schemas: inout [String: JSONValue]) -> JSONValue {
        guard case .object(var root) = schema else { return schema }
        for key in ["$defs", "definitions"] {
            if let defs = root.removeValue(forKey: key)?.objectValue {
                for (name, def) in defs where schemas[name] == nil { schemas[name] = rewriteRefs(def) }
            }
        }
        return rewriteRefs(.object(root))
    }

    private static func rewriteRefs(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(var o):
            if let ref = o["$ref"]?.stringValue {
                for prefix in ["#/$defs/", "#/definitions/"] where ref.hasPrefix(prefix) {
                    o["$ref"] = .string("#/components/schemas/" + ref.dropFirst(prefix.count))
                }
            }
            return .object(o.mapValues(rewriteRefs))
        case .array(let a): return .array(a.map(rewriteRefs))
        default: return value
        }
    }

    static let queueStatusSchema: JSONValue = [
        "type": "object",
        "required": ["status", "request_id"],
        "properties": [
            "status": ["type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]],
            "request_id": ["type": "string", "description": "The request id."],
            "response_url": ["type": "string", "description": "The response url."],
            "status_url": ["type": "string", "description": "The status url."],
            "cancel_url": ["type": "string", "description": "The cancel url."],
            "logs": ["type": "array", "nullable": true, "items": ["type": "object"], "description": "The logs."],
            "metrics": ["type": "object", "description": "The metrics.", "properties": ["inference_time": ["type": "number", "nullable": true]]],
            "queue_position": ["type": "integer", "description": "The queue position."],
            "error": ["type": "string", "description": "Error message of a failed request."],
            "error_type": ["type": "string", "description": "Error type of a failed request."],
            "eta_start": ["type": "string", "format": "date-time", "description": "Predicted start of a queued request (Peregrine)."],
            "eta_finish": ["type": "string", "format": "date-time", "description": "Predicted finish of a queued or running request (Peregrine)."],
        ],
    ]
}
