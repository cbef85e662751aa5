/// A kernel's complaint about its inputs; the executor wraps it in a ``ModelFormatError`` that
/// names the node and op.
struct ONNXRuntimeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
