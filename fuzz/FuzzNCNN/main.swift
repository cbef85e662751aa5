// libFuzzer harness: the ncnn `.param` parser and importer. The input is the `.param` text,
// optionally followed by a NUL byte and the `.bin` weights.
import Foundation
import ModelFormats
import FuzzSupport

/// The input function; libFuzzer\'s library also looks it up by this name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNCNN(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let split = bytes.firstIndex(of: 0) ?? bytes.count
    let text = String(decoding: bytes[..<split], as: UTF8.self)
    let weights = split < bytes.count ? Data(bytes[(split + 1)...]) : Data()
    guard let param = try? NCNNParamFile(text: text, fileName: "fuzz.param") else { return 0 }
    var reader = NCNNWeightReader(data: weights, fileName: "fuzz.bin")
    _ = try? NCNNImporter.importGraph(param: param, weights: &reader)
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { fuzzNCNN($0, $1) })
