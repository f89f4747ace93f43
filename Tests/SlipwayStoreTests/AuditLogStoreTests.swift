import Foundation
import SQLKit
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Audit log store")
struct AuditLogStoreTests {
    /// A few audited changes across two teams: 2 teams, 1 user, 2 memberships, 1 model = 6 entries.
    static func populate(_ harness: StoreHarness) async throws -> (Team, Team) {
        let teamA = try await harness.makeTeam("team-a")
        let teamB = try await harness.makeTeam("team-b")
        let user = try await harness.makeUser("dana")
        for team in [teamA, teamB] {
            _ = try await harness.identity.setMembership(
                team: team, principal: user, role: .viewer, audit: StoreHarness.audit("r-\(team.name)"),
                at: StoreHarness.epoch.addingTimeInterval(1))
        }
        _ = try await harness.registry.createModel(
            team: teamA.id, name: "m", description: "", tags: [:], audit: StoreHarness.audit(),
            at: StoreHarness.epoch.addingTimeInterval(2))
        return (teamA, teamB)
    }

    @Test("every mutation appends a chained entry and the chain verifies", arguments: await Backend.all)
    func chainVerifies(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let empty = try await harness.auditLog.verify()
            #expect(empty == AuditVerification(ok: true, checked: 0, firstBrokenSequence: nil, problem: nil))

            let (teamA, _) = try await Self.populate(harness)
            let events = try await harness.auditLog.events(team: nil, after: nil, limit: 100)
            #expect(events.map(\.sequence) == Array(1...6))
            #expect(
                events.map(\.action) == [
                    "team.create", "team.create", "principal.create", "member.set", "member.set", "model.create",
                ])
            #expect(events.first?.previousHash == AuditChain.genesis)
            for (previous, next) in zip(events, events.dropFirst()) {
                #expect(next.previousHash == previous.hash)
            }
            #expect(events.allSatisfy { AuditChain.expectedHash(of: $0) == $0.hash })
            #expect(events[3].requestID == "r-team-a")
            #expect(events[3].detail == #"{"role":"viewer"}"#)
            #expect(events[3].time == StoreHarness.epoch.addingTimeInterval(1))
            #expect(events[5].team == teamA.id)
            #expect(events[2].team == nil)

            let verification = try await harness.auditLog.verify()
            #expect(verification == AuditVerification(ok: true, checked: 6, firstBrokenSequence: nil, problem: nil))
        }
    }

    @Test("events filter by team and page by sequence", arguments: await Backend.all)
    func eventsByTeam(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let (teamA, teamB) = try await Self.populate(harness)
            let forA = try await harness.auditLog.events(team: teamA.id, after: nil, limit: 100)
            #expect(forA.map(\.sequence) == [1, 4, 6])
            #expect(forA.allSatisfy { $0.team == teamA.id })
            #expect(
                try await harness.auditLog.events(team: teamB.id, after: nil, limit: 100).map(\.sequence) == [2, 5])
            #expect(try await harness.auditLog.events(team: teamA.id, after: 1, limit: 1).map(\.sequence) == [4])
            #expect(try await harness.auditLog.events(team: nil, after: 4, limit: 100).map(\.sequence) == [5, 6])
            #expect(try await harness.auditLog.events(team: TeamID.random(), after: nil, limit: 100).isEmpty)
        }
    }

    @Test("an edited row is reported at its sequence number", arguments: await Backend.all)
    func editedRowIsDetected(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            _ = try await Self.populate(harness)
            try await harness.database.transaction { db in
                try await db.raw("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").run()
            }
            let verification = try await harness.auditLog.verify()
            #expect(!verification.ok)
            #expect(verification.firstBrokenSequence == 2)
            #expect(verification.checked == 1)
            #expect(verification.problem?.contains("changed after it was written") == true)
        }
    }

    @Test("a row re-hashed to hide an edit breaks the next entry's link", arguments: await Backend.all)
    func rehashedRowIsDetected(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            _ = try await Self.populate(harness)
            let original = try #require(try await harness.auditLog.events(team: nil, after: 2, limit: 1).first)
            let forged = AuditChain.hash(
                previous: original.previousHash, sequence: 3,
                timeMilliseconds: Int64((original.time.timeIntervalSince1970 * 1000).rounded()), actor: "mallory",
                team: original.team?.rawValue, action: original.action, target: original.target,
                requestID: original.requestID, detail: original.detail)
            try await harness.database.transaction { db in
                try await db.raw("UPDATE audit_log SET actor = 'mallory', hash = \(bind: forged) WHERE seq = 3").run()
            }
            let verification = try await harness.auditLog.verify()
            #expect(!verification.ok)
            #expect(verification.firstBrokenSequence == 4)
            #expect(verification.problem?.contains("does not point at the hash of entry 3") == true)
        }
    }

    @Test("a deleted last row is detected against the head", arguments: await Backend.all)
    func deletedLastRowIsDetected(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            _ = try await Self.populate(harness)
            try await harness.database.transaction { db in
                try await db.raw("DELETE FROM audit_log WHERE seq = 6").run()
            }
            let verification = try await harness.auditLog.verify()
            #expect(!verification.ok)
            #expect(verification.checked == 5)
            #expect(verification.firstBrokenSequence == 6)
            #expect(verification.problem?.contains("were removed") == true)
        }
    }

    @Test("a deleted middle row is detected as a gap", arguments: await Backend.all)
    func deletedMiddleRowIsDetected(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            _ = try await Self.populate(harness)
            try await harness.database.transaction { db in
                try await db.raw("DELETE FROM audit_log WHERE seq = 3").run()
            }
            let verification = try await harness.auditLog.verify()
            #expect(!verification.ok)
            #expect(verification.firstBrokenSequence == 4)
            #expect(verification.problem?.contains("missing or reordered") == true)
        }
    }

    @Test("concurrent writers never fork the chain", arguments: await Backend.all)
    func concurrentAppends(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 {
                    group.addTask { _ = try await harness.makeTeam("team-\(index)") }
                }
                try await group.waitForAll()
            }
            let verification = try await harness.auditLog.verify()
            #expect(verification.ok)
            #expect(verification.checked == 8)
        }
    }
}
