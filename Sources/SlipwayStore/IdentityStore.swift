import Foundation
import SQLKit
import SlipwayCore

/// Teams, principals (users and service accounts), memberships and API keys.
public protocol IdentityStore: Sendable {
    /// Creates the first platform admin and its key, only if the platform has no admin yet.
    /// Returns nil when an admin already exists (the token is then not stored).
    func bootstrapAdmin(name: String, token: APIKeyToken, at now: Date) async throws -> Principal?
    /// Resolves a bearer token to a caller, or nil if unknown, wrong, expired or revoked.
    func authenticate(_ token: APIKeyToken, at now: Date) async throws -> Caller?

    func createTeam(name: String, description: String, audit: AuditContext, at now: Date) async throws -> Team
    func team(named name: String) async throws -> Team?
    func team(id: TeamID) async throws -> Team?
    func teams() async throws -> [Team]

    func createPrincipal(
        name: String, kind: Principal.Kind, ownerTeam: TeamID?, isPlatformAdmin: Bool, audit: AuditContext,
        at now: Date
    ) async throws -> Principal
    /// Creates a service account owned by `team` and makes it a member with `role`, in one transaction.
    func createServiceAccount(name: String, team: Team, role: Role, audit: AuditContext, at now: Date) async throws
        -> Principal
    func principal(named name: String) async throws -> Principal?
    func principal(id: PrincipalID) async throws -> Principal?
    func principals() async throws -> [Principal]

    /// Adds `principal` to `team` with `role`, or changes its role.
    func setMembership(team: Team, principal: Principal, role: Role, audit: AuditContext, at now: Date) async throws
        -> Membership
    func removeMembership(team: Team, principal: Principal, audit: AuditContext, at now: Date) async throws
    func members(of team: TeamID) async throws -> [Membership]

    /// Creates a key; `parent` is the key that asked for it, so revoking the parent revokes it too.
    func createKey(
        for principal: Principal, name: String, token: APIKeyToken, expiresAt: Date?, parent: APIKeyID?,
        audit: AuditContext, at now: Date
    ) async throws -> APIKey
    func keys(of principal: PrincipalID) async throws -> [APIKey]
    func key(id: APIKeyID) async throws -> APIKey?
    /// Revokes `key` and every key created, directly or not, with it.
    func revokeKey(_ key: APIKey, audit: AuditContext, at now: Date) async throws -> APIKey
}

extension IdentityStore {
    /// Creates a key with no parent (bootstrap, tests, administrative tools).
    public func createKey(
        for principal: Principal, name: String, token: APIKeyToken, expiresAt: Date?, audit: AuditContext, at now: Date
    ) async throws -> APIKey {
        try await createKey(
            for: principal, name: name, token: token, expiresAt: expiresAt, parent: nil, audit: audit, at: now)
    }
}

/// The SQL implementation of ``IdentityStore``.
public struct SQLIdentityStore: IdentityStore {
    let database: SlipwayDatabase
    /// `last_used_at` is written at most this often per key, so authentication is not a write per request.
    let lastUsedResolution: TimeInterval

    public init(database: SlipwayDatabase, lastUsedResolution: TimeInterval = 60) {
        self.database = database
        self.lastUsedResolution = lastUsedResolution
    }

    public func bootstrapAdmin(name: String, token: APIKeyToken, at now: Date) async throws -> Principal? {
        let now = Date(milliseconds: now.milliseconds)
        let kind = database.kind
        return try await database.transaction { db in
            if kind == .postgres {
                // Replicas starting together must not both create an admin.
                try await db.raw("SELECT pg_advisory_xact_lock(\(bind: Int64(0x5119_3A8))::bigint)").run()
            }
            let existing = try await db.raw("SELECT COUNT(*) AS n FROM principals WHERE platform_admin = 1").first()
            guard try existing?.decode(column: "n", as: Int64.self) == 0 else { return nil }
            let audit = AuditContext.system()
            let principal = try await Self.insertPrincipal(
                db, name: name, kind: .user, ownerTeam: nil, isPlatformAdmin: true, audit: audit, at: now)
            _ = try await Self.insertKey(
                db, for: principal, name: "bootstrap", token: token, expiresAt: nil, audit: audit, at: now)
            return principal
        }
    }

    public func authenticate(_ token: APIKeyToken, at now: Date) async throws -> Caller? {
        let found: (Caller, Int64?)? = try await database.read { db in
            guard
                let row = try await db.raw(
                    """
                    SELECT k.secret_hash, k.expires_at, k.revoked_at, k.last_used_at,
                           p.id, p.name, p.kind, p.owner_team_id, p.platform_admin, p.created_at
                    FROM api_keys k JOIN principals p ON p.id = k.principal_id
                    WHERE k.id = \(bind: token.keyID.rawValue)
                    """
                ).first()
            else { return nil }
            let storedHash = try row.decode(column: "secret_hash", as: String.self)
            guard Digest.constantTimeEquals(storedHash, token.storedHash) else { return nil }
            if try row.decode(column: "revoked_at", as: Int64?.self) != nil { return nil }
            if let expires = try row.decode(column: "expires_at", as: Int64?.self), expires <= now.milliseconds {
                return nil
            }
            let principal = try Self.decodePrincipal(row)
            var roles: [TeamID: Role] = [:]
            for membership in try await db.raw(
                "SELECT team_id, role FROM memberships WHERE principal_id = \(bind: principal.id.rawValue)"
            ).all() {
                let team = TeamID(trusted: try membership.decode(column: "team_id", as: String.self))
                roles[team] = Role(rawValue: try membership.decode(column: "role", as: String.self))
            }
            let caller = Caller(principal: principal, keyID: token.keyID, roles: roles)
            return (caller, try row.decode(column: "last_used_at", as: Int64?.self))
        }
        guard let (caller, lastUsed) = found else { return nil }
        let nowMilliseconds = now.milliseconds
        if lastUsed.map({ nowMilliseconds - $0 >= Int64(lastUsedResolution * 1000) }) ?? true {
            let id = token.keyID.rawValue
            try await database.transaction { db in
                try await db.raw("UPDATE api_keys SET last_used_at = \(bind: nowMilliseconds) WHERE id = \(bind: id)")
                    .run()
            }
        }
        return caller
    }

    public func createTeam(name: String, description: String, audit: AuditContext, at now: Date) async throws -> Team {
        try ResourceName.validate(name, as: "team name")
        try Description.validate(description)
        let team = Team(
            id: .random(), name: name, description: description, createdAt: Date(milliseconds: now.milliseconds))
        do {
            try await database.transaction { db in
                try await db.raw(
                    """
                    INSERT INTO teams (id, name, description, created_at)
                    VALUES (\(bind: team.id.rawValue), \(bind: name), \(bind: description), \(bind: now.milliseconds))
                    """
                ).run()
                try await AuditWriter.append(
                    db, context: audit, team: team.id, action: "team.create", target: "team:\(name)", at: now)
            }
        } catch  where SQLErrors.isUniqueViolation(error) {
            throw SlipwayError.conflict("a team named '\(name)' already exists", code: "team_exists")
        }
        return team
    }

    public func team(named name: String) async throws -> Team? {
        try await database.read { db in
            try await db.raw("SELECT * FROM teams WHERE name = \(bind: name)").first().map(Self.decodeTeam)
        }
    }

    public func team(id: TeamID) async throws -> Team? {
        try await database.read { db in
            try await db.raw("SELECT * FROM teams WHERE id = \(bind: id.rawValue)").first().map(Self.decodeTeam)
        }
    }

    public func teams() async throws -> [Team] {
        try await database.read { db in
            try await db.raw("SELECT * FROM teams ORDER BY name").all().map(Self.decodeTeam)
        }
    }

    public func createPrincipal(
        name: String, kind: Principal.Kind, ownerTeam: TeamID?, isPlatformAdmin: Bool, audit: AuditContext,
        at now: Date
    ) async throws -> Principal {
        try ResourceName.validate(name, as: "principal name")
        let now = Date(milliseconds: now.milliseconds)
        do {
            return try await database.transaction { db in
                try await Self.insertPrincipal(
                    db, name: name, kind: kind, ownerTeam: ownerTeam, isPlatformAdmin: isPlatformAdmin, audit: audit,
                    at: now)
            }
        } catch  where SQLErrors.isUniqueViolation(error) {
            throw SlipwayError.conflict(
                "a user or service account named '\(name)' already exists", code: "principal_exists")
        }
    }

    public func createServiceAccount(name: String, team: Team, role: Role, audit: AuditContext, at now: Date)
        async throws -> Principal
    {
        try ResourceName.validate(name, as: "service account name")
        let now = Date(milliseconds: now.milliseconds)
        do {
            return try await database.transaction { db in
                let account = try await Self.insertPrincipal(
                    db, name: name, kind: .serviceAccount, ownerTeam: team.id, isPlatformAdmin: false, audit: audit,
                    at: now)
                try await Self.upsertMembership(db, team: team, principal: account, role: role, audit: audit, at: now)
                return account
            }
        } catch  where SQLErrors.isUniqueViolation(error) {
            throw SlipwayError.conflict(
                "a user or service account named '\(name)' already exists", code: "principal_exists")
        }
    }

    public func principal(named name: String) async throws -> Principal? {
        try await database.read { db in
            try await db.raw("SELECT * FROM principals WHERE name = \(bind: name)").first().map(Self.decodePrincipal)
        }
    }

    public func principal(id: PrincipalID) async throws -> Principal? {
        try await database.read { db in
            try await db.raw("SELECT * FROM principals WHERE id = \(bind: id.rawValue)").first().map(
                Self.decodePrincipal)
        }
    }

    public func principals() async throws -> [Principal] {
        try await database.read { db in
            try await db.raw("SELECT * FROM principals ORDER BY name").all().map(Self.decodePrincipal)
        }
    }

    public func setMembership(team: Team, principal: Principal, role: Role, audit: AuditContext, at now: Date)
        async throws -> Membership
    {
        if principal.kind == .serviceAccount, principal.ownerTeam != team.id {
            throw SlipwayError.unprocessable(
                "service account '\(principal.name)' belongs to another team and cannot join '\(team.name)'",
                code: "foreign_service_account")
        }
        try await database.transaction { db in
            if role != .admin {
                try await Self.requireAnotherAdmin(db, team: team, leaving: principal)
            }
            try await Self.upsertMembership(db, team: team, principal: principal, role: role, audit: audit, at: now)
        }
        return Membership(team: team.id, principal: principal, role: role)
    }

    public func removeMembership(team: Team, principal: Principal, audit: AuditContext, at now: Date) async throws {
        try await database.transaction { db in
            try await Self.requireAnotherAdmin(db, team: team, leaving: principal)
            let removed = try await db.raw(
                """
                DELETE FROM memberships WHERE team_id = \(bind: team.id.rawValue)
                AND principal_id = \(bind: principal.id.rawValue) RETURNING role
                """
            ).all()
            guard !removed.isEmpty else {
                throw SlipwayError.notFound(
                    "'\(principal.name)' is not a member of team '\(team.name)'", code: "member_not_found")
            }
            try await AuditWriter.append(
                db, context: audit, team: team.id, action: "member.remove", target: "principal:\(principal.name)",
                at: now)
        }
    }

    public func members(of team: TeamID) async throws -> [Membership] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT m.role, p.id, p.name, p.kind, p.owner_team_id, p.platform_admin, p.created_at
                FROM memberships m JOIN principals p ON p.id = m.principal_id
                WHERE m.team_id = \(bind: team.rawValue) ORDER BY p.name
                """
            ).all().map { row in
                Membership(
                    team: team, principal: try Self.decodePrincipal(row),
                    role: try Role(parsing: try row.decode(column: "role", as: String.self)))
            }
        }
    }

    public func createKey(
        for principal: Principal, name: String, token: APIKeyToken, expiresAt: Date?, parent: APIKeyID?,
        audit: AuditContext, at now: Date
    ) async throws -> APIKey {
        guard !name.isEmpty, name.utf8.count <= 128 else {
            throw SlipwayError.badRequest("key name must be 1-128 characters", code: "invalid_name")
        }
        if let expiresAt, expiresAt <= now {
            throw SlipwayError.badRequest("expiry must be in the future", code: "invalid_expiry")
        }
        let now = Date(milliseconds: now.milliseconds)
        return try await database.transaction { db in
            try await Self.insertKey(
                db, for: principal, name: name, token: token, expiresAt: expiresAt, parent: parent, audit: audit,
                at: now)
        }
    }

    public func keys(of principal: PrincipalID) async throws -> [APIKey] {
        try await database.read { db in
            try await db.raw(
                "SELECT * FROM api_keys WHERE principal_id = \(bind: principal.rawValue) ORDER BY created_at, id"
            ).all().map(Self.decodeKey)
        }
    }

    public func key(id: APIKeyID) async throws -> APIKey? {
        try await database.read { db in
            try await db.raw("SELECT * FROM api_keys WHERE id = \(bind: id.rawValue)").first().map(Self.decodeKey)
        }
    }

    public func revokeKey(_ key: APIKey, audit: AuditContext, at now: Date) async throws -> APIKey {
        let now = Date(milliseconds: now.milliseconds)
        return try await database.transaction { db in
            guard
                let row = try await db.raw(
                    """
                    UPDATE api_keys SET revoked_at = \(bind: now.milliseconds)
                    WHERE id = \(bind: key.id.rawValue) AND revoked_at IS NULL RETURNING *
                    """
                ).first()
            else { throw SlipwayError.conflict("key \(key.displayPrefix) is already revoked", code: "already_revoked") }
            // Keys created with this one (and theirs, transitively) go too.
            var frontier = [key.id.rawValue]
            var cascaded = 0
            var visited = 0
            while !frontier.isEmpty, visited < 100_000 {
                let children = try await db.raw(
                    "SELECT id FROM api_keys WHERE parent_key_id IN (\(binds: frontier))"
                ).all().map { try $0.decode(column: "id", as: String.self) }
                visited += children.count
                if !children.isEmpty {
                    cascaded += try await db.raw(
                        """
                        UPDATE api_keys SET revoked_at = \(bind: now.milliseconds)
                        WHERE id IN (\(binds: children)) AND revoked_at IS NULL RETURNING id
                        """
                    ).all().count
                }
                frontier = children
            }
            let ownerTeam = try await db.raw(
                "SELECT owner_team_id FROM principals WHERE id = \(bind: key.principal.rawValue)"
            ).first()?.decode(column: "owner_team_id", as: String?.self)
            try await AuditWriter.append(
                db, context: audit, team: ownerTeam.map(TeamID.init(trusted:)), action: "key.revoke",
                target: "key:\(key.id.rawValue)", detail: ["also_revoked": String(cascaded)], at: now)
            return try Self.decodeKey(row)
        }
    }

    // MARK: - Rows

    static func upsertMembership(
        _ db: any SQLDatabase, team: Team, principal: Principal, role: Role, audit: AuditContext, at now: Date
    ) async throws {
        try await db.raw(
            """
            INSERT INTO memberships (team_id, principal_id, role, created_at)
            VALUES (\(bind: team.id.rawValue), \(bind: principal.id.rawValue), \(bind: role.rawValue), \(bind: now.milliseconds))
            ON CONFLICT (team_id, principal_id) DO UPDATE SET role = excluded.role
            """
        ).run()
        try await AuditWriter.append(
            db, context: audit, team: team.id, action: "member.set", target: "principal:\(principal.name)",
            detail: ["role": role.rawValue], at: now)
    }

    /// A team must keep at least one admin: refuses to demote or remove the last one.
    static func requireAnotherAdmin(_ db: any SQLDatabase, team: Team, leaving principal: Principal) async throws {
        // Locks the team row (PostgreSQL) so two admins demoting each other at once are serialised.
        try await db.raw("UPDATE teams SET name = name WHERE id = \(bind: team.id.rawValue)").run()
        let admins = try await db.raw(
            "SELECT principal_id FROM memberships WHERE team_id = \(bind: team.id.rawValue) AND role = 'admin'"
        ).all().map { try $0.decode(column: "principal_id", as: String.self) }
        if admins == [principal.id.rawValue] {
            throw SlipwayError.conflict(
                "'\(principal.name)' is the last admin of team '\(team.name)': make someone else admin first",
                code: "last_admin")
        }
    }

    static func insertPrincipal(
        _ db: any SQLDatabase, name: String, kind: Principal.Kind, ownerTeam: TeamID?, isPlatformAdmin: Bool,
        audit: AuditContext, at now: Date
    ) async throws -> Principal {
        let principal = Principal(
            id: .random(), name: name, kind: kind, ownerTeam: ownerTeam, isPlatformAdmin: isPlatformAdmin,
            createdAt: now)
        try await db.raw(
            """
            INSERT INTO principals (id, name, kind, owner_team_id, platform_admin, created_at)
            VALUES (\(bind: principal.id.rawValue), \(bind: name), \(bind: kind.rawValue), \(bind: ownerTeam?.rawValue),
                    \(bind: Int64(isPlatformAdmin ? 1 : 0)), \(bind: now.milliseconds))
            """
        ).run()
        try await AuditWriter.append(
            db, context: audit, team: ownerTeam, action: "principal.create", target: "principal:\(name)",
            detail: ["kind": kind.rawValue, "platform_admin": String(isPlatformAdmin)], at: now)
        return principal
    }

    static func insertKey(
        _ db: any SQLDatabase, for principal: Principal, name: String, token: APIKeyToken, expiresAt: Date?,
        parent: APIKeyID? = nil, audit: AuditContext, at now: Date
    ) async throws -> APIKey {
        let key = APIKey(
            id: token.keyID, principal: principal.id, name: name, createdAt: now,
            expiresAt: expiresAt.map { Date(milliseconds: $0.milliseconds) }, revokedAt: nil, lastUsedAt: nil)
        try await db.raw(
            """
            INSERT INTO api_keys (id, principal_id, name, secret_hash, created_at, expires_at, parent_key_id)
            VALUES (\(bind: key.id.rawValue), \(bind: principal.id.rawValue), \(bind: name), \(bind: token.storedHash),
                    \(bind: now.milliseconds), \(bind: expiresAt?.milliseconds), \(bind: parent?.rawValue))
            """
        ).run()
        try await AuditWriter.append(
            db, context: audit, team: principal.ownerTeam, action: "key.create", target: "key:\(key.id.rawValue)",
            detail: ["principal": principal.name, "name": name], at: now)
        return key
    }

    static func decodeTeam(_ row: any SQLRow) throws -> Team {
        Team(
            id: TeamID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)))
    }

    static func decodePrincipal(_ row: any SQLRow) throws -> Principal {
        Principal(
            id: PrincipalID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            kind: Principal.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .user,
            ownerTeam: try row.decode(column: "owner_team_id", as: String?.self).map(TeamID.init(trusted:)),
            isPlatformAdmin: try row.decode(column: "platform_admin", as: Int64.self) == 1,
            createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)))
    }

    static func decodeKey(_ row: any SQLRow) throws -> APIKey {
        APIKey(
            id: APIKeyID(trusted: try row.decode(column: "id", as: String.self)),
            principal: PrincipalID(trusted: try row.decode(column: "principal_id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: try row.decode(column: "expires_at", as: Int64?.self).map(Date.init(milliseconds:)),
            revokedAt: try row.decode(column: "revoked_at", as: Int64?.self).map(Date.init(milliseconds:)),
            lastUsedAt: try row.decode(column: "last_used_at", as: Int64?.self).map(Date.init(milliseconds:)))
    }
}
