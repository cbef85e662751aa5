import ModelKit

/// Request and response schemas of `peregrine/terrain-diffusion`.
enum TerrainSchema {
    /// `difficulty`, `seed`, `num_images`, `num_inference_steps`, `sync_mode`.
    static let input: JSONValue = [
        "type": "object", "title": "TerrainInput",
        "properties": [
            "difficulty": [
                "type": "number", "title": "Difficulty", "minimum": 0, "maximum": 1, "default": 0.5,
                "description": "How rugged the terrain is, 0 (gentle) to 1 (hardest). The package's integer difficulty d in 1...100 is (d - 1) / 99 here.",
            ],
            "seed": [
                "type": "integer", "title": "Seed", "minimum": 0, "maximum": 4_294_967_295,
                "description": "Same seed and parameters give the same images, bit for bit. Random when omitted; the seed used is returned.",
            ],
            "num_images": [
                "type": "integer", "title": "Number of Images", "minimum": 1, "maximum": 4, "default": 1,
                "description": "Number of terrains to generate (image k uses the noise after images 0..k-1 in the seed's stream).",
            ],
            "num_inference_steps": [
                "type": "integer", "title": "Number of Inference Steps", "enum": [1], "default": 1,
                "description": "Consistency sampling steps. The model of adaptive-terrain-diffusion 0.4.2 is distilled for one-step sampling and its generator accepts only 1, so only 1 is offered.",
            ],
            "sync_mode": [
                "type": "boolean", "title": "Sync Mode", "default": false,
                "description": "If true, the images are returned inline as data URIs instead of stored file URLs.",
            ],
        ],
        "x-fal-order-properties": ["difficulty", "seed", "num_images", "num_inference_steps", "sync_mode"],
    ]

    private static let file: JSONValue = [
        "type": "object",
        "properties": [
            "url": ["type": "string"], "content_type": ["type": "string"], "file_name": ["type": "string"],
            "file_size": ["type": "integer"], "width": ["type": "integer"], "height": ["type": "integer"],
        ],
        "required": ["url", "content_type", "width", "height"],
    ]

    /// `images` (16-bit gray PNG heightmaps), `previews` (8-bit RGB shaded relief), `seed`, `timings`.
    static let output: JSONValue = [
        "type": "object", "title": "TerrainOutput",
        "properties": [
            "images": [
                "type": "array", "title": "Images", "items": file,
                "description": "Heightmaps, 16-bit grayscale PNG: sample / 65535 × max_height_m metres (max_height_m = 22.16864013671875), lowest point 0.",
            ],
            "previews": [
                "type": "array", "title": "Previews", "items": file,
                "description": "Shaded relief of each heightmap, 8-bit RGB PNG.",
            ],
            "seed": ["type": "integer", "title": "Seed", "description": "The seed used."],
            "timings": [
                "type": "object", "title": "Timings",
                "properties": ["inference": ["type": "number", "description": "Seconds spent in the network."]],
            ],
        ],
        "required": ["images", "previews", "seed", "timings"],
        "x-fal-order-properties": ["images", "previews", "seed", "timings"],
    ]
}
