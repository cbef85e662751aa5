import Hummingbird

/// Authentication in front of the dispatch: decides from the path which credentials a route
/// takes, checks them, and hands the caller to the handlers in the context. No handler runs,
/// and so no request body is read, before the caller is authorized.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    /// What a route asks of its caller.
    enum Requirement: Sendable, Equatable {
        /// Nothing: health, the JWKS, upload URLs (unguessable ids), stored files, the
        /// playground's pages (their API calls carry the user's key), unknown paths.
        case none
        /// Credentials of `scope`.
        case credentials(CredentialScope)
        /// An admin API key.
        case admin
    }

    let auth: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.caller = try await caller(of: request)
        return try await next(request, context)
    }

    /// The authorized caller of `request`, `nil` on routes that take no credentials.
    /// - Throws: `APIError` 401 without valid credentials, 403 for a non-admin key on the admin API.
    func caller(of request: Request) async throws -> Caller? {
        switch Self.requirement(for: APICall.segments(of: request)) {
        case .none: return nil
        case .credentials(let scope): return try await auth.authenticate(request, scope: scope)
        case .admin: return try await auth.authenticateAdmin(request)
        }
    }

    /// The credentials the route at `segments` takes. Upload routes also accept storage tokens;
    /// everything that submits, reads jobs, lists models or mints tokens takes an API key.
    static func requirement(for segments: [String]) -> Requirement {
        let rest = Array(segments.dropFirst())
        switch segments.first {
        case "models"?, "openapi"?, "queue"?, "run"?, "v1"?:
            return .credentials(.api)
        case "metrics"? where rest.isEmpty:
            return .credentials(.api)
        case "admin"?:
            return .admin
        case "storage"?:
            switch rest {
            case ["upload", "initiate"], ["upload", "initiate-multipart"]: return .credentials(.upload)
            // An API key only: a storage token must not mint its own successors.
            case ["auth", "token"]: return .credentials(.api)
            default: return .none
            }
        case "files"?:
            return rest == ["upload"] || rest == ["upload", "multipart"] ? .credentials(.upload) : .none
        default:
            return .none
        }
    }
}
