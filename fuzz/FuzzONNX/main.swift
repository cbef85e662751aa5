// libFuzzer harness: the protobuf reader through ONNX's ModelProto and TensorProto decoders.
import Foundation
import ModelFormats
import FuzzSupport

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = try? ONNX.ModelProto(serialized: bytes)
    _ = try? ONNX.TensorProto(serialized: bytes)
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzONNX($0, $1) })
