import Media
import ModelKit

/// A parsed video upscaling request (fal field names).
struct VideoUpscaleRequest: Sendable {
    var videoURL: String
    var scale: Int
    /// waifu2x CUNet denoising strength before upscaling, 0...3; `nil` (or -1 in the request):
    /// no denoising.
    var denoise: Int?
    var container: VideoWriter.Container
    var tileSize: Int

    /// Reads the fields, filling defaults; rejects values outside the schema with 422s that
    /// name the field (the platform validates first, but direct callers may not).
    init(_ input: JSONValue) throws {
        guard let url = input["video_url"]?.stringValue, !url.isEmpty else {
            throw ModelError(.invalidInput, "video_url is required", field: ["body", "video_url"])
        }
        videoURL = url
        scale = Int(input["scale"]?.intValue ?? 2)
        guard [2, 3, 4].contains(scale) else {
            throw ModelError(.invalidInput, "scale must be 2, 3 or 4", field: ["body", "scale"])
        }
        let level = Int(input["denoise"]?.intValue ?? -1)
        guard (-1...3).contains(level) else {
            throw ModelError(.invalidInput, "denoise must be in -1...3", field: ["body", "denoise"])
        }
        denoise = level < 0 ? nil : level
        let format = input["output_format"]?.stringValue ?? "mp4"
        guard let container = VideoWriter.Container(rawValue: format) else {
            throw ModelError(.invalidInput, "output_format must be mp4 or webm", field: ["body", "output_format"])
        }
        self.container = container
        tileSize = Int(input["tile_size"]?.intValue ?? 512)
        guard (32...1024).contains(tileSize) else {
            throw ModelError(.invalidInput, "tile_size must be in 32...1024", field: ["body", "tile_size"])
        }
    }
}
