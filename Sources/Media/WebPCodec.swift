// WebP through libwebp. libwebp returns status codes, so Swift calls it directly.
//
// Animated WebP: decoding returns the first frame, composited on the canvas (what a browser
// shows before playing); `ImageInfo.frameCount` tells callers that there were more.

import CLibWebP

enum WebPCodec {
    /// The largest side libwebp encodes.
    static let maxDimension = 16_383

    static func error(_ status: VP8StatusCode, doing: String) -> MediaError {
        switch status {
        case VP8_STATUS_NOT_ENOUGH_DATA:
            return MediaError(.truncated, "webp: truncated file while \(doing)")
        case VP8_STATUS_OUT_OF_MEMORY:
            return MediaError(.outOfMemory, "webp: out of memory while \(doing)")
        case VP8_STATUS_UNSUPPORTED_FEATURE:
            return MediaError(.unsupportedFeature, "webp: the file uses an unsupported feature (\(doing))")
        default:
            return MediaError(.corrupt, "webp: corrupt bitstream while \(doing) (libwebp status \(status.rawValue))")
        }
    }

    static func features(_ bytes: UnsafeRawBufferPointer) throws -> WebPBitstreamFeatures {
        var features = WebPBitstreamFeatures()
        let status = WebPGetFeatures(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, &features)
        guard status == VP8_STATUS_OK else { throw error(status, doing: "reading the header") }
        return features
    }

    static func info(_ bytes: UnsafeRawBufferPointer) throws -> ImageInfo {
        let features = try features(bytes)
        var frames = 1
        var width = Int(features.width), height = Int(features.height)
        if features.has_animation != 0 {
            // The demuxer only parses the container; the animation decoder would allocate canvases.
            var data = WebPData(bytes: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), size: bytes.count)
            guard let demuxer = WebPDemux(&data) else {
                throw MediaError(.corrupt, "webp: the animation's container is corrupt or truncated")
            }
            defer { WebPDemuxDelete(demuxer) }
            frames = Int(WebPDemuxGetI(demuxer, WEBP_FF_FRAME_COUNT))
            width = Int(WebPDemuxGetI(demuxer, WEBP_FF_CANVAS_WIDTH))
            height = Int(WebPDemuxGetI(demuxer, WEBP_FF_CANVAS_HEIGHT))
        }
        return ImageInfo(format: .webp, width: width, height: height, channels: features.has_alpha != 0 ? 4 : 3,
                         bitDepth: .eight, frameCount: frames, orientation: .up)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, options: ImageDecodingOptions) throws -> Image {
        let features = try features(bytes)
        let width = Int(features.width), height = Int(features.height)
        // For an animation these are the canvas's: checked before the animation decoder
        // allocates its canvas buffers.
        try options.check(width: width, height: height, format: .webp)
        if features.has_animation != 0 { return try decodeFirstFrame(bytes, hasAlpha: features.has_alpha != 0, options: options) }
        let channels = features.has_alpha != 0 ? 4 : 3
        let count = width * height * channels
        let values = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var config = WebPDecoderConfig()
            guard WebPInitDecoderConfig(&config) != 0 else {
                throw MediaError(.unsupportedFeature, "webp: libwebp version mismatch")
            }
            config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB
            config.output.is_external_memory = 1
            config.output.u.RGBA.rgba = buffer.baseAddress
            config.output.u.RGBA.stride = Int32(width * channels)
            config.output.u.RGBA.size = count
            let status = WebPDecode(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, &config)
            WebPFreeDecBuffer(&config.output)
            guard status == VP8_STATUS_OK else { throw error(status, doing: "decoding pixels") }
            initialized = count
        }
        return Image(uncheckedWidth: width, height: height, channels: channels, samples: .uint8(values))
    }

    private static func withAnimationDecoder<R>(
        _ bytes: UnsafeRawBufferPointer, _ body: (OpaquePointer, WebPAnimInfo) throws -> R
    ) throws -> R {
        var data = WebPData(bytes: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), size: bytes.count)
        var decoderOptions = WebPAnimDecoderOptions()
        guard WebPAnimDecoderOptionsInit(&decoderOptions) != 0 else {
            throw MediaError(.unsupportedFeature, "webp: libwebp version mismatch")
        }
        decoderOptions.color_mode = MODE_RGBA
        decoderOptions.use_threads = 0
        guard let decoder = WebPAnimDecoderNew(&data, &decoderOptions) else {
            throw MediaError(.corrupt, "webp: the animation's container is corrupt or truncated")
        }
        defer { WebPAnimDecoderDelete(decoder) }
        var info = WebPAnimInfo()
        guard WebPAnimDecoderGetInfo(decoder, &info) != 0 else {
            throw MediaError(.corrupt, "webp: could not read the animation's header")
        }
        return try body(decoder, info)
    }

    private static func decodeFirstFrame(_ bytes: UnsafeRawBufferPointer, hasAlpha: Bool, options: ImageDecodingOptions) throws -> Image {
        try withAnimationDecoder(bytes) { decoder, info in
            let width = Int(info.canvas_width), height = Int(info.canvas_height)
            try options.check(width: width, height: height, format: .webp)
            var frame: UnsafeMutablePointer<UInt8>?
            var timestamp: Int32 = 0
            guard WebPAnimDecoderGetNext(decoder, &frame, &timestamp) != 0, let frame else {
                throw MediaError(.corrupt, "webp: could not decode the animation's first frame")
            }
            let rgba = UnsafeBufferPointer(start: frame, count: width * height * 4)
            let image = Image(uncheckedWidth: width, height: height, channels: 4, samples: .uint8(Array(rgba)))
            return hasAlpha ? image : try image.converted(toChannels: 3)
        }
    }

    /// Encodes 8-bit RGB or RGBA.
    static func encode(_ image: Image, quality: Float, lossless: Bool) throws -> [UInt8] {
        guard case .uint8(let values) = image.samples, image.channels == 3 || image.channels == 4 else {
            throw MediaError(.invalidArgument, "webp: the encoder takes 8-bit RGB or RGBA")
        }
        guard image.width <= maxDimension, image.height <= maxDimension else {
            throw MediaError(.invalidArgument, "webp: \(image.width)x\(image.height) exceeds WebP's \(maxDimension)-pixel side limit")
        }
        var config = try makeConfig(quality: quality, lossless: lossless)
        var picture = try makePicture(values, width: image.width, height: image.height, channels: image.channels, lossless: lossless)
        defer { WebPPictureFree(&picture) }
        var writer = WebPMemoryWriter()
        WebPMemoryWriterInit(&writer)
        defer { WebPMemoryWriterClear(&writer) }
        let ok = withUnsafeMutablePointer(to: &writer) { writerPointer in
            picture.writer = WebPMemoryWrite
            picture.custom_ptr = UnsafeMutableRawPointer(writerPointer)
            return WebPEncode(&config, &picture)
        }
        guard ok != 0, let memory = writer.mem else {
            throw MediaError(.encodingFailed, "webp: encoding failed (libwebp error \(picture.error_code.rawValue))")
        }
        return Array(UnsafeBufferPointer(start: memory, count: writer.size))
    }

    static func makeConfig(quality: Float, lossless: Bool) throws -> WebPConfig {
        var config = WebPConfig()
        guard WebPConfigInit(&config) != 0 else { throw MediaError(.encodingFailed, "webp: libwebp version mismatch") }
        config.quality = min(max(quality, 0), 100)
        config.lossless = lossless ? 1 : 0
        // Keep the colour under fully transparent pixels: a lossless round trip must be exact.
        config.exact = lossless ? 1 : 0
        guard WebPValidateConfig(&config) != 0 else { throw MediaError(.invalidArgument, "webp: invalid encoder settings") }
        return config
    }

    static func makePicture(_ values: [UInt8], width: Int, height: Int, channels: Int, lossless: Bool) throws -> WebPPicture {
        var picture = WebPPicture()
        guard WebPPictureInit(&picture) != 0 else { throw MediaError(.encodingFailed, "webp: libwebp version mismatch") }
        picture.width = Int32(width)
        picture.height = Int32(height)
        picture.use_argb = lossless ? 1 : 0
        let imported = values.withUnsafeBufferPointer { pixels in
            channels == 4
                ? WebPPictureImportRGBA(&picture, pixels.baseAddress, Int32(width * 4))
                : WebPPictureImportRGB(&picture, pixels.baseAddress, Int32(width * 3))
        }
        guard imported != 0 else {
            WebPPictureFree(&picture)
            throw MediaError(.outOfMemory, "webp: could not import \(width)x\(height) pixels")
        }
        return picture
    }
}
