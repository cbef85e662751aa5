// Writing animated WebP (libwebpmux's animation encoder).

import CLibWebP

extension WebPCodec {
    /// Encodes 8-bit RGB/RGBA frames of one size as an animated WebP, each shown for
    /// `frameMilliseconds`.
    static func encodeAnimation(_ frames: [Image], frameMilliseconds: Int, quality: Float, lossless: Bool) throws -> [UInt8] {
        guard let first = frames.first else { throw MediaError(.invalidArgument, "webp: an animation needs frames") }
        guard frames.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
            throw MediaError(.invalidArgument, "webp: animation frames differ in size")
        }
        var options = WebPAnimEncoderOptions()
        guard WebPAnimEncoderOptionsInit(&options) != 0 else { throw MediaError(.encodingFailed, "webp: libwebp version mismatch") }
        guard let encoder = WebPAnimEncoderNew(Int32(first.width), Int32(first.height), &options) else {
            throw MediaError(.outOfMemory, "webp: could not create an animation encoder")
        }
        defer { WebPAnimEncoderDelete(encoder) }
        var config = try makeConfig(quality: quality, lossless: lossless)
        var timestamp: Int32 = 0
        for frame in frames {
            let rgb = try frame.converted(to: .eight).converted(toChannels: frame.hasAlpha ? 4 : 3)
            guard case .uint8(let values) = rgb.samples else { continue }
            var picture = try makePicture(values, width: rgb.width, height: rgb.height, channels: rgb.channels, lossless: lossless)
            defer { WebPPictureFree(&picture) }
            guard WebPAnimEncoderAdd(encoder, &picture, timestamp, &config) != 0 else {
                throw MediaError(.encodingFailed, "webp: adding an animation frame failed")
            }
            timestamp += Int32(frameMilliseconds)
        }
        guard WebPAnimEncoderAdd(encoder, nil, timestamp, nil) != 0 else {
            throw MediaError(.encodingFailed, "webp: closing the animation failed")
        }
        var data = WebPData()
        guard WebPAnimEncoderAssemble(encoder, &data) != 0, let bytes = data.bytes else {
            throw MediaError(.encodingFailed, "webp: assembling the animation failed")
        }
        defer { WebPDataClear(&data) }
        return Array(UnsafeBufferPointer(start: bytes, count: data.size))
    }
}
