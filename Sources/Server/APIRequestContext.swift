import Hummingbird

/// The request context of the API: Hummingbird's core context plus the caller that
/// `AuthMiddleware` authenticated before the request was dispatched.
public struct APIRequestContext: RequestContext {
    /// Hummingbird's per-request state.
    public var coreContext: CoreRequestContextStorage
    /// Who is calling; `nil` on routes that take no credentials.
    var caller: Caller?

    /// - Parameter source: the connection the request came in on.
    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
