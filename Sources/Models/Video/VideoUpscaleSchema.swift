import ModelKit

/// fal-style request and response schemas of the video upscaler.
enum VideoUpscaleSchema {
    /// `video_url`, `scale`, `denoise`, `output_format`, `tile_size`, `sync_mode`.
    static let input: JSONValue = [
        "type": "object", "title": "VideoUpscaleInput",
        "properties": [
            "video_url": [
                "type": "string", "title": "Video Url",
                "description": "URL (or data URI) of the video: MP4/MOV (H.264, HEVC, ...), WebM (VP8/VP9/AV1) or animated GIF.",
                "examples": ["https://storage.googleapis.com/falserverless/model_tests/video_models/robot.mp4"],
            ],
            "scale": [
                "type": "integer", "title": "Scale", "enum": [2, 3, 4], "default": 2,
                "description": "Output size / input size (realesr-animevideov3).",
            ],
            "denoise": [
                "type": "integer", "title": "Denoise", "minimum": -1, "maximum": 3, "default": -1,
                "description": "Denoise every frame with waifu2x CUNet at this strength before upscaling; -1 turns it off.",
            ],
            "output_format": [
                "type": "string", "title": "Output Format", "enum": ["mp4", "webm"], "default": "mp4",
                "description": "mp4 (H.264, yuv420p, faststart) or webm (VP9).",
            ],
            "tile_size": [
                "type": "integer", "title": "Tile Size", "minimum": 32, "maximum": 1024, "default": 512,
                "description": "Largest tile side in input pixels; larger tiles use more memory, the result is the same.",
            ],
            "sync_mode": [
                "type": "boolean", "title": "Sync Mode", "default": false,
                "description": "If true, the video is returned inline as a data URI instead of a stored file URL.",
            ],
        ],
        "required": ["video_url"],
        "x-fal-order-properties": ["video_url", "scale", "denoise", "output_format", "tile_size", "sync_mode"],
    ]

    /// `video` (a fal file with the frame size, rate, count and duration) and `timings`.
    static let output: JSONValue = [
        "type": "object", "title": "VideoUpscaleOutput",
        "properties": [
            "video": [
                "title": "Video", "type": "object", "description": "The upscaled video.",
                "properties": [
                    "url": ["type": "string"], "content_type": ["type": "string"], "file_name": ["type": "string"],
                    "file_size": ["type": "integer"], "width": ["type": "integer"], "height": ["type": "integer"],
                    "fps": ["type": "number"], "frame_count": ["type": "integer"], "duration": ["type": "number"],
                ],
                "required": ["url", "content_type", "file_name", "file_size"],
            ],
            "timings": [
                "type": "object", "title": "Timings",
                "properties": [
                    "inference": ["type": "number", "description": "Seconds spent in the networks."],
                    "probe": ["type": "number", "description": "Seconds spent checking the input."],
                    "total": ["type": "number", "description": "Seconds from start to the stored output."],
                ],
            ],
        ],
        "required": ["video", "timings"],
        "x-fal-order-properties": ["video", "timings"],
    ]
}
