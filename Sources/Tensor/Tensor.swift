/// A dense, row-major tensor: a shape, an element type and a view into shared storage.
///
/// `Tensor` is a small value (shape, dtype, storage reference, byte offset) with **reference
/// semantics for its elements**: copies of a `Tensor` share bytes, and writing through one is
/// visible through the others. That is what lets views (``reshaped(_:)``, ``batch(_:)``) and
/// mmap-backed weights cost nothing, and lets a graph executor hand preallocated output buffers
/// to kernels. Use ``copy()`` for an independent tensor.
///
/// Images are NCHW float32. `Sendable` follows from ``TensorStorage`` (see its note on
/// concurrent writes).
public struct Tensor: Sendable, CustomStringConvertible {
    /// Extents, outermost first.
    public let shape: Shape
    /// Element type of the bytes.
    public let dtype: DType
    /// The bytes this tensor views.
    public let storage: TensorStorage
    /// Where this tensor's first element lies in `storage`.
    public let byteOffset: Int

    /// Allocates a zero-filled tensor with 64-byte aligned storage.
    /// - Parameters:
    ///   - shape: extents.
    ///   - dtype: element type (default `f32`).
    public init(zeros shape: Shape, dtype: DType = .f32) {
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.count * dtype.byteSize)
        byteOffset = 0
    }

    /// Allocates a tensor whose elements are not initialized, for outputs that a kernel writes
    /// completely (saves the memset of ``init(zeros:dtype:)``). Reading before writing gives
    /// arbitrary values.
    public init(uninitialized shape: Shape, dtype: DType = .f32) {
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.count * dtype.byteSize, zeroed: false)
        byteOffset = 0
    }

    /// Allocates an `f32` tensor with every element set to `value`.
    public init(shape: Shape, repeating value: Float) {
        self.init(zeros: shape)
        if value != 0 {
            let p = floatPointer
            for i in 0..<shape.count { p[i] = value }
        }
    }

    /// Allocates an `f32` tensor holding `values` in row-major order.
    /// - Precondition: `values.count == shape.count`.
    public init(shape: Shape, values: [Float]) {
        precondition(values.count == shape.count, "Tensor: \(values.count) values for shape \(shape)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { src in
            // An empty shape (a zero extent) has no elements and no base address.
            if let base = src.baseAddress { floatPointer.update(from: base, count: values.count) }
        }
    }

    /// Views existing storage (an mmap-ed weight file, a pool buffer, borrowed memory).
    /// - Parameters:
    ///   - shape: extents of the view.
    ///   - dtype: element type of the bytes.
    ///   - storage: the bytes.
    ///   - byteOffset: where the first element lies; kernels run fastest when it is a multiple of 64.
    /// - Throws: ``TensorError`` `.outOfBounds` when the view does not fit in the storage.
    public init(shape: Shape, dtype: DType = .f32, storage: TensorStorage, byteOffset: Int = 0) throws {
        let bytes = shape.count * dtype.byteSize
        guard byteOffset >= 0, byteOffset + bytes <= storage.byteCount else {
            throw TensorError(.outOfBounds,
                "view \(shape) \(dtype) at byte \(byteOffset) exceeds storage of \(storage.byteCount) bytes")
        }
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// Number of elements.
    public var count: Int { shape.count }
    /// Bytes the elements take.
    public var byteCount: Int { count * dtype.byteSize }

    /// The first element's address, for kernels. Writing is allowed when `storage.isWritable`.
    public var rawPointer: UnsafeMutableRawPointer { storage.pointer + byteOffset }

    /// The elements as `Float`s, for kernels.
    /// - Precondition: `dtype == .f32`.
    public var floatPointer: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32, "Tensor.floatPointer on a \(dtype) tensor \(shape)")
        return rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// The elements as 16-bit patterns (f16 or bf16), for kernels.
    /// - Precondition: `dtype` is `.f16` or `.bf16`.
    public var halfPointer: UnsafeMutablePointer<UInt16> {
        precondition(dtype.isHalf, "Tensor.halfPointer on a \(dtype) tensor \(shape)")
        return rawPointer.assumingMemoryBound(to: UInt16.self)
    }

    /// The elements as 64-bit integers.
    /// - Precondition: `dtype == .i64`.
    public var int64Pointer: UnsafeMutablePointer<Int64> {
        precondition(dtype == .i64, "Tensor.int64Pointer on a \(dtype) tensor \(shape)")
        return rawPointer.assumingMemoryBound(to: Int64.self)
    }

    /// Allocates an `i64` tensor holding `values` in row-major order.
    /// - Precondition: `values.count == shape.count`.
    public init(shape: Shape, int64s values: [Int64]) {
        precondition(values.count == shape.count, "Tensor: \(values.count) values for shape \(shape)")
        self.init(uninitialized: shape, dtype: .i64)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { int64Pointer.update(from: base, count: values.count) }
        }
    }

    /// The elements as 64-bit integers: `i64` as stored, floats truncated toward zero (as a
    /// cast does; non-finite values and values beyond the range clamp).
    public func toInt64Array() -> [Int64] {
        if dtype == .i64 {
            let p = int64Pointer
            return (0..<count).map { p[$0] }
        }
        return toArray().map { v in
            guard v.isFinite else { return v.isNaN ? 0 : (v > 0 ? Int64.max : Int64.min) }
            return Int64(max(min(Double(v), 9.2e18), -9.2e18))
        }
    }

    /// Whether the first element lies on a 64-byte boundary.
    public var isAligned: Bool { Int(bitPattern: rawPointer) % TensorStorage.alignment == 0 }

    /// Reads the `f32` elements.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: floatPointer, count: count))
    }

    /// Writes the `f32` elements in place (visible through every view of the same storage).
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: floatPointer, count: count))
    }

    /// The element at a flat row-major index of an `f32` tensor (nonmutating: storage is shared).
    public subscript(flat index: Int) -> Float {
        get { floatPointer[index] }
        nonmutating set { floatPointer[index] = newValue }
    }

    /// The element at `(n, c, y, x)` of an NCHW `f32` tensor.
    public subscript(n: Int, c: Int, y: Int, x: Int) -> Float {
        get { floatPointer[((n * shape.c + c) * shape.h + y) * shape.w + x] }
        nonmutating set { floatPointer[((n * shape.c + c) * shape.h + y) * shape.w + x] = newValue }
    }

    /// A view with another shape of the same element count (no copy).
    /// - Throws: ``TensorError`` `.shapeMismatch` when the counts differ.
    public func reshaped(_ newShape: Shape) throws -> Tensor {
        guard newShape.count == count else {
            throw TensorError(.shapeMismatch, "reshape \(shape) (\(count) elements) to \(newShape)")
        }
        return try Tensor(shape: newShape, dtype: dtype, storage: storage, byteOffset: byteOffset)
    }

    /// A view of elements `[elementOffset, elementOffset + shape.count)` with the given shape.
    /// - Throws: ``TensorError`` `.outOfBounds` when the range leaves this tensor.
    public func view(elementOffset: Int, shape newShape: Shape) throws -> Tensor {
        guard elementOffset >= 0, elementOffset + newShape.count <= count else {
            throw TensorError(.outOfBounds, "view \(newShape) at element \(elementOffset) of \(shape)")
        }
        return try Tensor(shape: newShape, dtype: dtype, storage: storage,
                          byteOffset: byteOffset + elementOffset * dtype.byteSize)
    }

    /// A view of batch item `i` of an NCHW tensor, shaped `[1, C, H, W]`.
    /// - Precondition: `0 <= i < shape.n`.
    public func batch(_ i: Int) -> Tensor {
        precondition(i >= 0 && i < shape.n, "Tensor.batch(\(i)) of \(shape)")
        let per = shape.c * shape.h * shape.w
        return try! view(elementOffset: i * per, shape: Shape(n: 1, c: shape.c, h: shape.h, w: shape.w))
    }

    /// An independent copy with its own aligned storage.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape, dtype: dtype)
        t.rawPointer.copyMemory(from: rawPointer, byteCount: byteCount)
        return t
    }

    /// The elements as `Float`s, converting from `f16`/`bf16` if needed.
    public func toArray() -> [Float] {
        switch dtype {
        case .f32:
            return withUnsafeBufferPointer { Array($0) }
        case .f16:
            let p = halfPointer
            return (0..<count).map { HalfConversion.float(fromF16: p[$0]) }
        case .bf16:
            let p = halfPointer
            return (0..<count).map { HalfConversion.float(fromBF16: p[$0]) }
        case .i64:
            let p = int64Pointer
            return (0..<count).map { Float(p[$0]) }
        }
    }

    /// A new tensor with the same shape in another element type (round to nearest even).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return copy() }
        if target == .i64 { return Tensor(shape: shape, int64s: toInt64Array()) }
        if dtype == .i64 {
            let floats = Tensor(shape: shape, values: toArray())
            return target == .f32 ? floats : floats.converted(to: target)
        }
        let out = Tensor(uninitialized: shape, dtype: target)
        switch (dtype, target) {
        case (.f32, .f16):
            HalfConversion.convert(floatPointer, toF16: out.halfPointer, count: count)
        case (.f32, .bf16):
            HalfConversion.convert(floatPointer, toBF16: out.halfPointer, count: count)
        case (.f16, .f32):
            HalfConversion.convert(f16: halfPointer, to: out.floatPointer, count: count)
        case (.bf16, .f32):
            HalfConversion.convert(bf16: halfPointer, to: out.floatPointer, count: count)
        default:
            // f16 <-> bf16 goes through f32 exactly.
            return converted(to: .f32).converted(to: target)
        }
        return out
    }

    /// `Tensor([1, 64, 256, 256] f32)`.
    public var description: String { "Tensor(\(shape) \(dtype))" }
}
