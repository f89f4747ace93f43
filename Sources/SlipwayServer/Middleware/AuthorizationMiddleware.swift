import Foundation
import Hummingbird
import Logging
import SlipwayCore
import SlipwayStore

/// Authenticates the bearer key and applies the route's ``AccessPolicy`` from ``APIRoutes``.
///
/// Fails closed: a route missing from the policy table answers 500 (and a test keeps that from
/// shipping). For team routes, a caller who is not a member gets 404, as if the team did not exist.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let policies: [APIRoutes.Key: AccessPolicy]
    let identity: any IdentityStore
    let now: @Sendable () -> Date

    init(identity: any IdentityStore, now: @escaping @Sendable () -> Date) {
        self.policies = APIRoutes.policyTable
        self.identity = identity
        self.now = now
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let path = context.endpointPath, path != "NotFound" else {
            return try await next(request, context)
        }
        guard let policy = policies[APIRoutes.key(request.method, path)] else {
            throw SlipwayError.internal("route \(request.method) \(path) has no authorisation policy")
        }
        if policy == .anonymous { return try await next(request, context) }

        var context = context
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            let token = APIKeyToken(parsing: Self.trimmed(header.dropFirst("Bearer ".count))),
            let caller = try await identity.authenticate(token, at: now())
        else { throw SlipwayError.unauthenticated }
        context.caller = caller
        context.shared.principal = caller.principal.name
        context.logger[metadataKey: "principal"] = .string(caller.principal.name)

        switch policy {
        case .anonymous, .authenticated:
            break
        case .platformAdmin:
            guard caller.isPlatformAdmin else {
                throw SlipwayError.forbidden("this action needs a platform admin key", code: "platform_admin_required")
            }
        case .team(let permission):
            let name = context.parameters.get("team") ?? request.uri.queryParameters.get("team").map { String($0) }
            if let name {
                guard ResourceName.isValid(name), let team = try await identity.team(named: name),
                    caller.isMember(of: team.id)
                else {
                    throw SlipwayError.notFound("team '\(name)' not found", code: "team_not_found")
                }
                guard caller.can(permission, in: team.id) else {
                    let role = caller.roles[team.id]?.rawValue ?? "none"
                    throw SlipwayError.forbidden(
                        "your role '\(role)' in team '\(name)' does not grant '\(permission.rawValue)'",
                        code: "insufficient_role")
                }
                context.team = team
            } else if !caller.isPlatformAdmin {
                throw SlipwayError.badRequest("name the team with ?team=NAME", code: "team_required")
            }
        }
        return try await next(request, context)
    }

    /// The key without surrounding spaces and tabs, found on the UTF-8 bytes. (Foundation's
    /// `trimmingCharacters` bridges through `NSString`: ~5% of a prediction's CPU.)
    static func trimmed(_ text: Substring) -> String {
        let bytes = text.utf8
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) })
        else { return "" }
        return String(Substring(bytes[first...last]))
    }
}
