import Hummingbird
import Logging
import SlipwayCore
import Synchronization

/// Per-request state: the request ID, and once authorised, the caller and the team in the path.
public struct SlipwayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Echoed in `X-Request-Id`, logged with every line, recorded in audit entries.
    public var requestID: String = ""
    /// Set by ``AuthorizationMiddleware`` for every route that is not anonymous.
    public var caller: Caller?
    /// Set by ``AuthorizationMiddleware`` for team-scoped routes.
    public var team: Team?

    /// State shared by every copy of this context, so outer middleware sees what inner middleware
    /// learned (the logging middleware logs the principal the authorisation middleware found).
    let shared = SharedRequestState()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// The authenticated caller; routes that reach a handler without one are a wiring bug.
    func requireCaller() throws -> Caller {
        guard let caller else { throw SlipwayError.unauthenticated }
        return caller
    }

    /// The team resolved from the path (or `?team=`) by the authorisation middleware.
    func requireTeam() throws -> Team {
        guard let team else {
            throw SlipwayError.badRequest("name the team in the path or as ?team=NAME", code: "team_required")
        }
        return team
    }

    /// Who to record in the audit log for this request.
    func audit() throws -> AuditContext {
        AuditContext(actor: try requireCaller().principal.name, requestID: requestID)
    }

    /// A path parameter, or a 400 naming it. Every parameter of this API is a name or an ID, so
    /// anything outside ``ResourceName``'s alphabet is refused before it reaches a store.
    func parameter(_ name: String) throws -> String {
        guard let value = parameters.get(name) else {
            throw SlipwayError.badRequest("missing path parameter '\(name)'")
        }
        try ResourceName.validate(value, as: name)
        return value
    }
}

/// Mutable per-request facts shared across context copies.
final class SharedRequestState: Sendable {
    private let principalName = Mutex<String?>(nil)

    var principal: String? {
        get { principalName.withLock { $0 } }
        set { principalName.withLock { $0 = newValue } }
    }
}
