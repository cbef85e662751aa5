// The in-memory image: interleaved 8- or 16-bit samples.

/// An image held as interleaved samples, row after row, with no padding between rows.
///
/// Channels follow PNG's layouts: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA. Samples are stored as
/// they come from the file (no gamma or colour-space conversion), 8-bit in `UInt8`, 16-bit in
/// `UInt16` (native byte order). Alpha is straight (not premultiplied).
public struct Image: Sendable, Equatable {
    /// Bits per sample.
    public enum BitDepth: Int, Sendable, CaseIterable {
        /// 0...255 per sample.
        case eight = 8
        /// 0...65535 per sample.
        case sixteen = 16

        /// The largest sample value at this depth (255 or 65535).
        public var maxValue: Int { self == .eight ? 255 : 65535 }
    }

    /// The interleaved samples, `width * height * channels` of them.
    public enum Samples: Sendable, Equatable {
        /// 8-bit samples.
        case uint8([UInt8])
        /// 16-bit samples in native byte order.
        case uint16([UInt16])

        /// The number of samples.
        public var count: Int {
            switch self {
            case .uint8(let values): values.count
            case .uint16(let values): values.count
            }
        }
    }

    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Samples per pixel: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    /// The samples, interleaved, row-major.
    public private(set) var samples: Samples

    /// Creates an image from interleaved samples.
    /// - Parameters:
    ///   - width: columns, at least 1.
    ///   - height: rows, at least 1.
    ///   - channels: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    ///   - samples: exactly `width * height * channels` samples.
    /// - Throws: `MediaError` with code `invalidArgument` when the sizes do not agree.
    public init(width: Int, height: Int, channels: Int, samples: Samples) throws {
        try Image.validate(width: width, height: height, channels: channels)
        guard samples.count == width * height * channels else {
            throw MediaError(
                .invalidArgument,
                "image: \(width)x\(height)x\(channels) needs \(width * height * channels) samples, got \(samples.count)")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.samples = samples
    }

    /// Creates an image with every sample zero (black, fully transparent where there is alpha).
    /// - Throws: `MediaError` with code `invalidArgument` for bad dimensions or channels.
    public init(width: Int, height: Int, channels: Int, bitDepth: BitDepth) throws {
        try Image.validate(width: width, height: height, channels: channels)
        let count = width * height * channels
        let samples: Samples =
            bitDepth == .eight ? .uint8([UInt8](repeating: 0, count: count)) : .uint16([UInt16](repeating: 0, count: count))
        try self.init(width: width, height: height, channels: channels, samples: samples)
    }

    /// Trusted initializer for code in this module that already produced consistent samples.
    init(uncheckedWidth width: Int, height: Int, channels: Int, samples: Samples) {
        assert(samples.count == width * height * channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.samples = samples
    }

    static func validate(width: Int, height: Int, channels: Int) throws {
        guard width > 0, height > 0 else {
            throw MediaError(.invalidArgument, "image: dimensions must be positive, got \(width)x\(height)")
        }
        guard (1...4).contains(channels) else {
            throw MediaError(.invalidArgument, "image: channels must be 1...4, got \(channels)")
        }
        guard width.multipliedReportingOverflow(by: height).overflow == false,
              (width * height).multipliedReportingOverflow(by: channels).overflow == false
        else {
            throw MediaError(.invalidArgument, "image: \(width)x\(height) is too large to address")
        }
    }

    /// 8 or 16 bits per sample.
    public var bitDepth: BitDepth {
        if case .uint8 = samples { return .eight }
        return .sixteen
    }

    /// Whether the last channel is alpha (2 or 4 channels).
    public var hasAlpha: Bool { channels == 2 || channels == 4 }

    /// Channels that carry colour: 1 for gray layouts, 3 for RGB ones.
    public var colorChannels: Int { channels >= 3 ? 3 : 1 }

    /// Pixels in the image.
    public var pixelCount: Int { width * height }

    /// The sample at column `x`, row `y`, channel `channel`, widened to `Int`.
    public func sample(x: Int, y: Int, channel: Int) -> Int {
        precondition(x >= 0 && x < width && y >= 0 && y < height && channel >= 0 && channel < channels)
        let index = (y * width + x) * channels + channel
        switch samples {
        case .uint8(let values): return Int(values[index])
        case .uint16(let values): return Int(values[index])
        }
    }

    /// Sets the sample at column `x`, row `y`, channel `channel`; the value is clamped to the
    /// bit depth's range.
    public mutating func setSample(x: Int, y: Int, channel: Int, to value: Int) {
        precondition(x >= 0 && x < width && y >= 0 && y < height && channel >= 0 && channel < channels)
        let index = (y * width + x) * channels + channel
        switch samples {
        case .uint8(var values):
            samples = .uint8([])  // release the enum's reference so the write does not copy.
            values[index] = UInt8(clamping: value)
            samples = .uint8(values)
        case .uint16(var values):
            samples = .uint16([])
            values[index] = UInt16(clamping: value)
            samples = .uint16(values)
        }
    }
}
