import Foundation
import Hummingbird
import SlipwayCore
import SlipwayStore

/// Teams, members, users, service accounts and API keys.
struct IdentityController {
    let identity: any IdentityStore
    let now: @Sendable () -> Date
    let maxJSONBytes: Int

    struct TeamCreate: Decodable {
        let name: String
        var description: String?
    }

    struct MemberSet: Decodable {
        let role: String
    }

    struct ServiceAccountCreate: Decodable {
        let name: String
        let role: String
    }

    struct PrincipalCreate: Decodable {
        let name: String
        var platformAdmin: Bool?

        enum CodingKeys: String, CodingKey {
            case name
            case platformAdmin = "platform_admin"
        }
    }

    struct KeyCreate: Decodable {
        var principal: String?
        var name: String?
        var expiresInDays: Int?

        enum CodingKeys: String, CodingKey {
            case principal, name
            case expiresInDays = "expires_in_days"
        }
    }

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/api/v1/whoami") { _, context in try await whoami(context) }
        router.post("/api/v1/teams") { request, context in try await createTeam(request, context) }
        router.get("/api/v1/teams") { _, context in try await listTeams(context) }
        router.get("/api/v1/teams/{team}") { _, context in
            let team = try context.requireTeam()
            return try Response.json(DTO.TeamOut(team, role: try context.requireCaller().roles[team.id]))
        }
        router.get("/api/v1/teams/{team}/members") { _, context in
            let members = try await identity.members(of: try context.requireTeam().id)
            return try Response.json(ListResponse(items: members.map(DTO.MemberOut.init)))
        }
        router.put("/api/v1/teams/{team}/members/{principal}") { request, context in
            try await setMember(request, context)
        }
        router.delete("/api/v1/teams/{team}/members/{principal}") { _, context in
            let principal = try await requirePrincipal(try context.parameter("principal"))
            try await identity.removeMembership(
                team: try context.requireTeam(), principal: principal, audit: try context.audit(), at: now())
            return Response.noContent
        }
        router.post("/api/v1/teams/{team}/service-accounts") { request, context in
            try await createServiceAccount(request, context)
        }
        router.post("/api/v1/principals") { request, context in
            let body = try await JSONCoding.decode(PrincipalCreate.self, from: request, limit: maxJSONBytes)
            let principal = try await identity.createPrincipal(
                name: body.name, kind: .user, ownerTeam: nil, isPlatformAdmin: body.platformAdmin ?? false,
                audit: try context.audit(), at: now())
            return try Response.json(DTO.PrincipalOut(principal), status: .created)
        }
        router.get("/api/v1/principals") { _, _ in
            try Response.json(ListResponse(items: try await identity.principals().map { DTO.PrincipalOut($0) }))
        }
        router.post("/api/v1/keys") { request, context in try await createKey(request, context) }
        router.get("/api/v1/keys") { request, context in
            let caller = try context.requireCaller()
            let principal = try await keyOwner(
                named: request.uri.queryParameters.get("principal").map { String($0) }, caller)
            let keys = try await identity.keys(of: principal.id)
            return try Response.json(ListResponse(items: keys.map { DTO.KeyOut($0, principalName: principal.name) }))
        }
        router.delete("/api/v1/keys/{key}") { _, context in
            let caller = try context.requireCaller()
            let id = try APIKeyID(validating: try context.parameter("key"))
            guard let key = try await identity.key(id: id),
                let principal = try await identity.principal(id: key.principal),
                mayManageKeys(of: principal, caller)
            else { throw SlipwayError.notFound("key '\(id)' not found", code: "key_not_found") }
            let revoked = try await identity.revokeKey(key, audit: try context.audit(), at: now())
            return try Response.json(DTO.KeyOut(revoked, principalName: principal.name))
        }
    }

    func whoami(_ context: SlipwayRequestContext) async throws -> Response {
        struct WhoAmI: Encodable {
            let principal: DTO.PrincipalOut
            let teams: [DTO.TeamOut]
        }
        let caller = try context.requireCaller()
        let teams = try await identity.teams().filter { caller.roles[$0.id] != nil }
        return try Response.json(
            WhoAmI(
                principal: DTO.PrincipalOut(caller.principal),
                teams: teams.map { DTO.TeamOut($0, role: caller.roles[$0.id]) }))
    }

    func createTeam(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let body = try await JSONCoding.decode(TeamCreate.self, from: request, limit: maxJSONBytes)
        let team = try await identity.createTeam(
            name: body.name, description: body.description ?? "", audit: try context.audit(), at: now())
        return try Response.json(DTO.TeamOut(team), status: .created)
    }

    func listTeams(_ context: SlipwayRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let teams = try await identity.teams().filter { caller.isMember(of: $0.id) }
        return try Response.json(ListResponse(items: teams.map { DTO.TeamOut($0, role: caller.roles[$0.id]) }))
    }

    func setMember(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let body = try await JSONCoding.decode(MemberSet.self, from: request, limit: maxJSONBytes)
        let role = try Role(parsing: body.role)
        let team = try context.requireTeam()
        let principal = try await requirePrincipal(try context.parameter("principal"))
        if principal.kind == .serviceAccount, principal.ownerTeam != team.id {
            // Another team's service account is answered like an unknown name: no cross-team discovery.
            throw SlipwayError.notFound(
                "no user or service account named '\(principal.name)'", code: "principal_not_found")
        }
        let membership = try await identity.setMembership(
            team: team, principal: principal, role: role, audit: try context.audit(), at: now())
        return try Response.json(DTO.MemberOut(membership))
    }

    func createServiceAccount(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let body = try await JSONCoding.decode(ServiceAccountCreate.self, from: request, limit: maxJSONBytes)
        let role = try Role(parsing: body.role)
        let team = try context.requireTeam()
        let account = try await identity.createServiceAccount(
            name: body.name, team: team, role: role, audit: try context.audit(), at: now())
        return try Response.json(DTO.PrincipalOut(account, ownerTeamName: team.name), status: .created)
    }

    func createKey(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let body = try await JSONCoding.decode(KeyCreate.self, from: request, limit: maxJSONBytes)
        let caller = try context.requireCaller()
        let principal = try await keyOwner(named: body.principal, caller)
        var expiresAt: Date?
        if let days = body.expiresInDays {
            guard (1...3650).contains(days) else {
                throw SlipwayError.badRequest("expires_in_days must be between 1 and 3650", code: "invalid_expiry")
            }
            expiresAt = now().addingTimeInterval(Double(days) * 86_400)
        }
        // A key never outlives the key that created it, so a leaked short-lived key cannot mint a
        // permanent one.
        if let callerExpiry = try await identity.key(id: caller.keyID)?.expiresAt {
            expiresAt = min(expiresAt ?? callerExpiry, callerExpiry)
        }
        var generator = SystemRandomNumberGenerator()
        let token = APIKeyToken.generate(using: &generator)
        let key = try await identity.createKey(
            for: principal, name: body.name ?? "default", token: token, expiresAt: expiresAt, parent: caller.keyID,
            audit: try context.audit(), at: now())
        return try Response.json(
            DTO.KeyOut(key, principalName: principal.name, secret: token.description), status: .created)
    }

    /// The principal whose keys are meant: the caller itself, or one it may manage (404 otherwise).
    func keyOwner(named name: String?, _ caller: Caller) async throws -> Principal {
        guard let name, name != caller.principal.name else { return caller.principal }
        guard ResourceName.isValid(name), let principal = try await identity.principal(named: name),
            mayManageKeys(of: principal, caller)
        else {
            throw SlipwayError.notFound("principal '\(name)' not found", code: "principal_not_found")
        }
        return principal
    }

    /// Keys may be managed by their owner, platform admins, and admins of a service account's team.
    func mayManageKeys(of principal: Principal, _ caller: Caller) -> Bool {
        if caller.isPlatformAdmin || principal.id == caller.principal.id { return true }
        guard principal.kind == .serviceAccount, let team = principal.ownerTeam else { return false }
        return caller.can(.manage, in: team)
    }

    func requirePrincipal(_ name: String) async throws -> Principal {
        guard let principal = try await identity.principal(named: name) else {
            throw SlipwayError.notFound("no user or service account named '\(name)'", code: "principal_not_found")
        }
        return principal
    }
}
