// Limits and switches for decoding.

/// How to decode: the safety limits and whether to apply orientation metadata.
public struct ImageDecodingOptions: Sendable, Equatable {
    /// The largest image accepted, in pixels (width × height), checked from the header before any
    /// pixel memory is allocated. Default 64 megapixels.
    public var maxPixels: Int
    /// The largest width or height accepted. Default 65,535.
    public var maxDimension: Int
    /// JPEG: the most progressive scans accepted (a CPU-exhaustion guard). Default 1,000.
    public var maxJPEGScans: Int
    /// JPEG: rotate/flip the decoded pixels as the EXIF orientation tag says. Default `true`.
    public var appliesOrientation: Bool

    /// Options with the default limits.
    public init(maxPixels: Int = 64 * 1024 * 1024, maxDimension: Int = 65_535, maxJPEGScans: Int = 1_000,
                appliesOrientation: Bool = true) {
        self.maxPixels = maxPixels
        self.maxDimension = maxDimension
        self.maxJPEGScans = maxJPEGScans
        self.appliesOrientation = appliesOrientation
    }

    /// Throws `tooLarge` when a header's dimensions exceed the limits.
    func check(width: Int, height: Int, format: ImageFormat) throws {
        guard width > 0, height > 0 else {
            throw MediaError(.corrupt, "\(format.rawValue): header declares an empty \(width)x\(height) image")
        }
        guard width <= maxDimension, height <= maxDimension else {
            throw MediaError(.tooLarge, "\(format.rawValue): \(width)x\(height) exceeds the \(maxDimension)-pixel side limit")
        }
        guard width * height <= maxPixels else {
            throw MediaError(.tooLarge, "\(format.rawValue): \(width)x\(height) is \(width * height) pixels, over the limit of \(maxPixels)")
        }
    }
}

/// What a file's header says, read without decoding pixels.
public struct ImageInfo: Sendable, Equatable {
    /// The file's format.
    public var format: ImageFormat
    /// Columns (after EXIF orientation, when the options apply it).
    public var width: Int
    /// Rows (after EXIF orientation, when the options apply it).
    public var height: Int
    /// Channels `Image.decode` will deliver (1...4).
    public var channels: Int
    /// Bits per sample `Image.decode` will deliver.
    public var bitDepth: Image.BitDepth
    /// Frames in the file (more than 1 for animated WebP; decoding delivers the first).
    public var frameCount: Int
    /// The EXIF orientation found (JPEG), `.up` when absent.
    public var orientation: ImageOrientation
}
