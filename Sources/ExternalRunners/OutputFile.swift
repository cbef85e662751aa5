import Foundation
import ModelKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file a runner names as an output (`$file`), refusing anything that is not a regular
/// file inside the request's output directory: a symlink (to `/etc/passwd`, to another
/// request's input, to a key file) would otherwise publish whatever it points at.
enum OutputFile {
    /// The bytes of `name` in `directory`.
    /// - Throws: `ModelError` `.internalError` when the file is missing, is a symlink or not a
    ///   regular file, or resolves outside `directory`.
    static func read(_ name: String, in directory: URL) throws -> Data {
        func refuse(_ why: String) -> ModelError {
            ModelError(.internalError, "runner's output file \(name) \(why)")
        }
        // The directory itself must still be the one Peregrine made, not a link elsewhere.
        var info = stat()
        guard lstat(directory.path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw refuse("is not in a real output directory")
        }
        let path = directory.appendingPathComponent(name).path
        guard lstat(path, &info) == 0 else { throw refuse("is missing") }
        guard info.st_mode & S_IFMT != S_IFLNK else { throw refuse("is a symbolic link") }
        guard let root = realpath(directory.path, nil) else { throw refuse("is not in a real output directory") }
        defer { free(root) }
        guard let resolved = realpath(path, nil) else { throw refuse("is missing") }
        defer { free(resolved) }
        guard String(cString: resolved).hasPrefix(String(cString: root) + "/") else {
            throw refuse("resolves outside the output directory")
        }
        // O_NOFOLLOW closes the gap between the checks and the open: a file swapped for a link
        // meanwhile fails to open.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw refuse(errno == ELOOP ? "is a symbolic link" : "cannot be opened") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw refuse("is not a regular file") }
        do { return try handle.readToEnd() ?? Data() } catch { throw refuse("cannot be read") }
    }
}
