import Foundation
import SQLKit
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Identity store")
struct IdentityStoreTests {
    static func token(seed: UInt64) -> APIKeyToken {
        var generator = SplitMix64(seed: seed)
        return APIKeyToken.generate(using: &generator)
    }

    @Test("bootstrapAdmin creates the first admin once, then returns nil", arguments: await Backend.all)
    func bootstrapOnce(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let first = Self.token(seed: 1)
            let admin = try #require(
                try await harness.identity.bootstrapAdmin(name: "root", token: first, at: StoreHarness.epoch))
            #expect(admin.isPlatformAdmin)
            #expect(admin.kind == .user)
            #expect(admin.createdAt == StoreHarness.epoch)

            let second = Self.token(seed: 2)
            #expect(
                try await harness.identity.bootstrapAdmin(name: "root2", token: second, at: StoreHarness.epoch) == nil)
            #expect(try await harness.identity.principal(named: "root2") == nil)
            #expect(try await harness.identity.key(id: second.keyID) == nil)

            let caller = try #require(try await harness.identity.authenticate(first, at: StoreHarness.epoch))
            #expect(caller.isPlatformAdmin)
            #expect(caller.principal == admin)
            #expect(caller.keyID == first.keyID)
            #expect(try await harness.identity.authenticate(second, at: StoreHarness.epoch) == nil)
            #expect(try await harness.identity.keys(of: admin.id).map(\.name) == ["bootstrap"])
        }
    }

    @Test("authenticate resolves a token to the principal and its team roles", arguments: await Backend.all)
    func authenticateWithRoles(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let payments = try await harness.makeTeam("payments")
            let fraud = try await harness.makeTeam("fraud")
            let alice = try await harness.makeUser("alice")
            _ = try await harness.identity.setMembership(
                team: payments, principal: alice, role: .developer, audit: StoreHarness.audit(), at: StoreHarness.epoch)
            _ = try await harness.identity.setMembership(
                team: fraud, principal: alice, role: .reviewer, audit: StoreHarness.audit(), at: StoreHarness.epoch)
            let token = Self.token(seed: 10)
            let key = try await harness.identity.createKey(
                for: alice, name: "laptop", token: token, expiresAt: nil, audit: StoreHarness.audit(),
                at: StoreHarness.epoch)
            #expect(key.id == token.keyID)
            #expect(key.principal == alice.id)

            let caller = try #require(try await harness.identity.authenticate(token, at: StoreHarness.epoch))
            #expect(caller.principal == alice)
            #expect(caller.roles == [payments.id: .developer, fraud.id: .reviewer])
            #expect(caller.can(.write, in: payments.id))
            #expect(!caller.can(.write, in: fraud.id))
            #expect(caller.can(.readAudit, in: fraud.id))
            #expect(!caller.isPlatformAdmin)
        }
    }

    @Test("wrong secret, unknown key, revoked and expired keys do not authenticate", arguments: await Backend.all)
    func rejectedTokens(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let bob = try await harness.makeUser("bob")
            let now = StoreHarness.epoch
            let token = Self.token(seed: 20)
            _ = try await harness.identity.createKey(
                for: bob, name: "main", token: token, expiresAt: nil, audit: StoreHarness.audit(), at: now)

            // Right key ID, wrong secret.
            let wrongSecret = try #require(
                APIKeyToken(
                    parsing: "slw_\(token.keyID.rawValue.dropFirst(4))_\(String(repeating: "0", count: 64))"))
            #expect(wrongSecret.keyID == token.keyID)
            #expect(try await harness.identity.authenticate(wrongSecret, at: now) == nil)
            #expect(try await harness.identity.authenticate(Self.token(seed: 21), at: now) == nil)
            #expect(try await harness.identity.authenticate(token, at: now) != nil)

            // Revoked.
            let key = try #require(try await harness.identity.key(id: token.keyID))
            let revoked = try await harness.expectAudited("key.revoke") {
                try await harness.identity.revokeKey(key, audit: StoreHarness.audit(), at: now.addingTimeInterval(5))
            }
            #expect(revoked.revokedAt == now.addingTimeInterval(5))
            #expect(try await harness.identity.authenticate(token, at: now.addingTimeInterval(6)) == nil)
            await expectSlipwayError(.conflict, code: "already_revoked") {
                try await harness.identity.revokeKey(revoked, audit: StoreHarness.audit(), at: now)
            }

            // Expiring: valid strictly before its expiry.
            let expiring = Self.token(seed: 22)
            let expiry = now.addingTimeInterval(60)
            let expiringKey = try await harness.identity.createKey(
                for: bob, name: "short", token: expiring, expiresAt: expiry, audit: StoreHarness.audit(), at: now)
            #expect(expiringKey.expiresAt == expiry)
            #expect(try await harness.identity.authenticate(expiring, at: now.addingTimeInterval(59.999)) != nil)
            #expect(try await harness.identity.authenticate(expiring, at: expiry) == nil)
            #expect(try await harness.identity.authenticate(expiring, at: now.addingTimeInterval(3600)) == nil)

            await expectSlipwayError(.badRequest, code: "invalid_expiry") {
                try await harness.identity.createKey(
                    for: bob, name: "past", token: Self.token(seed: 23), expiresAt: now, audit: StoreHarness.audit(),
                    at: now)
            }
            await expectSlipwayError(.badRequest, code: "invalid_name") {
                try await harness.identity.createKey(
                    for: bob, name: "", token: Self.token(seed: 24), expiresAt: nil, audit: StoreHarness.audit(),
                    at: now)
            }
            #expect(try await harness.identity.keys(of: bob.id).map(\.name) == ["main", "short"])
        }
    }

    @Test("last_used_at is set on use, at most once per resolution window", arguments: await Backend.all)
    func lastUsed(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let carol = try await harness.makeUser("carol")
            let token = Self.token(seed: 30)
            let now = StoreHarness.epoch
            _ = try await harness.identity.createKey(
                for: carol, name: "k", token: token, expiresAt: nil, audit: StoreHarness.audit(), at: now)
            #expect(try await harness.identity.key(id: token.keyID)?.lastUsedAt == nil)

            let auditBefore = try await harness.auditCount()
            _ = try await harness.identity.authenticate(token, at: now.addingTimeInterval(1))
            #expect(try await harness.identity.key(id: token.keyID)?.lastUsedAt == now.addingTimeInterval(1))
            _ = try await harness.identity.authenticate(token, at: now.addingTimeInterval(30))
            #expect(try await harness.identity.key(id: token.keyID)?.lastUsedAt == now.addingTimeInterval(1))
            _ = try await harness.identity.authenticate(token, at: now.addingTimeInterval(61))
            #expect(try await harness.identity.key(id: token.keyID)?.lastUsedAt == now.addingTimeInterval(61))
            // A failed attempt does not count as use.
            _ = try await harness.identity.authenticate(Self.token(seed: 31), at: now.addingTimeInterval(200))
            #expect(try await harness.identity.key(id: token.keyID)?.lastUsedAt == now.addingTimeInterval(61))
            // Using a key is not an audited change.
            #expect(try await harness.auditCount() == auditBefore)
        }
    }

    @Test("team names are unique and validated; a failed create writes no audit entry", arguments: await Backend.all)
    func teams(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.expectAudited("team.create") { try await harness.makeTeam("risk") }
            #expect(team.createdAt == StoreHarness.epoch)
            #expect(try await harness.identity.team(named: "risk") == team)
            #expect(try await harness.identity.team(named: "nope") == nil)

            let audited = try await harness.auditCount()
            let error = await expectSlipwayError(.conflict, code: "team_exists") {
                try await harness.makeTeam("risk")
            }
            #expect(error?.message.contains("'risk'") == true)
            await expectSlipwayError(.badRequest, code: "invalid_name") { try await harness.makeTeam("Risk Team") }
            await expectSlipwayError(.badRequest, code: "too_long") {
                try await harness.identity.createTeam(
                    name: "long", description: String(repeating: "x", count: 4097), audit: StoreHarness.audit(),
                    at: StoreHarness.epoch)
            }
            #expect(try await harness.auditCount() == audited)
            #expect(try await harness.count("teams") == 1)

            _ = try await harness.makeTeam("alpha")
            #expect(try await harness.identity.teams().map(\.name) == ["alpha", "risk"])
            #expect(try await harness.auditLog.verify().ok)
        }
    }

    @Test("principal names are unique across users and service accounts", arguments: await Backend.all)
    func principals(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let robot = try await harness.expectAudited("principal.create") {
                try await harness.identity.createPrincipal(
                    name: "trainer", kind: .serviceAccount, ownerTeam: team.id, isPlatformAdmin: false,
                    audit: StoreHarness.audit(), at: StoreHarness.epoch)
            }
            #expect(robot.ownerTeam == team.id)
            #expect(try await harness.identity.principal(id: robot.id) == robot)
            #expect(try await harness.identity.principal(named: "trainer") == robot)
            await expectSlipwayError(.conflict, code: "principal_exists") { try await harness.makeUser("trainer") }
            await expectSlipwayError(.badRequest, code: "invalid_name") { try await harness.makeUser("Trainer") }
            _ = try await harness.makeUser("ada")
            #expect(try await harness.identity.principals().map(\.name) == ["ada", "trainer"])
        }
    }

    @Test("memberships are set, changed and removed; members(of:) lists them", arguments: await Backend.all)
    func memberships(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("search")
            let other = try await harness.makeTeam("ads")
            let zed = try await harness.makeUser("zed")
            let amy = try await harness.makeUser("amy")
            let audit = StoreHarness.audit()
            let now = StoreHarness.epoch

            let membership = try await harness.expectAudited("member.set") {
                try await harness.identity.setMembership(
                    team: team, principal: zed, role: .viewer, audit: audit, at: now)
            }
            #expect(membership == Membership(team: team.id, principal: zed, role: .viewer))
            _ = try await harness.identity.setMembership(
                team: team, principal: amy, role: .reviewer, audit: audit, at: now)
            _ = try await harness.identity.setMembership(
                team: other, principal: amy, role: .admin, audit: audit, at: now)
            #expect(try await harness.identity.members(of: team.id).map(\.principal.name) == ["amy", "zed"])

            try await harness.expectAudited("member.set") {
                try await harness.identity.setMembership(
                    team: team, principal: zed, role: .admin, audit: audit, at: now)
            }
            let members = try await harness.identity.members(of: team.id)
            #expect(members.count == 2)
            #expect(members.first { $0.principal.id == zed.id }?.role == .admin)
            #expect(members.allSatisfy { $0.team == team.id })

            // A team keeps at least one admin.
            await expectSlipwayError(.conflict, code: "last_admin") {
                try await harness.identity.removeMembership(team: team, principal: zed, audit: audit, at: now)
            }
            await expectSlipwayError(.conflict, code: "last_admin") {
                try await harness.identity.setMembership(
                    team: team, principal: zed, role: .developer, audit: audit, at: now)
            }
            let kim = try await harness.makeUser("kim")
            _ = try await harness.identity.setMembership(
                team: team, principal: kim, role: .admin, audit: audit, at: now)

            try await harness.expectAudited("member.remove") {
                try await harness.identity.removeMembership(team: team, principal: zed, audit: audit, at: now)
            }
            #expect(try await harness.identity.members(of: team.id).map(\.principal.name) == ["amy", "kim"])
            await expectSlipwayError(.notFound, code: "member_not_found") {
                try await harness.identity.removeMembership(team: team, principal: zed, audit: audit, at: now)
            }
            #expect(try await harness.identity.members(of: other.id).map(\.role) == [.admin])

            // The change shows up in the next authentication.
            let token = Self.token(seed: 40)
            _ = try await harness.identity.createKey(
                for: amy, name: "k", token: token, expiresAt: nil, audit: audit, at: now)
            #expect(
                try await harness.identity.authenticate(token, at: now)?.roles == [
                    team.id: .reviewer, other.id: .admin,
                ])
            #expect(try await harness.auditLog.verify().ok)
        }
    }

    @Test("a service account of team A cannot join team B", arguments: await Backend.all)
    func foreignServiceAccount(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let teamA = try await harness.makeTeam("team-a")
            let teamB = try await harness.makeTeam("team-b")
            let robot = try await harness.identity.createPrincipal(
                name: "deployer", kind: .serviceAccount, ownerTeam: teamA.id, isPlatformAdmin: false,
                audit: StoreHarness.audit(), at: StoreHarness.epoch)
            _ = try await harness.identity.setMembership(
                team: teamA, principal: robot, role: .developer, audit: StoreHarness.audit(), at: StoreHarness.epoch)
            let audited = try await harness.auditCount()
            await expectSlipwayError(.unprocessable, code: "foreign_service_account") {
                try await harness.identity.setMembership(
                    team: teamB, principal: robot, role: .viewer, audit: StoreHarness.audit(), at: StoreHarness.epoch)
            }
            #expect(try await harness.identity.members(of: teamB.id).isEmpty)
            #expect(try await harness.auditCount() == audited)
        }
    }
}
