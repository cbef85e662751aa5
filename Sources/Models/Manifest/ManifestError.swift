/// Why a model manifest cannot be registered or loaded: the file, the field and what is wrong.
///
/// Fields are JSON paths into the manifest (`inputs[1].range`), so an author can find the line
/// to fix; graph problems name the tensor, node or op instead.
public struct ManifestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The manifest file (its name, or the path it was read from), when known.
    public var file: String?
    /// The manifest field the problem is in (`model.file`, `inputs[0].tensor`), when it is one.
    public var field: String?
    /// What is wrong, in words.
    public var message: String

    /// - Parameters:
    ///   - field: the manifest field, as a JSON path.
    ///   - message: what is wrong.
    ///   - file: the manifest file.
    public init(field: String?, _ message: String, file: String? = nil) {
        self.field = field
        self.message = message
        self.file = file
    }

    /// `file: field: message`, leaving out what is unknown.
    public var description: String {
        [file, field, message].compactMap { $0 }.joined(separator: ": ")
    }

    /// The same error attributed to `file`.
    func inFile(_ file: String) -> ManifestError {
        var copy = self
        copy.file = file
        return copy
    }
}
