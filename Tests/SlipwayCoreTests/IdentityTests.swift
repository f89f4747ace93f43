import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("API key tokens")
struct APIKeyTokenTests {
    @Test("generate → description → parse round trips, seeded")
    func roundTrip() throws {
        var generator = SplitMix64(seed: 2024)
        for _ in 0..<200 {
            let token = APIKeyToken.generate(using: &generator)
            let text = token.description
            #expect(text.hasPrefix("slw_"))
            #expect(text.utf8.count == 4 + 32 + 1 + 64)
            let parsed = try #require(APIKeyToken(parsing: text))
            #expect(parsed == token)
            #expect(parsed.keyID == token.keyID)
            #expect(parsed.storedHash == token.storedHash)
        }
    }

    @Test("the same seed gives the same token; secrets do not repeat")
    func seededAndDistinct() {
        var a = SplitMix64(seed: 1)
        var b = SplitMix64(seed: 1)
        #expect(APIKeyToken.generate(using: &a) == APIKeyToken.generate(using: &b))
        var generator = SplitMix64(seed: 99)
        let secrets = Set((0..<100).map { _ in APIKeyToken.generate(using: &generator).secret })
        #expect(secrets.count == 100)
    }

    @Test("the stored hash is the SHA-256 of the whole token, never the token itself")
    func storedHash() throws {
        var generator = SplitMix64(seed: 5)
        let token = APIKeyToken.generate(using: &generator)
        #expect(token.storedHash == Digest.sha256Hex(Array(token.description.utf8)))
        #expect(token.storedHash.utf8.count == 64)
        #expect(!token.storedHash.contains(token.secret))
    }

    @Test("rejects malformed tokens")
    func rejectsMalformed() {
        var generator = SplitMix64(seed: 3)
        let good = APIKeyToken.generate(using: &generator).description
        let parts = good.split(separator: "_").map(String.init)
        let (id, secret) = (parts[1], parts[2])
        let malformed = [
            "", "slw", "slw__", "slw_\(id)", "slw_\(id)_", "sk_\(id)_\(secret)", "SLW_\(id)_\(secret)",
            "slw_\(id)_\(secret)_x", "slw_\(id.dropLast())_\(secret)", "slw_\(id)0_\(secret)",
            "slw_\(id)_\(secret.dropLast())", "slw_\(id)_\(secret)0", "slw_\(id.uppercased())_\(secret)",
            "slw_\(id)_\(secret.uppercased())", " \(good)", "\(good) ", "Bearer \(good)", "slw_key_\(id)_\(secret)",
            "slw_\(id)_\(secret.dropLast())g", "slw-\(id)-\(secret)",
        ]
        for text in malformed {
            #expect(APIKeyToken(parsing: text) == nil, "accepted \(text.debugDescription)")
        }
    }

    @Test("any single character replaced by a non-hex character is rejected (seeded)")
    func singleCharacterCorruption() {
        var generator = SplitMix64(seed: 11)
        let token = Array(APIKeyToken.generate(using: &generator).description)
        for _ in 0..<300 {
            var corrupted = token
            let position = Int.random(in: 4..<token.count, using: &generator)
            if corrupted[position] == "_" { continue }
            corrupted[position] = ["g", "G", "-", "_", " ", "z", "é"].randomElement(using: &generator)!
            #expect(APIKeyToken(parsing: String(corrupted)) == nil, "accepted \(String(corrupted))")
        }
    }

    @Test("key records: display prefix and activity window")
    func keyRecord() throws {
        let id = try APIKeyID(validating: "key_3f9c2a1b00000000000000000000ffff")
        let created = Date(timeIntervalSince1970: 1_000)
        let expires = created.addingTimeInterval(60)
        let key = APIKey(
            id: id, principal: PrincipalID.random(), name: "ci", createdAt: created, expiresAt: expires,
            revokedAt: nil, lastUsedAt: nil)
        #expect(key.displayPrefix == "slw_3f9c2a1b…")
        #expect(key.isActive(at: created))
        #expect(!key.isActive(at: expires))
        #expect(!key.isActive(at: expires.addingTimeInterval(1)))
        let revoked = APIKey(
            id: id, principal: key.principal, name: "ci", createdAt: created, expiresAt: nil, revokedAt: created,
            lastUsedAt: nil)
        #expect(!revoked.isActive(at: created))
        let forever = APIKey(
            id: id, principal: key.principal, name: "ci", createdAt: created, expiresAt: nil, revokedAt: nil,
            lastUsedAt: nil)
        #expect(forever.isActive(at: .distantFuture))
    }
}

@Suite("Roles and callers")
struct AccessTests {
    @Test("each role grants exactly its permissions")
    func rolePermissions() {
        #expect(Role.viewer.permissions == [.read])
        #expect(Role.developer.permissions == [.read, .write])
        #expect(Role.reviewer.permissions == [.read, .review, .readAudit])
        #expect(Role.admin.permissions == Set(Permission.allCases))
        #expect(!Role.viewer.permissions.contains(.write))
        #expect(!Role.developer.permissions.contains(.readAudit))
        #expect(!Role.reviewer.permissions.contains(.write))
        #expect(!Role.reviewer.permissions.contains(.manage))
        #expect(Role.allCases.allSatisfy { $0.permissions.contains(.read) })
    }

    @Test("roles order from least to most powerful")
    func roleOrder() {
        #expect(Role.allCases.sorted() == [.viewer, .developer, .reviewer, .admin])
        #expect(Role.viewer < .admin)
        #expect(!(Role.admin < .reviewer))
    }

    @Test("parsing an unknown role lists the valid ones")
    func parseRole() throws {
        #expect(try Role(parsing: "reviewer") == .reviewer)
        let error = #expect(throws: SlipwayError.self) { try Role(parsing: "owner") }
        #expect(error?.code == "invalid_role")
        #expect(error?.message.contains("viewer, developer, reviewer, admin") == true)
        #expect(throws: SlipwayError.self) { try Role(parsing: "Admin") }
    }

    @Test("a caller may act only where its role allows")
    func callerCan() {
        let teamA = TeamID.random()
        let teamB = TeamID.random()
        let principal = Self.principal(admin: false)
        let caller = Caller(principal: principal, keyID: .random(), roles: [teamA: .viewer, teamB: .reviewer])
        #expect(caller.can(.read, in: teamA))
        #expect(!caller.can(.write, in: teamA))
        #expect(!caller.can(.readAudit, in: teamA))
        #expect(caller.can(.readAudit, in: teamB))
        #expect(caller.can(.review, in: teamB))
        #expect(!caller.can(.manage, in: teamB))
        #expect(caller.isMember(of: teamA))

        let stranger = TeamID.random()
        #expect(!caller.isMember(of: stranger))
        #expect(Permission.allCases.allSatisfy { !caller.can($0, in: stranger) })
        #expect(!caller.isPlatformAdmin)
    }

    @Test("a platform admin may do everything in every team, member or not")
    func platformAdmin() {
        let caller = Caller(principal: Self.principal(admin: true), keyID: .random(), roles: [:])
        let team = TeamID.random()
        #expect(caller.isPlatformAdmin)
        #expect(caller.isMember(of: team))
        #expect(Permission.allCases.allSatisfy { caller.can($0, in: team) })
    }

    @Test("access policies describe themselves for logs and docs")
    func policyDescription() {
        #expect(AccessPolicy.team(.readAudit).description == "team readAudit")
        #expect(AccessPolicy.platformAdmin.description == "platform admin")
    }

    static func principal(admin: Bool) -> Principal {
        Principal(
            id: .random(), name: admin ? "root" : "alice", kind: .user, ownerTeam: nil, isPlatformAdmin: admin,
            createdAt: Date(timeIntervalSince1970: 0))
    }
}
