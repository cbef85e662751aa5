import ModelKit

/// The models a process serves, by endpoint id, with their input validators.
public struct ModelRegistry: Sendable {
    /// One registered model.
    public struct Entry: Sendable {
        /// The model.
        public let model: any Model
        /// Validates request bodies against `model.manifest.inputSchema`.
        public let validator: SchemaValidator
    }

    /// Registered models in registration order.
    public let entries: [Entry]
    private let byID: [String: Int]

    /// - Parameter models: the models to serve.
    /// - Throws: `ModelRegistryError` when two models claim the same endpoint id or an id is not
    ///   of the form `owner/alias[/path]`.
    public init(_ models: [any Model]) throws {
        var entries: [Entry] = []
        var byID: [String: Int] = [:]
        for model in models {
            let id = model.manifest.endpointID
            let parts = id.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 2, !parts.contains(where: \.isEmpty) else {
                throw ModelRegistryError(message: "endpoint id '\(id)' is not of the form owner/alias[/path]")
            }
            guard byID[id] == nil else { throw ModelRegistryError(message: "endpoint id '\(id)' registered twice") }
            byID[id] = entries.count
            entries.append(Entry(model: model, validator: SchemaValidator(schema: model.manifest.inputSchema)))
        }
        self.entries = entries
        self.byID = byID
    }

    /// The entry serving `endpointID`, or `nil`.
    public func entry(for endpointID: String) -> Entry? {
        byID[endpointID].map { entries[$0] }
    }

    /// Every served endpoint id.
    public var endpointIDs: [String] { entries.map(\.model.manifest.endpointID) }
}

/// A model list that cannot be served.
public struct ModelRegistryError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the setting or value.
    public var message: String
    public var description: String { message }
}
