/// The dimensions of a dense, row-major (C-contiguous) tensor.
///
/// Image tensors are NCHW: `[batch, channels, height, width]`. Shapes of lower rank are allowed
/// (a vector, a matrix); the `n`/`c`/`h`/`w` accessors read a rank-4 shape and treat missing
/// leading dimensions as 1, so a `[C, H, W]` shape reads as batch 1.
public struct Shape: Sendable, Hashable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The extents, outermost first.
    public var dims: [Int]

    /// Creates a shape from its extents, outermost first.
    /// - Parameter dims: non-negative extents.
    public init(_ dims: [Int]) {
        precondition(dims.allSatisfy { $0 >= 0 }, "Shape: negative extent in \(dims)")
        self.dims = dims
    }

    /// Creates a shape from an array literal, e.g. `[1, 64, 256, 256]`.
    public init(arrayLiteral elements: Int...) {
        self.init(elements)
    }

    /// Creates an NCHW shape.
    public init(n: Int, c: Int, h: Int, w: Int) {
        self.init([n, c, h, w])
    }

    /// Number of dimensions.
    public var rank: Int { dims.count }

    /// Number of elements (1 for a rank-0 shape).
    public var count: Int { dims.reduce(1, *) }

    /// The extent of dimension `i`; negative indices count from the end.
    public subscript(_ i: Int) -> Int {
        get { dims[i < 0 ? dims.count + i : i] }
        set { dims[i < 0 ? dims.count + i : i] = newValue }
    }

    /// Extent `i` positions from the end, or 1 when the shape has fewer dimensions.
    @inlinable
    func trailing(_ i: Int) -> Int {
        dims.count >= i ? dims[dims.count - i] : 1
    }

    /// Batch size of an NCHW shape (product of all dimensions before the last three).
    public var n: Int { dims.count > 3 ? dims[0..<(dims.count - 3)].reduce(1, *) : 1 }
    /// Channels of an NCHW shape (third from the end).
    public var c: Int { trailing(3) }
    /// Height of an NCHW shape (second from the end).
    public var h: Int { trailing(2) }
    /// Width of an NCHW shape (last).
    public var w: Int { trailing(1) }

    /// Row-major element strides, outermost first.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: dims.count)
        var acc = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= dims[i]
        }
        return s
    }

    /// Written like `[1, 64, 256, 256]`.
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
