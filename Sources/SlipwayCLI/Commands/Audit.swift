import ArgumentParser
import Foundation
import Logging
import SlipwayCore
import SlipwayStore

/// `slipway audit …`.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hash-chained audit log.", subcommands: [List.self, Verify.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Audit entries of a team (all teams for platform admins without --team).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Option(help: "Entries after this sequence number.") var after: Int?
        @Option(help: "Cursor from a previous page (same as --after).") var cursor: String?
        @Option(help: "At most this many entries (1-1000).") var limit: Int = 100
        func run() async throws {
            try await reporting {
                var path = "/api/v1/audit?limit=\(limit)"
                // Platform admins may list every team's entries by giving no team at all.
                if let team = try? options.team(team) { path += "&team=\(team.pathSegment)" }
                if let after { path += "&after=\(after)" }
                if let cursor { path += "&cursor=\(cursor.pathSegment)" }
                let data = try await options.client().send(.GET, path)
                Output.render(
                    data, options.output,
                    columns: [
                        ("SEQ", "sequence"), ("TIME", "time"), ("ACTOR", "actor"), ("ACTION", "action"),
                        ("TARGET", "target"),
                        ("REQUEST", "request_id"),
                    ])
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit hash chain and report the first broken entry.",
            discussion: """
                Asks the server (platform admin key), or with --database reads the store directly,
                e.g. on a backup. Exits 6 if the chain is broken.
                """)
        @OptionGroup var options: ClientOptions
        @Option(help: "Verify this database directly: an SQLite path or a postgres:// URL.") var database: String?

        func run() async throws {
            try await reporting {
                let result: AuditVerification
                if let database {
                    let location = try DatabaseLocation(parsing: database)
                    let store = try await SlipwayDatabase.open(
                        location, logger: Logger(label: "slipway.audit"), existingOnly: true)
                    result = try await store.withRunning { try await SQLAuditLogStore(database: store).verify() }
                } else {
                    let data = try await options.client().send(.GET, "/api/v1/audit/verify")
                    let object = Output.object(data)
                    result = AuditVerification(
                        ok: object["ok"] as? Bool ?? false, checked: (object["checked"] as? NSNumber)?.int64Value ?? 0,
                        firstBrokenSequence: (object["first_broken_sequence"] as? NSNumber)?.int64Value,
                        problem: object["problem"] as? String)
                }
                if options.output == .json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(result), as: UTF8.self))
                } else if result.ok {
                    print("audit chain intact: \(result.checked) entries verified")
                } else {
                    print(
                        "audit chain BROKEN at entry \(result.firstBrokenSequence.map(String.init) ?? "?"): \(result.problem ?? "")"
                    )
                    print("(\(result.checked) entries before it verified)")
                }
                if !result.ok { throw ExitCode(ExitCodes.auditBroken) }
            }
        }
    }
}
