import Foundation
import SQLKit
import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayStore

@Suite("Database")
struct DatabaseTests {
    /// Reports the PostgreSQL server once: skipped (cancelled, with the reason) locally, failed in CI.
    @Test("PostgreSQL server for the conformance suite is reachable")
    func postgresIsReachable() async throws {
        guard let reason = await PostgresTestServer.shared.unavailableReason() else { return }
        if PostgresTestServer.isCI {
            Issue.record("CI=true requires PostgreSQL at \(PostgresTestServer.displayURL): \(reason)")
        } else {
            try Test.cancel(
                "SKIPPED PostgreSQL: no server at \(PostgresTestServer.displayURL); its store tests were not run")
        }
    }

    @Test("migrate() is idempotent and keeps data", arguments: await Backend.all)
    func migrateTwice(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("payments")
            let applied = try await harness.count("slipway_migrations")
            #expect(applied == Int64(Schema.migrations.count))
            try await harness.database.migrate()
            try await harness.database.migrate()
            #expect(try await harness.count("slipway_migrations") == applied)
            #expect(try await harness.identity.team(named: "payments") == team)
            #expect(try await harness.count("audit_head") == 1)
            #expect(try await harness.auditLog.verify().ok)
        }
    }

    @Test("concurrent migrate() calls on one database all succeed", arguments: await Backend.all)
    func concurrentMigrate(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { try await harness.database.migrate() } }
                try await group.waitForAll()
            }
            #expect(try await harness.count("slipway_migrations") == Int64(Schema.migrations.count))
        }
    }

    @Test("SQLite files use WAL; in-memory databases cannot", arguments: [Backend.sqliteFile, .sqliteInMemory])
    func journalMode(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let mode = try await harness.database.read { db in
                try await db.raw("PRAGMA journal_mode").first()?.decode(column: "journal_mode", as: String.self)
            }
            #expect(mode == (backend == .sqliteFile ? "wal" : "memory"))
            let foreignKeys = try await harness.database.read { db in
                try await db.raw("PRAGMA foreign_keys").first()?.decode(column: "foreign_keys", as: Int64.self)
            }
            #expect(foreignKeys == 1)
        }
    }

    @Test("an SQLite file keeps its data after the service stops and reopens")
    func sqliteFileSurvivesReopen() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("slipway-reopen-\(UUID().uuidString.lowercased())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let location = DatabaseLocation.sqlite(path: directory.appendingPathComponent("nested/meta.sqlite").path)

        let first = try await SlipwayDatabase.open(location, logger: testLogger)
        try await first.withRunning {
            try await first.migrate()
            _ = try await SQLIdentityStore(database: first).createTeam(
                name: "kept", description: "", audit: .system(), at: StoreHarness.epoch)
        }
        let second = try await SlipwayDatabase.open(location, logger: testLogger)
        try await second.withRunning {
            try await second.migrate()
            #expect(try await SQLIdentityStore(database: second).team(named: "kept")?.name == "kept")
            #expect(try await SQLAuditLogStore(database: second).verify().ok)
        }
    }

    @Test("a failed transaction is rolled back", arguments: await Backend.all)
    func rollback(_ backend: Backend) async throws {
        struct Boom: Error {}
        try await StoreHarness.with(backend) { harness in
            await #expect(throws: Boom.self) {
                try await harness.database.transaction { db in
                    try await db.raw("INSERT INTO teams (id, name, description, created_at) VALUES ('t', 'x', '', 0)")
                        .run()
                    throw Boom()
                }
            }
            let teams = try await harness.count("teams")
            #expect(teams == 0)
        }
    }

    @Test("database locations parse and never print passwords")
    func locations() throws {
        #expect(try DatabaseLocation(parsing: "sqlite::memory:") == .sqliteInMemory)
        #expect(try DatabaseLocation(parsing: ":memory:") == .sqliteInMemory)
        #expect(
            try DatabaseLocation(parsing: "/var/lib/slipway/meta.sqlite")
                == .sqlite(path: "/var/lib/slipway/meta.sqlite"))
        #expect(try DatabaseLocation(parsing: "sqlite://data/meta.sqlite") == .sqlite(path: "data/meta.sqlite"))
        let postgres = try DatabaseLocation(parsing: "postgres://app:s3cret@db:5432/slipway")
        #expect(postgres == .postgres(url: "postgres://app:s3cret@db:5432/slipway"))
        #expect(!postgres.description.contains("s3cret"))
        #expect(postgres.description.contains("app:***@db"))
        for bad in ["", "mysql://db/x", "http://x"] {
            let error = #expect(throws: SlipwayError.self) { try DatabaseLocation(parsing: bad) }
            #expect(error?.code == "invalid_database")
        }
    }

    @Test("unsupported PostgreSQL settings are refused before connecting")
    func badPostgresURL() async {
        await expectSlipwayError(.badRequest, code: "invalid_database") {
            try await SlipwayDatabase.open(.postgres(url: "postgres://u@h/db?sslmode=allow"), logger: testLogger)
        }
        await expectSlipwayError(.badRequest, code: "invalid_database") {
            try await SlipwayDatabase.open(.postgres(url: "postgres:///db"), logger: testLogger)
        }
    }
}
