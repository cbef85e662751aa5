import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates a secret file that is never readable by others, not even for an instant: it is
/// created with mode 0600 under a temporary name, fsynced, then linked to its final name
/// (`link` fails if the name exists, so two processes starting at once agree on one key).
enum KeyFile {
    enum Outcome {
        case created
        case exists
        case failed(String)
    }

    static func createExclusively(path: String, contents: Data) -> Outcome {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failed("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        let written = contents.withUnsafeBytes { raw in write(fd, raw.baseAddress, raw.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == contents.count, synced else { return .failed("cannot write \(temporary)") }
        if link(temporary, path) != 0 {
            return errno == EEXIST ? .exists : .failed("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let directoryFD = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
        return .created
    }
}
