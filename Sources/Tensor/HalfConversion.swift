/// Conversions between `Float` and the 16-bit formats, elementwise and in bulk.
///
/// All rounding is to nearest, ties to even; NaN stays NaN. These are portable scalar loops
/// for loading weights and for tests; hot paths convert inside the C kernels.
public enum HalfConversion {
    /// The `Float` value of an IEEE binary16 bit pattern.
    @inlinable
    public static func float(fromF16 bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// The IEEE binary16 bit pattern nearest to `value`.
    @inlinable
    public static func f16(from value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// The `Float` value of a bfloat16 bit pattern (exact: bf16 is a truncated binary32).
    @inlinable
    public static func float(fromBF16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bfloat16 bit pattern nearest to `value`.
    @inlinable
    public static func bf16(from value: Float) -> UInt16 {
        let u = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: u >> 16) | 0x0040 }
        let rounded = u &+ 0x7FFF &+ ((u >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// Converts `count` floats to binary16.
    public static func convert(_ src: UnsafePointer<Float>, toF16 dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = f16(from: src[i]) }
    }

    /// Converts `count` floats to bfloat16.
    public static func convert(_ src: UnsafePointer<Float>, toBF16 dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = bf16(from: src[i]) }
    }

    /// Converts `count` binary16 values to floats.
    public static func convert(f16 src: UnsafePointer<UInt16>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = float(fromF16: src[i]) }
    }

    /// Converts `count` bfloat16 values to floats.
    public static func convert(bf16 src: UnsafePointer<UInt16>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = float(fromBF16: src[i]) }
    }
}
