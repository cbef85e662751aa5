// Reading and writing image files: the entry points over the per-format codecs.

/// How to write an image file.
public enum ImageEncoding: Sendable, Equatable {
    /// PNG, lossless, at the image's own bit depth (8 or 16) and layout. `compressionLevel` is
    /// zlib's 0...9. The default 3 is about 3× faster than zlib's usual 6 for files about 5%
    /// larger (measured on a 1-megapixel photo-like image): outputs are encoded on the request's
    /// critical path.
    case png(compressionLevel: Int = 3)
    /// JPEG at `quality` 1...100. `fullChroma` keeps 4:4:4 colour instead of 4:2:0. Alpha is
    /// dropped and 16-bit samples are rounded to 8 bits (JPEG holds neither).
    case jpeg(quality: Int = 90, fullChroma: Bool = false, progressive: Bool = false)
    /// WebP at `quality` 0...100, or lossless (`quality` then sets the compression effort).
    /// 16-bit samples are rounded to 8 bits and gray is stored as RGB (WebP holds neither).
    case webp(quality: Float = 90, lossless: Bool = false)

    /// The file format this encoding writes.
    public var format: ImageFormat {
        switch self {
        case .png: .png
        case .jpeg: .jpeg
        case .webp: .webp
        }
    }

    /// The usual encoding of a format, e.g. for a request's `output_format`.
    public init(format: ImageFormat) {
        switch format {
        case .png: self = .png()
        case .jpeg: self = .jpeg()
        case .webp: self = .webp()
        }
    }
}

extension Image {
    /// Decodes a PNG, JPEG or WebP file, recognised by its magic bytes.
    ///
    /// The dimensions are read from the header and checked against `options` before any pixel
    /// memory is allocated. PNG keeps its bit depth and layout (palettes and transparency
    /// chunks expanded to RGB(A)/gray+alpha, 1/2/4-bit gray widened to 8). JPEG gives 8-bit gray
    /// or RGB (CMYK converted), turned upright by its EXIF orientation. WebP gives 8-bit RGB or
    /// RGBA; for an animated WebP the first frame.
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - options: limits and orientation handling.
    /// - Throws: `MediaError` — `unsupportedFormat`, `tooLarge`, `truncated`, `corrupt`,
    ///   `unsupportedFeature` or `outOfMemory`; the message names the format.
    public static func decode<Bytes: Collection<UInt8>>(
        _ bytes: Bytes, options: ImageDecodingOptions = ImageDecodingOptions()
    ) throws -> Image {
        try withBytes(bytes) { buffer in
            switch try sniffOrThrow(buffer) {
            case .png: try PNGCodec.decode(buffer, options: options)
            case .jpeg: try JPEGCodec.decode(buffer, options: options)
            case .webp: try WebPCodec.decode(buffer, options: options)
            }
        }
    }

    /// Reads a file's header only: format, size, channels and bit depth as `decode` would
    /// deliver them, frame count. Cheap; use it to reject input before spending work on it.
    /// - Throws: `MediaError` as `decode` does, except `tooLarge` (no limit is applied).
    public static func info<Bytes: Collection<UInt8>>(
        _ bytes: Bytes, options: ImageDecodingOptions = ImageDecodingOptions()
    ) throws -> ImageInfo {
        try withBytes(bytes) { buffer in
            switch try sniffOrThrow(buffer) {
            case .png: try PNGCodec.info(buffer)
            case .jpeg: try JPEGCodec.info(buffer, options: options)
            case .webp: try WebPCodec.info(buffer)
            }
        }
    }

    /// Encodes the image as a file.
    /// - Parameter encoding: the format and its settings; see `ImageEncoding` for what each
    ///   format can hold and how the image is adapted to it.
    /// - Returns: the file's bytes.
    /// - Throws: `MediaError` with `invalidArgument` (e.g. a WebP side over 16,383),
    ///   `encodingFailed` or `outOfMemory`.
    public func encoded(as encoding: ImageEncoding) throws -> [UInt8] {
        switch encoding {
        case .png(let level):
            return try PNGCodec.encode(self, compressionLevel: level)
        case .jpeg(let quality, let fullChroma, let progressive):
            let eightBit = try converted(to: .eight).converted(toChannels: colorChannels)
            return try JPEGCodec.encode(eightBit, quality: quality, fullChroma: fullChroma, progressive: progressive)
        case .webp(let quality, let lossless):
            let eightBit = try converted(to: .eight).converted(toChannels: hasAlpha ? 4 : 3)
            return try WebPCodec.encode(eightBit, quality: quality, lossless: lossless)
        }
    }

    private static func sniffOrThrow(_ buffer: UnsafeRawBufferPointer) throws -> ImageFormat {
        guard let format = ImageFormat.sniff(buffer) else {
            throw MediaError(.unsupportedFormat, "image: \(ImageFormat.describeUnsupported(buffer)) is not PNG, JPEG or WebP")
        }
        return format
    }
}

/// Runs `body` over contiguous bytes, copying only when the collection is not contiguous.
func withBytes<Bytes: Collection<UInt8>, R>(_ bytes: Bytes, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    if let result = try bytes.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return try Array(bytes).withUnsafeBytes(body)
}
