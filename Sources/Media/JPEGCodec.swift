// JPEG through libjpeg-turbo (via the CMediaShims C functions, which contain libjpeg's longjmp
// errors), with the EXIF orientation read here.

import CMediaShims

enum JPEGCodec {
    static func info(_ bytes: UnsafeRawBufferPointer, options: ImageDecodingOptions) throws -> ImageInfo {
        try withHeader(bytes, options: options) { _, info in
            let orientation = EXIF.jpegOrientation(bytes) ?? .up
            let swap = options.appliesOrientation && orientation.swapsDimensions
            return ImageInfo(format: .jpeg, width: Int(swap ? info.height : info.width), height: Int(swap ? info.width : info.height),
                             channels: Int(info.channels), bitDepth: .eight, frameCount: 1, orientation: orientation)
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, options: ImageDecodingOptions) throws -> Image {
        let image: Image = try withHeader(bytes, options: options) { decoder, info in
            let width = Int(info.width), height = Int(info.height), channels = Int(info.channels)
            try options.check(width: width, height: height, format: .jpeg)
            let count = width * height * channels
            let values = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                let status = media_jpeg_read_pixels(decoder, buffer.baseAddress!, width * channels)
                guard status == MEDIA_STATUS_OK else {
                    throw PNGCodec.error(status, String(cString: media_jpeg_decoder_message(decoder)), format: "jpeg", doing: "decoding pixels")
                }
                initialized = count
            }
            return Image(uncheckedWidth: width, height: height, channels: channels, samples: .uint8(values))
        }
        guard options.appliesOrientation, let orientation = EXIF.jpegOrientation(bytes) else { return image }
        return image.applying(orientation)
    }

    private static func withHeader<R>(
        _ bytes: UnsafeRawBufferPointer, options: ImageDecodingOptions, _ body: (OpaquePointer, media_image_info) throws -> R
    ) throws -> R {
        guard let decoder = media_jpeg_decoder_create() else {
            throw MediaError(.outOfMemory, "jpeg: could not create a decoder")
        }
        defer { media_jpeg_decoder_destroy(decoder) }
        var info = media_image_info()
        let status = media_jpeg_read_header(decoder, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count,
                                            UInt32(clamping: max(0, options.maxJPEGScans)), &info)
        guard status == MEDIA_STATUS_OK else {
            throw PNGCodec.error(status, String(cString: media_jpeg_decoder_message(decoder)), format: "jpeg", doing: "reading the header")
        }
        return try body(decoder, info)
    }

    /// Encodes gray or RGB at 8 bits; callers convert other layouts first. With `cmyk`, a
    /// 4-channel image is written as (Adobe-inverted) CMYK, which only tests need.
    static func encode(_ image: Image, quality: Int, fullChroma: Bool, progressive: Bool, cmyk: Bool = false) throws -> [UInt8] {
        guard case .uint8(let values) = image.samples, image.channels == 1 || image.channels == 3 || (cmyk && image.channels == 4) else {
            throw MediaError(.invalidArgument, "jpeg: the encoder takes 8-bit gray or RGB")
        }
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status: Int32 = message.withUnsafeMutableBufferPointer { text in
            values.withUnsafeBufferPointer { pixels in
                media_jpeg_encode(pixels.baseAddress!, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                                  image.width * image.channels, Int32(quality), fullChroma ? 1 : 0, progressive ? 1 : 0,
                                  &output, &size, text.baseAddress, text.count)
            }
        }
        guard status == MEDIA_STATUS_OK, let output else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw MediaError(status == MEDIA_STATUS_NO_MEMORY ? .outOfMemory : .encodingFailed, "jpeg: encoding failed: \(text)")
        }
        defer { media_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
