import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("SQL data sources")
struct SQLSourceTests {
    @Test("a source is NAME[@TEAM,TEAM]=URL; other URLs and names are refused")
    func parsing() throws {
        let open = try DataSource(parsing: "warehouse=postgres://u:p@db:5432/dw")
        #expect(open.name == "warehouse" && open.kind == .postgres && open.allows(team: "anyone"))
        let scoped = try DataSource(parsing: "crm@fraud,growth=sqlite:///srv/crm.db")
        #expect(scoped.kind == .sqlite && scoped.allows(team: "growth") && !scoped.allows(team: "other"))
        for bad in ["warehouse", "Bad Name=postgres://u@h/d", "x=mysql://u@h/d", "x=sqlite://relative.db"] {
            #expect(throws: SlipwayError.self, "\(bad)") { try DataSource(parsing: bad) }
        }
    }

    /// The backends that are real databases a source can point at.
    static var backends: [Backend] { get async { await Backend.all.filter { $0 != .sqliteInMemory } } }

    @Test("a query's rows become JSON Lines; writes are refused and change nothing", arguments: await backends)
    func snapshot(_ backend: Backend) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await backend.withDatabase(in: directory) { location in
            let database = try await SlipwayDatabase.open(location, logger: testLogger)
            let url: String
            switch location {
            case .sqlite(let path): url = "sqlite://" + path
            case .postgres(let value): url = value
            case .sqliteInMemory: return
            }
            try await database.withRunning {
                try await database.transaction { db in
                    try await db.raw("CREATE TABLE sales (id INTEGER, region TEXT, amount DOUBLE PRECISION, note TEXT)").run()
                    try await db.raw(
                        "INSERT INTO sales VALUES (1, 'north', 10.5, 'a \"quoted\"\nline'), (2, 'south', 7, NULL), (3, 'north', 2.25, 'x')"
                    ).run()
                }
            }
            let source = try DataSource(parsing: "wh=\(url)")
            let output = directory.appendingPathComponent("out.jsonl").path
            let snapshot = try await SQLSourceReader.snapshot(
                source, query: "SELECT id, region, amount, note FROM sales WHERE amount > 5 ORDER BY id;", to: output,
                maxRows: 100, maxBytes: 1 << 20, timeoutSeconds: 10, logger: testLogger)
            #expect(snapshot.rows == 2)
            let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
            let rows = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
            #expect(rows.map { ($0["id"] as? NSNumber)?.intValue } == [1, 2])
            #expect(rows.first?["note"] as? String == "a \"quoted\"\nline")
            #expect(rows.last?["note"] is NSNull)
            #expect((rows.first?["amount"] as? NSNumber)?.doubleValue == 10.5)

            for write in ["DELETE FROM sales", "UPDATE sales SET amount = 0"] {
                await #expect(throws: SlipwayError.self, "\(write)") {
                    try await SQLSourceReader.snapshot(
                        source, query: write, to: output, maxRows: 100, maxBytes: 1 << 20, timeoutSeconds: 10,
                        logger: testLogger)
                }
            }
            await #expect(throws: SlipwayError.self) {
                try await SQLSourceReader.snapshot(
                    source, query: "SELECT * FROM sales", to: output, maxRows: 2, maxBytes: 1 << 20, timeoutSeconds: 10,
                    logger: testLogger)
            }
            let reopened = try await SlipwayDatabase.open(location, logger: testLogger)
            let count = try await reopened.withRunning {
                try await reopened.read { db in
                    try await db.raw("SELECT COUNT(*) AS n FROM sales").first()!.decode(column: "n", as: Int64.self)
                }
            }
            #expect(count == 3)
        }
    }
}
