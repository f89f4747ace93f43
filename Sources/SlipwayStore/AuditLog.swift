import Foundation
import SQLKit
import SlipwayCore

/// Reads and verifies the audit log. Entries are appended by the stores, inside the transaction of
/// the change they record (see ``AuditWriter``).
public protocol AuditLogStore: Sendable {
    /// Entries in sequence order after `after`, optionally only one team's.
    func events(team: TeamID?, after: Int64?, limit: Int) async throws -> [AuditEvent]
    /// Recomputes the whole chain and reports the first broken entry.
    func verify() async throws -> AuditVerification
}

/// Appends one entry to the hash chain. Call only inside a transaction.
enum AuditWriter {
    static func append(
        _ db: any SQLDatabase, context: AuditContext, team: TeamID?, action: String, target: String,
        detail: [String: String] = [:], at now: Date
    ) async throws {
        // Taking the head row first serialises appends on PostgreSQL (row lock until commit), so the
        // chain never forks; SQLite has a single writer already.
        guard
            let head = try await db.raw("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .first()
        else { throw SlipwayError.internal("audit_head row is missing: the audit log cannot be appended") }
        let sequence = try head.decode(column: "seq", as: Int64.self)
        let previous = try head.decode(column: "hash", as: String.self)
        let milliseconds = now.milliseconds
        let detailJSON = try encodeDetail(detail)
        let hash = AuditChain.hash(
            previous: previous, sequence: sequence, timeMilliseconds: milliseconds, actor: context.actor,
            team: team?.rawValue, action: action, target: target, requestID: context.requestID, detail: detailJSON)
        try await db.raw(
            """
            INSERT INTO audit_log (seq, at, actor, team_id, action, target, request_id, detail, prev_hash, hash)
            VALUES (\(bind: sequence), \(bind: milliseconds), \(bind: context.actor), \(bind: team?.rawValue),
                    \(bind: action), \(bind: target), \(bind: context.requestID), \(bind: detailJSON),
                    \(bind: previous), \(bind: hash))
            """
        ).run()
        try await db.raw("UPDATE audit_head SET hash = \(bind: hash) WHERE id = 1").run()
    }

    static func encodeDetail(_ detail: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(detail), as: UTF8.self)
    }
}

/// The SQL implementation of ``AuditLogStore``.
public struct SQLAuditLogStore: AuditLogStore {
    let database: SlipwayDatabase

    public init(database: SlipwayDatabase) {
        self.database = database
    }

    public func events(team: TeamID?, after: Int64?, limit: Int) async throws -> [AuditEvent] {
        let after = after ?? 0
        return try await database.read { db in
            let rows: [any SQLRow]
            if let team {
                rows = try await db.raw(
                    """
                    SELECT * FROM audit_log WHERE team_id = \(bind: team.rawValue) AND seq > \(bind: after)
                    ORDER BY seq LIMIT \(bind: Int64(limit))
                    """
                ).all()
            } else {
                rows = try await db.raw(
                    "SELECT * FROM audit_log WHERE seq > \(bind: after) ORDER BY seq LIMIT \(bind: Int64(limit))"
                ).all()
            }
            return try rows.map(Self.decode)
        }
    }

    public func verify() async throws -> AuditVerification {
        // The head is read first and only entries up to it are checked, so writes that commit while
        // the verification runs are neither missed nor mistaken for tampering.
        let head = try await database.read { db in
            try await db.raw("SELECT seq, hash FROM audit_head WHERE id = 1").first()
        }
        guard let head else {
            return AuditVerification(ok: false, checked: 0, firstBrokenSequence: nil, problem: "audit_head is missing")
        }
        let headSequence = try head.decode(column: "seq", as: Int64.self)
        let headHash = try head.decode(column: "hash", as: String.self)
        var verifier = AuditChain.Verifier()
        var after: Int64 = 0
        let batch: Int64 = 1000
        while after < headSequence {
            let start = after
            let rows = try await database.read { db in
                try await db.raw(
                    """
                    SELECT * FROM audit_log WHERE seq > \(bind: start) AND seq <= \(bind: headSequence)
                    ORDER BY seq LIMIT \(bind: batch)
                    """
                ).all().map(Self.decode)
            }
            for event in rows {
                if let problem = verifier.check(event) {
                    return AuditVerification(
                        ok: false, checked: verifier.checked, firstBrokenSequence: event.sequence, problem: problem)
                }
                after = event.sequence
            }
            if rows.count < batch { break }
        }
        if let problem = verifier.checkHead(sequence: headSequence, hash: headHash) {
            return AuditVerification(
                ok: false, checked: verifier.checked, firstBrokenSequence: after + 1, problem: problem)
        }
        return AuditVerification(ok: true, checked: verifier.checked, firstBrokenSequence: nil, problem: nil)
    }

    static func decode(_ row: any SQLRow) throws -> AuditEvent {
        AuditEvent(
            sequence: try row.decode(column: "seq", as: Int64.self),
            time: Date(milliseconds: try row.decode(column: "at", as: Int64.self)),
            actor: try row.decode(column: "actor", as: String.self),
            team: try row.decode(column: "team_id", as: String?.self).map(TeamID.init(trusted:)),
            action: try row.decode(column: "action", as: String.self),
            target: try row.decode(column: "target", as: String.self),
            requestID: try row.decode(column: "request_id", as: String.self),
            detail: try row.decode(column: "detail", as: String.self),
            previousHash: try row.decode(column: "prev_hash", as: String.self),
            hash: try row.decode(column: "hash", as: String.self))
    }
}
