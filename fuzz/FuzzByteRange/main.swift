// libFuzzer harness: the `Range: bytes=...` header parser. The first 8 bytes are the file
// size, the rest the header; a parsed range must lie inside the file.
import Foundation
@testable import Server
import FuzzSupport

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzByteRange(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard bytes.count >= 8 else { return 0 }
    // File sizes are never negative: the top bit is dropped.
    let fileSize = bytes[..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } & Int.max
    let header = String(decoding: bytes[8...], as: UTF8.self)
    if case .part(let range) = ByteRange.parse(header, size: fileSize) {
        precondition(range.lowerBound >= 0 && range.upperBound <= fileSize && !range.isEmpty, "range \(range) outside a \(fileSize)-byte file")
    }
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzByteRange($0, $1) })
