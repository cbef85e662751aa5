#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of bytes that tensors view: owned and 64-byte aligned, a read-only file mapping, or
/// memory borrowed from someone else.
///
/// `@unchecked Sendable` because the class itself holds only immutable fields (the pointer,
/// the size and how to release it); the bytes behind the pointer are not synchronized. Sharing a
/// storage between threads is safe for reading; writers must own disjoint ranges or be ordered
/// by the caller (the compute pool's `parallelFor` returns only after every worker finished, which
/// orders its writes before the caller's next read).
public final class TensorStorage: @unchecked Sendable {
    /// How the bytes are released when the last view goes away.
    enum Ownership {
        case owned
        case mapped(length: Int)
        case borrowed(release: (@Sendable () -> Void)?, owner: AnyObject?)
    }

    /// Alignment of owned storage: one cache line, one zmm register.
    public static let alignment = 64
    /// Owned blocks at least this large are aligned to ``hugePageSize`` and advised to use
    /// transparent huge pages.
    static let hugePageThreshold = 4 << 20
    /// x86-64 huge page size.
    static let hugePageSize = 2 << 20

    /// First byte.
    public let pointer: UnsafeMutableRawPointer
    /// Usable bytes from `pointer`.
    public let byteCount: Int
    /// Whether the bytes may be written (false for file mappings, which are mapped read-only).
    public let isWritable: Bool
    let ownership: Ownership

    /// Allocates `byteCount` bytes aligned to ``alignment``, zeroed unless `zeroed` is false
    /// (for buffers a kernel overwrites completely: skipping the memset saves a pass over memory).
    /// - Parameters:
    ///   - byteCount: size in bytes (0 allowed).
    ///   - zeroed: whether to clear the bytes.
    public init(byteCount: Int, zeroed: Bool = true) {
        precondition(byteCount >= 0, "TensorStorage: negative size \(byteCount)")
        // Round up so that vector kernels may read a whole trailing cache line. Large blocks
        // (activation maps, weights) go on 2 MiB boundaries and ask for transparent huge pages:
        // kernels sweep them plane by plane, and 4 KiB pages cost a TLB miss every few rows
        // (measured: 3x3 64-channel convolutions 10-15% faster with huge pages).
        let huge = byteCount >= Self.hugePageThreshold
        let align = huge ? Self.hugePageSize : Self.alignment
        let rounded = max(align, (byteCount + align - 1) / align * align)
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, align, rounded)
        guard rc == 0, let raw else { fatalError("TensorStorage: cannot allocate \(rounded) bytes") }
        #if os(Linux)
        if huge { _ = madvise(raw, rounded, MADV_HUGEPAGE) }
        #endif
        if zeroed { memset(raw, 0, rounded) }
        pointer = raw
        self.byteCount = byteCount
        isWritable = true
        ownership = .owned
    }

    /// Maps a file read-only; pages load on first touch, so opening a large weight file is cheap.
    /// - Parameter path: the file to map.
    /// - Throws: ``TensorError`` with code `.io` when the file cannot be opened or mapped.
    public init(mappingFile path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorError(.io, "mmap: cannot open \(path) (errno \(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TensorError(.io, "mmap: cannot stat \(path)") }
        let length = Int(st.st_size)
        if length == 0 {
            // mmap rejects empty ranges; an empty file is an empty owned block.
            var raw: UnsafeMutableRawPointer?
            _ = posix_memalign(&raw, Self.alignment, Self.alignment)
            pointer = raw!
            byteCount = 0
            isWritable = false
            ownership = .owned
            return
        }
        guard let p = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TensorError(.io, "mmap: cannot map \(path) (\(length) bytes, errno \(errno))")
        }
        pointer = p
        byteCount = length
        isWritable = false
        ownership = .mapped(length: length)
    }

    /// Views memory that someone else owns, without copying.
    /// - Parameters:
    ///   - pointer: first byte; must stay valid until `release` runs (or while `owner` lives).
    ///   - byteCount: usable bytes.
    ///   - isWritable: whether kernels may write into it.
    ///   - owner: an object kept alive as long as this storage (e.g. the buffer's owner).
    ///   - release: called once when the storage is destroyed.
    public init(
        borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, isWritable: Bool = true,
        owner: AnyObject? = nil, release: (@Sendable () -> Void)? = nil
    ) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.isWritable = isWritable
        ownership = .borrowed(release: release, owner: owner)
    }

    deinit {
        switch ownership {
        case .owned: free(pointer)
        case .mapped(let length): munmap(pointer, length)
        case .borrowed(let release, _): release?()
        }
    }
}
