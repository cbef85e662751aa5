import CZlib
import Foundation
import ModelKit

/// Decompresses gzip data (RFC 1952) with zlib, refusing output past a limit so that a hostile
/// file cannot exhaust memory.
enum Gunzip {
    /// The decompressed bytes of `data`, all members concatenated.
    /// - Throws: `ModelError(.weightsInvalid)` when the data is not valid gzip or inflates past `limit` bytes.
    static func decompress(_ data: Data, limit: Int = 64 << 20) throws -> Data {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and trailer.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ModelError(.weightsInvalid, "gzip: zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = [UInt8](data)
        let inputCount = input.count
        return try input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(inputCount)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard output.count + produced <= limit else {
                    throw ModelError(.weightsInvalid, "gzip: data inflates past \(limit) bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    // Another member may follow (gzip allows concatenation).
                    if stream.avail_in == 0 { return output }
                    guard inflateReset(&stream) == Z_OK else { throw ModelError(.weightsInvalid, "gzip: bad member") }
                case Z_OK:
                    if produced == 0 && stream.avail_in == 0 {
                        throw ModelError(.weightsInvalid, "gzip: data ends inside a member")
                    }
                case Z_BUF_ERROR where produced > 0:
                    continue
                default:
                    throw ModelError(.weightsInvalid, "gzip: corrupt data (zlib status \(status))")
                }
            }
        }
    }
}
