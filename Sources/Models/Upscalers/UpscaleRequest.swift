import Media
import ModelKit

/// A parsed upscaling request (fal field names).
struct UpscaleRequest: Sendable {
    var imageURL: String
    var scale: Int
    var format: ImageFormat
    var tileSize: Int
    /// waifu2x only.
    var noiseLevel: Int
    /// waifu2x only: `cunet`, `upconv_7_photo`, `upconv_7_anime_style_art_rgb`.
    var modelName: String

    /// Reads the fields, filling defaults; rejects values outside the schema with 422s that
    /// name the field (the platform validates first, but direct callers may not).
    init(_ input: JSONValue, scales: [Int], defaultScale: Int, defaultModel: String = "") throws {
        guard let url = input["image_url"]?.stringValue, !url.isEmpty else {
            throw ModelError(.invalidInput, "image_url is required", field: ["body", "image_url"])
        }
        imageURL = url
        scale = Int(input["scale"]?.intValue ?? Int64(defaultScale))
        guard scales.contains(scale) else {
            throw ModelError(.invalidInput, "scale must be one of \(scales)", field: ["body", "scale"])
        }
        let formatName = input["output_format"]?.stringValue ?? "png"
        guard let f = ImageFormat(rawValue: formatName) else {
            throw ModelError(.invalidInput, "output_format must be png, jpeg or webp", field: ["body", "output_format"])
        }
        format = f
        tileSize = Int(input["tile_size"]?.intValue ?? 256)
        guard (32...1024).contains(tileSize) else {
            throw ModelError(.invalidInput, "tile_size must be in 32...1024", field: ["body", "tile_size"])
        }
        noiseLevel = Int(input["noise_level"]?.intValue ?? 0)
        guard (-1...3).contains(noiseLevel) else {
            throw ModelError(.invalidInput, "noise_level must be in -1...3", field: ["body", "noise_level"])
        }
        modelName = input["model"]?.stringValue ?? defaultModel
    }
}
