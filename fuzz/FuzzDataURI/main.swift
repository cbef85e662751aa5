// libFuzzer harness: the `data:` URI parser and its base64 decoder.
import Foundation
import Media
import FuzzSupport

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataURI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = try? DataURI(parsing: String(decoding: bytes, as: UTF8.self), maxBytes: 1 << 16)
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzDataURI($0, $1) })
