import ModelKit

/// Request and response schemas of the Stable Diffusion endpoints, as fal's fast-sdxl family
/// names them: text-to-image, image-to-image (`image_url`, `strength`) and inpainting
/// (`image_url`, `mask_url`, `strength`).
enum TextToImageSchema {
    /// Longest accepted prompt in characters: CLIP reads 75 tokens, so this only bounds the
    /// tokenizer's work and the log line.
    static let maxPromptLength = 4_000
    /// Largest side a request may ask for, in pixels.
    static let maxSide = 2_048
    /// Most images per request.
    static let maxImages = 4
    /// LoRAs one request may apply.
    static let maxLoRAs = 4
    /// Most sampler steps.
    static let maxSteps = 100
    /// Largest seed: 2^53 − 1, so that JavaScript clients read back the seed they were given.
    static let maxSeed: Int64 = 9_007_199_254_740_991

    /// fal's named sizes.
    static let namedSizes: [(name: String, width: Int, height: Int)] = [
        ("square_hd", 1024, 1024), ("square", 512, 512), ("portrait_4_3", 768, 1024),
        ("portrait_16_9", 576, 1024), ("landscape_4_3", 1024, 768), ("landscape_16_9", 1024, 576),
    ]

    /// The input schema of `task`.
    static func input(_ task: StableDiffusionModel.Task, schemaName: String) -> JSONValue {
        let side: JSONValue = [
            "type": "integer", "minimum": 64, "maximum": .int(Int64(maxSide)), "multipleOf": 8,
            "description": "Pixels; a multiple of 8 (the autoencoder's downsampling).",
        ]
        var properties: [String: JSONValue] = [
            "prompt": [
                "type": "string", "title": "Prompt", "minLength": 1, "maxLength": .int(Int64(maxPromptLength)),
                "description": "The prompt to generate an image from (CLIP reads its first 75 tokens).",
            ],
            "negative_prompt": [
                "type": "string", "title": "Negative Prompt", "default": "", "maxLength": .int(Int64(maxPromptLength)),
                "description": "What the image should not show (classifier-free guidance's unconditional prompt).",
            ],
            "image_size": [
                "title": "Image Size",
                "description": "A named size or {width, height}. Default: the model's native square (512, 768 or 1024).",
                "anyOf": [
                    ["type": "string", "enum": .array(namedSizes.map { .string($0.name) })],
                    [
                        "type": "object", "title": "ImageSize", "properties": ["width": side, "height": side],
                        "required": ["width", "height"], "additionalProperties": false,
                    ],
                ],
            ],
            "num_inference_steps": [
                "type": "integer", "title": "Num Inference Steps", "minimum": 1, "maximum": .int(Int64(maxSteps)),
                "description": "Sampler steps. Default: the model's (1 for turbo checkpoints, else 25 or so).",
            ],
            "guidance_scale": [
                "type": "number", "title": "Guidance scale (CFG)", "minimum": 0, "maximum": 20,
                "description": "How closely the image follows the prompt; 1 or less turns classifier-free guidance off. Default: the model's.",
            ],
            "seed": [
                "type": "integer", "title": "Seed", "minimum": 0, "maximum": .int(maxSeed),
                "description": "The same seed and parameters give the same image (torch's CPU generator). Random when omitted; the seed used is returned.",
            ],
            "num_images": [
                "type": "integer", "title": "Num Images", "minimum": 1, "maximum": .int(Int64(maxImages)), "default": 1,
                "description": "Images to generate.",
            ],
            "enable_safety_checker": [
                "type": "boolean", "title": "Enable Safety Checker", "default": true,
                "description": "Run the safety checker on the images when one is installed.",
            ],
            "output_format": [
                "type": "string", "title": "Output Format", "enum": ["jpeg", "png"], "default": "jpeg",
                "description": "The images' format.",
            ],
            "sync_mode": [
                "type": "boolean", "title": "Sync Mode", "default": false,
                "description": "If true, the images are returned inline as data URIs instead of stored file URLs.",
            ],
            "loras": [
                "type": "array", "title": "Loras", "default": [], "maxItems": .int(Int64(maxLoRAs)),
                "description": "LoRA weights to apply to this request ({path, scale}): .safetensors files in PEFT/diffusers or kohya-ss layout.",
                "items": [
                    "type": "object", "title": "LoraWeight", "required": ["path"],
                    "properties": [
                        "path": ["type": "string", "minLength": 1, "maxLength": 4096, "description": "URL or path of the LoRA weights."],
                        "scale": ["type": "number", "minimum": 0, "maximum": 4, "default": 1, "description": "The LoRA's weight."],
                    ],
                ],
            ],
        ]
        var order: [JSONValue] = ["prompt", "negative_prompt"]
        var required: [JSONValue] = ["prompt"]
        if task != .textToImage {
            properties["image_url"] = [
                "type": "string", "title": "Image Url", "minLength": 1,
                "description": task == .inpainting
                    ? "The image to inpaint (resized to image_size when one is given; else its size, down to a multiple of 8)."
                    : "The image to start from (resized to image_size when one is given; else its size, down to a multiple of 8).",
            ]
            properties["strength"] = [
                "type": "number", "title": "Strength", "exclusiveMinimum": 0, "maximum": 1, "default": 0.95,
                "description": "How much of the image is re-generated: 1 starts from noise, small values keep the image.",
            ]
            order = ["image_url"] + order
            required.append("image_url")
        }
        if task == .inpainting {
            properties["mask_url"] = [
                "type": "string", "title": "Mask Url", "minLength": 1,
                "description": "The mask, the image's size: white is repainted, black kept.",
            ]
            order.insert("mask_url", at: 1)
            required.append("mask_url")
        }
        order += ["image_size", "num_inference_steps", "guidance_scale", "seed", "num_images", "strength",
                  "enable_safety_checker", "output_format", "sync_mode", "loras"]
        order = order.filter { key in key.stringValue.map { properties[$0] != nil } ?? false }
        return [
            "type": "object", "title": .string("\(schemaName)Input"), "properties": .object(properties),
            "required": .array(required), "x-fal-order-properties": .array(order),
        ]
    }

    private static let image: JSONValue = [
        "type": "object", "title": "Image",
        "properties": [
            "url": ["type": "string"], "content_type": ["type": "string"], "file_name": ["type": "string"],
            "file_size": ["type": "integer"], "width": ["type": "integer"], "height": ["type": "integer"],
        ],
        "required": ["url", "width", "height", "content_type"],
    ]

    /// `images`, `timings`, `seed`, `has_nsfw_concepts`, `prompt`.
    static func output(schemaName: String) -> JSONValue {
        [
            "type": "object", "title": .string("\(schemaName)Output"),
            "properties": [
                "images": ["type": "array", "title": "Images", "items": image, "description": "The generated images."],
                "timings": [
                    "type": "object", "title": "Timings",
                    "properties": ["inference": ["type": "number", "description": "Seconds of text encoding, sampling and decoding."]],
                ],
                "seed": ["type": "integer", "title": "Seed", "description": "The seed used (the given one, or the random one drawn)."],
                "has_nsfw_concepts": [
                    "type": "array", "title": "Has Nsfw Concepts", "items": ["type": "boolean"],
                    "description": "Per image, whether the safety checker flagged it (false when no checker is installed).",
                ],
                "prompt": ["type": "string", "title": "Prompt", "description": "The prompt used."],
            ],
            "required": ["images", "timings", "seed", "has_nsfw_concepts", "prompt"],
            "x-fal-order-properties": ["images", "timings", "seed", "has_nsfw_concepts", "prompt"],
        ]
    }
}
