import ModelKit

/// fal-style request and response schemas shared by the image upscalers.
enum UpscalerSchema {
    /// The input schema: `image_url`, `scale`, `output_format`, `tile_size`, `sync_mode`, plus
    /// model-specific properties.
    static func input(scales: [Int], defaultScale: Int, extra: [String: JSONValue] = [:], order: [String] = []) -> JSONValue {
        var properties: [String: JSONValue] = [
            "image_url": [
                "type": "string", "title": "Image Url",
                "description": "URL (or data URI) of the image to upscale: PNG, JPEG or WebP.",
                "examples": ["https://storage.googleapis.com/falserverless/model_tests/upscale/owl.png"],
            ],
            "scale": [
                "type": "integer", "title": "Scale", "enum": .array(scales.map { .int(Int64($0)) }),
                "default": .int(Int64(defaultScale)), "description": "Output size / input size.",
            ],
            "output_format": [
                "type": "string", "title": "Output Format", "enum": ["png", "jpeg", "webp"], "default": "png",
                "description": "Format of the output image.",
            ],
            "tile_size": [
                "type": "integer", "title": "Tile Size", "minimum": 32, "maximum": 1024, "default": 256,
                "description": "Largest tile side in input pixels; larger tiles use more memory, the result is the same.",
            ],
            "sync_mode": [
                "type": "boolean", "title": "Sync Mode", "default": false,
                "description": "If true, the image is returned inline as a data URI instead of a stored file URL.",
            ],
        ]
        for (k, v) in extra { properties[k] = v }
        let keys = ["image_url", "scale"] + order + ["output_format", "tile_size", "sync_mode"]
        return [
            "type": "object", "title": "UpscaleInput",
            "properties": .object(properties),
            "required": ["image_url"],
            "x-fal-order-properties": .array(keys.map { .string($0) }),
        ]
    }

    /// The output schema: `image` (a fal image file) and `timings`.
    static let output: JSONValue = [
        "type": "object", "title": "UpscaleOutput",
        "properties": [
            "image": [
                "title": "Image", "type": "object", "description": "The upscaled image.",
                "properties": [
                    "url": ["type": "string"], "content_type": ["type": "string"], "file_name": ["type": "string"],
                    "file_size": ["type": "integer"], "width": ["type": "integer"], "height": ["type": "integer"],
                ],
                "required": ["url", "content_type", "file_name", "file_size", "width", "height"],
            ],
            "timings": [
                "type": "object", "title": "Timings",
                "properties": ["inference": ["type": "number", "description": "Seconds spent in the network."]],
            ],
        ],
        "required": ["image", "timings"],
        "x-fal-order-properties": ["image", "timings"],
    ]
}
