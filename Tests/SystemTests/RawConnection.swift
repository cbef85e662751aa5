import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to a loopback port, for requests no HTTP client will send
/// (malformed bytes, half-sent headers, lying lengths). Every read and write has a deadline,
/// so a server that never answers fails the test instead of hanging it.
final class RawConnection {
    private let fd: Int32
    /// Whether the last `receive` ended because the server closed the connection (not
    /// because the read deadline passed).
    private(set) var closedByPeer = false

    /// Connects to `127.0.0.1:port`; reads and writes give up after `timeout` seconds.
    init(port: Int, timeout: TimeInterval = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemTestError("socket() failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw SystemTestError("connect to 127.0.0.1:\(port) failed (errno \(errno))")
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes`; returns `false` when the server closed the connection first.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads until the server closes, `limit` bytes arrived, or the read deadline passes;
    /// returns what arrived.
    func receive(limit: Int = 1 << 20) -> [UInt8] {
        var out: [UInt8] = []
        closedByPeer = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { closedByPeer = true }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
            // One response is enough: stop once its headers and declared body are in.
            if let status = Self.completeResponse(out) { _ = status; break }
        }
        return out
    }

    /// The status code of the first response in `bytes`, or `nil` when none arrived.
    static func status(of bytes: [UInt8]) -> Int? {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), text.count >= 12 else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    /// The status when `bytes` holds one whole response with a `Content-Length` body.
    private static func completeResponse(_ bytes: [UInt8]) -> Int? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
              let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return nil }
        let bodyBytes = text[end.upperBound...].utf8.count
        return bodyBytes >= length ? status(of: bytes) : nil
    }
}

/// Resident memory of a process from `/proc/PID/status`, in bytes.
enum ProcessMemory {
    /// `VmHWM`: the most resident memory the process ever had.
    static func highWaterMark(pid: Int32) -> Int? { field("VmHWM", pid: pid) }
    /// `VmRSS`: resident memory now.
    static func resident(pid: Int32) -> Int? { field("VmRSS", pid: pid) }

    private static func field(_ name: String, pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
        let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        return kb.map { $0 * 1024 }
    }
}
