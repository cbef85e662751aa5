import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// POSIX file operations with the fsyncs that make a write durable: data written to a temporary
/// file, fsynced, renamed over the final name, then the directory fsynced so the rename itself
/// survives a crash. A reader sees either no file or the whole file, never a partial one.
public enum DurableFile {
    /// Creates `path` exclusively (mode 0600), lets `body` write through the descriptor, then
    /// fsyncs and closes it. On failure the file is removed.
    static func create(_ path: String, _ body: (Int32) throws -> Void) throws {
        let fd = try openExclusive(path)
        do {
            try body(fd)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        try finish(fd, path: path)
    }

    /// Creates `path` exclusively (mode 0600) and answers its descriptor, open for writing.
    static func openExclusive(_ path: String) throws -> Int32 {
        let fd = posixOpen(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw error("create", path) }
        return fd
    }

    /// fsyncs and closes `fd`; on failure the file at `path` is removed.
    static func finish(_ fd: Int32, path: String) throws {
        guard fsync(fd) == 0 else {
            let failure = error("fsync", path)
            close(fd)
            unlink(path)
            throw failure
        }
        guard close(fd) == 0 else {
            unlink(path)
            throw error("close", path)
        }
    }

    /// Writes all of `data` to `fd`.
    static func write(_ data: Data, to fd: Int32, path: String) throws {
        try data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw error("write", path)
                }
                offset += n
            }
        }
    }

    /// Renames `temporary` over `destination` and fsyncs the destination's directory.
    static func commit(_ temporary: String, to destination: String) throws {
        guard rename(temporary, destination) == 0 else { throw error("rename", destination) }
        try syncDirectory((destination as NSString).deletingLastPathComponent)
    }

    /// fsyncs a directory so entries created, renamed or removed in it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = posixOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw error("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory", path) }
    }

    /// Writes `data` durably and atomically to `destination` via a temporary file in `temporaryDirectory`
    /// (same filesystem, so the rename is atomic).
    /// - Throws: `BlobStoreError.storage` when a step fails (nothing is left at `destination`
    ///   that was not there before).
    public static func write(_ data: Data, to destination: String, temporaryDirectory: String) throws {
        let temporary = temporaryDirectory + "/" + UUID().uuidString
        try create(temporary) { fd in try write(data, to: fd, path: temporary) }
        do {
            try commit(temporary, to: destination)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    static func error(_ operation: String, _ path: String) -> BlobStoreError {
        let code = errno
        return BlobStoreError(.storage, "\(operation) \(path) failed: \(String(cString: strerror(code)))")
    }
}

// The C functions under names that do not collide with the methods above.
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
