/// Whether a model's output is a function of its input, which is what lets the result cache
/// answer a repeated request with a stored output instead of running the model again.
public enum Determinism: String, Sendable, Equatable, CaseIterable {
    /// The output may differ between runs of the same input (an unseeded sampler, a model that
    /// reads the clock): never cached.
    case none
    /// The same input (with the same weights, engine and compute path) gives the same output
    /// bits: upscalers, restorers, interpolators.
    case deterministic
    /// Deterministic once the random seed is fixed: cached only when the input names its `seed`
    /// explicitly (a request without one asks for a fresh random result).
    case seeded

    /// The input member that fixes a `.seeded` model's randomness.
    public static let seedField = "seed"

    /// Whether a request with this (validated) input may be answered from the cache.
    /// - Parameter input: the request body as submitted (before defaults are filled in, so that
    ///   a seed the schema would invent does not count as an explicit one).
    public func allowsCaching(of input: JSONValue) -> Bool {
        switch self {
        case .none: false
        case .deterministic: true
        case .seeded: input[Self.seedField].map { if case .null = $0 { false } else { true } } ?? false
        }
    }
}
