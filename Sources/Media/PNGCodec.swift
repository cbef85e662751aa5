// PNG through libpng (via the CMediaShims C functions, which contain libpng's longjmp errors).

import CMediaShims

enum PNGCodec {
    /// Maps a shim status to an error naming the format.
    static func error(_ status: Int32, _ message: String, format: String, doing: String) -> MediaError {
        switch status {
        case Int32(MEDIA_STATUS_TRUNCATED):
            return MediaError(.truncated, "\(format): truncated file, \(message)")
        case Int32(MEDIA_STATUS_NO_MEMORY):
            return MediaError(.outOfMemory, "\(format): out of memory while \(doing)")
        case Int32(MEDIA_STATUS_UNSUPPORTED):
            return MediaError(.unsupportedFeature, "\(format): \(message)")
        case Int32(MEDIA_STATUS_TOO_LARGE):
            return MediaError(.tooLarge, "\(format): the image is larger than the configured limits")
        case Int32(MEDIA_STATUS_INVALID):
            return MediaError(.invalidArgument, "\(format): \(message) while \(doing)")
        default:
            return MediaError(.corrupt, "\(format): corrupt data while \(doing): \(message)")
        }
    }

    static func info(_ bytes: UnsafeRawBufferPointer) throws -> ImageInfo {
        try withHeader(bytes, limits: nil) { _, info in
            ImageInfo(format: .png, width: Int(info.width), height: Int(info.height), channels: Int(info.channels),
                      bitDepth: info.bit_depth == 16 ? .sixteen : .eight, frameCount: 1, orientation: .up)
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, options: ImageDecodingOptions) throws -> Image {
        try withHeader(bytes, limits: options) { decoder, info in
            let width = Int(info.width), height = Int(info.height), channels = Int(info.channels)
            let count = width * height * channels
            func read(_ base: UnsafeMutableRawPointer, sampleSize: Int) throws {
                let status = media_png_read_pixels(decoder, base.assumingMemoryBound(to: UInt8.self), width * channels * sampleSize)
                guard status == MEDIA_STATUS_OK else {
                    throw error(status, String(cString: media_png_decoder_message(decoder)), format: "png", doing: "decoding pixels")
                }
            }
            if info.bit_depth == 16 {
                let values = try [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                    try read(UnsafeMutableRawPointer(buffer.baseAddress!), sampleSize: 2)
                    initialized = count
                }
                return Image(uncheckedWidth: width, height: height, channels: channels, samples: .uint16(values))
            }
            let values = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                try read(UnsafeMutableRawPointer(buffer.baseAddress!), sampleSize: 1)
                initialized = count
            }
            return Image(uncheckedWidth: width, height: height, channels: channels, samples: .uint8(values))
        }
    }

    /// Reads the header; with `limits`, refuses oversized images before libpng allocates rows
    /// and prepares the decoder for pixels, without, only describes the file.
    private static func withHeader<R>(
        _ bytes: UnsafeRawBufferPointer, limits: ImageDecodingOptions?, _ body: (OpaquePointer, media_image_info) throws -> R
    ) throws -> R {
        guard let decoder = media_png_decoder_create() else {
            throw MediaError(.outOfMemory, "png: could not create a decoder")
        }
        defer { media_png_decoder_destroy(decoder) }
        var info = media_image_info()
        let status = media_png_read_header(
            decoder, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count,
            UInt32(clamping: limits?.maxDimension ?? Int(UInt32.max)), UInt64(clamping: limits?.maxPixels ?? Int.max),
            limits == nil ? 1 : 0, &info)
        if status == MEDIA_STATUS_TOO_LARGE, let limits {
            try limits.check(width: Int(info.width), height: Int(info.height), format: .png)
        }
        guard status == MEDIA_STATUS_OK else {
            throw error(status, String(cString: media_png_decoder_message(decoder)), format: "png", doing: "reading the header")
        }
        return try body(decoder, info)
    }

    static func encode(_ image: Image, compressionLevel: Int) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let sampleSize = image.bitDepth == .sixteen ? 2 : 1
        let status: Int32 = message.withUnsafeMutableBufferPointer { text in
            func run(_ pointer: UnsafeRawPointer) -> Int32 {
                media_png_encode(pointer.assumingMemoryBound(to: UInt8.self), UInt32(image.width), UInt32(image.height),
                                 Int32(image.channels), Int32(image.bitDepth.rawValue), image.width * image.channels * sampleSize,
                                 Int32(compressionLevel), &output, &size, text.baseAddress, text.count)
            }
            switch image.samples {
            case .uint8(let values): return values.withUnsafeBytes { run($0.baseAddress!) }
            case .uint16(let values): return values.withUnsafeBytes { run($0.baseAddress!) }
            }
        }
        guard status == MEDIA_STATUS_OK, let output else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw MediaError(status == MEDIA_STATUS_NO_MEMORY ? .outOfMemory : .encodingFailed, "png: encoding failed: \(text)")
        }
        defer { media_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
