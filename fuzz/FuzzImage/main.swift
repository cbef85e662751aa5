// libFuzzer harness: the PNG, JPEG and WebP decoders (header read, then full decode) with
// small limits, so that a header claiming a huge image is refused rather than allocated.
import Foundation
import Media
import FuzzSupport

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let options = ImageDecodingOptions(maxPixels: 1 << 20, maxDimension: 4096, maxJPEGScans: 100)
    _ = try? Image.info(bytes, options: options)
    _ = try? Image.decode(bytes, options: options)
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzImage($0, $1) })
