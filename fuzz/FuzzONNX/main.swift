// libFuzzer harness: the protobuf reader through ONNX's ModelProto and TensorProto decoders,
// and a decoded model through the importer into the engine graph (shapes from the declared
// inputs, so that translation, folding and shape checks see untrusted extents).
import Foundation
import ModelFormats
import FuzzSupport

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let proto = try? ONNX.ModelProto(serialized: bytes), let model = try? ONNXModel(model: proto) {
        var shapes: [String: [Int]] = [:]
        for input in model.inputs {
            shapes[input.name] = (input.shape ?? []).map { d in
                if case .value(let v) = d { return Int(clamping: v) }
                return 1
            }
        }
        _ = try? model.engineGraph(inputShapes: shapes)
    }
    _ = try? ONNX.TensorProto(serialized: bytes)
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzONNX($0, $1) })
