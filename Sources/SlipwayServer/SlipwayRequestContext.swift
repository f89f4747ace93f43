import Hummingbird
import Logging
import SlipwayCore

/// Per-request state: the request ID, and once authorised, the caller and the team in the path.
public struct SlipwayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Echoed in `X-Request-Id`, logged with every line, recorded in audit entries.
    public var requestID: String = ""
    /// Set by ``AuthorizationMiddleware`` for every route that is not anonymous.
    public var caller: Caller?
    /// Set by ``AuthorizationMiddleware`` for team-scoped routes.
    public var team: Team?

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
        guard let team else { throw SlipwayError.badRequest("name the team in the path or as ?team=NAME", code: "team_required") }
        return team
    }

    /// Who to record in the audit log for this request.
    func audit() throws -> AuditContext {
        AuditContext(actor: try requireCaller().principal.name, requestID: requestID)
    }

    /// A path parameter, or a 400 naming it.
    func parameter(_ name: String) throws -> String {
        guard let value = parameters.get(name) else {
            throw SlipwayError.badRequest("missing path parameter '\(name)'")
        }
        return value
    }
}
