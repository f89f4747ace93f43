import Foundation
import SlipwayCore
import SlipwayStore
import Synchronization

/// An ``IdentityStore`` that remembers successful authentications for a few seconds, so the
/// prediction hot path does not read the database on every request.
///
/// Entries are keyed by key ID and hold the SHA-256 of the secret (compared in constant time), never the
/// secret. Any change made through this store (a revoked key, a changed role, a removed member) clears
/// the cache at once, so this server honours it immediately; another replica's change takes effect
/// here within ``ttl``. An entry is never used past the time it was cached plus ``ttl``, judged by the
/// same clock the server uses for key expiry.
final class CachingIdentityStore: IdentityStore {
    let base: any IdentityStore
    let ttl: TimeInterval
    private let entries = Mutex<[String: (secretHash: String, caller: Caller, validUntil: Date)]>([:])
    private let maximumEntries = 10_000

    init(base: any IdentityStore, ttl: TimeInterval = 5) {
        self.base = base
        self.ttl = ttl
    }

    func authenticate(_ token: APIKeyToken, at now: Date) async throws -> Caller? {
        if let caller = cachedCaller(token, at: now) { return caller }
        let hash = Digest.sha256Hex(Array(token.secret.utf8))
        guard let caller = try await base.authenticate(token, at: now) else {
            _ = entries.withLock { $0.removeValue(forKey: token.keyID.rawValue) }
            return nil
        }
        entries.withLock { entries in
            if entries.count >= maximumEntries { entries.removeAll(keepingCapacity: true) }
            entries[token.keyID.rawValue] = (hash, caller, now.addingTimeInterval(ttl))
        }
        return caller
    }

    /// The caller of `token` if a still-valid authentication of it is cached, without touching the
    /// database (nil also when the secret does not match: the full path then decides and audits).
    func cachedCaller(_ token: APIKeyToken, at now: Date) -> Caller? {
        guard let cached = entries.withLock({ $0[token.keyID.rawValue] }), now < cached.validUntil else { return nil }
        let hash = Digest.sha256Hex(Array(token.secret.utf8))
        return Digest.constantTimeEquals(cached.secretHash, hash) ? cached.caller : nil
    }

    /// Forgets every cached authentication (after any identity change).
    func invalidate() { entries.withLock { $0.removeAll() } }

    private func changing<R>(_ body: () async throws -> R) async throws -> R {
        defer { invalidate() }
        return try await body()
    }

    func bootstrapAdmin(name: String, token: APIKeyToken, at now: Date) async throws -> Principal? {
        try await changing { try await base.bootstrapAdmin(name: name, token: token, at: now) }
    }
    func createTeam(name: String, description: String, audit: AuditContext, at now: Date) async throws -> Team {
        try await changing { try await base.createTeam(name: name, description: description, audit: audit, at: now) }
    }
    func team(named name: String) async throws -> Team? { try await base.team(named: name) }
    func team(id: TeamID) async throws -> Team? { try await base.team(id: id) }
    func teams() async throws -> [Team] { try await base.teams() }
    func createPrincipal(
        name: String, kind: Principal.Kind, ownerTeam: TeamID?, isPlatformAdmin: Bool, audit: AuditContext, at now: Date
    ) async throws -> Principal {
        try await changing {
            try await base.createPrincipal(
                name: name, kind: kind, ownerTeam: ownerTeam, isPlatformAdmin: isPlatformAdmin, audit: audit, at: now)
        }
    }
    func createServiceAccount(name: String, team: Team, role: Role, audit: AuditContext, at now: Date) async throws
        -> Principal
    {
        try await changing { try await base.createServiceAccount(name: name, team: team, role: role, audit: audit, at: now) }
    }
    func principal(named name: String) async throws -> Principal? { try await base.principal(named: name) }
    func principal(id: PrincipalID) async throws -> Principal? { try await base.principal(id: id) }
    func principals() async throws -> [Principal] { try await base.principals() }
    func setMembership(team: Team, principal: Principal, role: Role, audit: AuditContext, at now: Date) async throws
        -> Membership
    {
        try await changing { try await base.setMembership(team: team, principal: principal, role: role, audit: audit, at: now) }
    }
    func removeMembership(team: Team, principal: Principal, audit: AuditContext, at now: Date) async throws {
        try await changing { try await base.removeMembership(team: team, principal: principal, audit: audit, at: now) }
    }
    func members(of team: TeamID) async throws -> [Membership] { try await base.members(of: team) }
    func createKey(
        for principal: Principal, name: String, token: APIKeyToken, expiresAt: Date?, parent: APIKeyID?,
        audit: AuditContext, at now: Date
    ) async throws -> APIKey {
        try await changing {
            try await base.createKey(
                for: principal, name: name, token: token, expiresAt: expiresAt, parent: parent, audit: audit, at: now)
        }
    }
    func keys(of principal: PrincipalID) async throws -> [APIKey] { try await base.keys(of: principal) }
    func key(id: APIKeyID) async throws -> APIKey? { try await base.key(id: id) }
    func revokeKey(_ key: APIKey, audit: AuditContext, at now: Date) async throws -> APIKey {
        try await changing { try await base.revokeKey(key, audit: audit, at: now) }
    }
}
