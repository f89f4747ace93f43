import Foundation
import Logging
import NIOCore
import SQLKit
import SlipwayCore
import SlipwayStore
import Testing

/// The database engines every store test runs against: one conformance suite, every backend.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqliteInMemory
    case sqliteFile
    case postgres

    var testDescription: String {
        switch self {
        case .sqliteInMemory: "SQLite in-memory"
        case .sqliteFile: "SQLite file"
        case .postgres: "PostgreSQL"
        }
    }

    /// The backends to test: PostgreSQL is left out (with a printed notice) only when no server is
    /// reachable and `CI` is not `true`; in CI an unreachable server makes its cases fail.
    static var all: [Backend] {
        get async {
            if await PostgresTestServer.shared.unavailableReason() == nil || PostgresTestServer.isCI {
                return allCases
            }
            return [.sqliteInMemory, .sqliteFile]
        }
    }
}

/// The PostgreSQL server named by `SLIPWAY_TEST_POSTGRES_URL`; each test gets its own database on it.
actor PostgresTestServer {
    static let shared = PostgresTestServer()

    static let adminURL =
        ProcessInfo.processInfo.environment["SLIPWAY_TEST_POSTGRES_URL"]
        ?? "postgres://slipway:slipway@127.0.0.1:5432/postgres"
    static let isCI = ProcessInfo.processInfo.environment["CI"]?.lowercased() == "true"
    static var displayURL: String { DatabaseLocation.postgres(url: adminURL).description }

    /// The one probe of the server, shared by every caller (argument lists are built concurrently).
    private var probe: Task<String?, Never>?
    /// Bounds concurrent PostgreSQL tests so parallel runs stay well under `max_connections`.
    private var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let maximumRunning = 6

    /// Why the server cannot be used, or nil if it answered a query. Probed once per test run.
    func unavailableReason() async -> String? {
        if probe == nil {
            probe = Task { await Self.probeServer() }
        }
        return await probe!.value
    }

    private static func probeServer() async -> String? {
        do {
            let database = try await SlipwayDatabase.open(.postgres(url: adminURL), logger: testLogger)
            try await database.withRunning {
                try await withTimeout(seconds: 5, "connecting to PostgreSQL") {
                    _ = try await database.read { try await $0.raw("SELECT 1 AS one").first() }
                }
            }
            return nil
        } catch {
            let reason = String(reflecting: error)
            if isCI {
                print("FAILING PostgreSQL: no server at \(displayURL) (\(reason)), and CI=true requires one.")
            } else {
                print(
                    "SKIPPED PostgreSQL: no server at \(displayURL) (\(reason)). "
                        + "Set SLIPWAY_TEST_POSTGRES_URL or run scripts/ci-postgres.sh; with CI=true this fails.")
            }
            return reason
        }
    }

    func acquire() async {
        if running < maximumRunning {
            running += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            running -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` against a fresh, uniquely named database that is dropped afterwards.
    func withFreshDatabase<R: Sendable>(
        _ body: @Sendable (_ url: String) async throws -> R
    ) async throws -> R {
        if let reason = await unavailableReason() {
            // Only reached when CI=true keeps PostgreSQL in the suite: fail fast, once per test.
            throw PostgresUnavailable(
                description: "PostgreSQL at \(Self.displayURL) is required in CI but unreachable: \(reason)")
        }
        await acquire()
        defer { release() }
        var generator = SystemRandomNumberGenerator()
        let name = "slipway_test_\(String(generator.next() as UInt64, radix: 16))"
        // The name is generated here (lowercase hex), never user input, so it may be spliced in.
        try await Self.admin("CREATE DATABASE \(name)")
        do {
            let result = try await body(Self.url(database: name))
            try await Self.admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            try? await Self.admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    /// Runs one statement outside a transaction (`CREATE DATABASE` cannot run inside one).
    private static func admin(_ statement: String) async throws {
        let database = try await SlipwayDatabase.open(.postgres(url: adminURL), logger: testLogger)
        try await database.withRunning {
            try await withTimeout(seconds: 30, "'\(statement)' on \(displayURL)") {
                try await database.read { try await $0.raw("\(unsafeRaw: statement)").run() }
            }
        }
    }

    private static func url(database name: String) -> String {
        var components = URLComponents(string: adminURL)!
        components.path = "/\(name)"
        return components.string!
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "slipway.store-tests")
    logger.logLevel = .error
    return logger
}()

struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

struct PostgresUnavailable: Error, CustomStringConvertible {
    let description: String
}

func withTimeout<R: Sendable>(
    seconds: Double, _ what: String, _ operation: @escaping @Sendable () async throws -> R
) async throws -> R {
    try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let result = try await group.next(), let value = result else { throw TimeoutError(what: what) }
        return value
    }
}

/// One test's world: a migrated database on one backend and a private directory.
struct StoreHarness: Sendable {
    let backend: Backend
    let database: SlipwayDatabase
    /// Deleted after the test.
    let directory: URL

    var identity: SQLIdentityStore { SQLIdentityStore(database: database) }
    var registry: SQLModelRegistryStore { SQLModelRegistryStore(database: database) }
    var auditLog: SQLAuditLogStore { SQLAuditLogStore(database: database) }

    var artifactRoot: URL { directory.appendingPathComponent("artifacts", isDirectory: true) }
    func artifacts() throws -> ArtifactStore { try ArtifactStore(root: artifactRoot, database: database) }

    /// A fixed instant with whole milliseconds, so stored and returned times compare equal.
    static let epoch = Date(timeIntervalSince1970: 1_750_000_000)

    static func audit(_ requestID: String = "test") -> AuditContext {
        AuditContext(actor: "tester", requestID: requestID)
    }

    /// Runs `body` against a freshly migrated database on `backend`.
    static func with<R: Sendable>(
        _ backend: Backend, _ body: @Sendable (StoreHarness) async throws -> R
    ) async throws -> R {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("slipway-store-tests-\(UUID().uuidString.lowercased())", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        switch backend {
        case .sqliteInMemory:
            return try await run(.sqliteInMemory, backend, directory, body)
        case .sqliteFile:
            let path = directory.appendingPathComponent("db/slipway.sqlite").path
            return try await run(.sqlite(path: path), backend, directory, body)
        case .postgres:
            return try await PostgresTestServer.shared.withFreshDatabase { url in
                try await run(.postgres(url: url), backend, directory, body)
            }
        }
    }

    private static func run<R: Sendable>(
        _ location: DatabaseLocation, _ backend: Backend, _ directory: URL,
        _ body: @Sendable (StoreHarness) async throws -> R
    ) async throws -> R {
        let database = try await SlipwayDatabase.open(location, logger: testLogger)
        return try await database.withRunning {
            try await database.migrate()
            return try await body(StoreHarness(backend: backend, database: database, directory: directory))
        }
    }

    // MARK: - Fixtures

    func makeTeam(_ name: String) async throws -> Team {
        try await identity.createTeam(name: name, description: "team \(name)", audit: Self.audit(), at: Self.epoch)
    }

    func makeUser(_ name: String, admin: Bool = false) async throws -> Principal {
        try await identity.createPrincipal(
            name: name, kind: .user, ownerTeam: nil, isPlatformAdmin: admin, audit: Self.audit(), at: Self.epoch)
    }

    /// Uploads `bytes` for `team` in one chunk.
    @discardableResult
    func upload(_ bytes: [UInt8], team: TeamID, at now: Date = epoch) async throws -> ArtifactRecord {
        try await artifacts().upload(
            team: team, body: chunked(bytes, sizes: [bytes.count]), expectedDigest: nil, limit: 1 << 20,
            audit: Self.audit(), at: now)
    }

    func auditCount() async throws -> Int64 {
        try await database.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM audit_log").first()!.decode(column: "n", as: Int64.self)
        }
    }

    func count(_ table: String) async throws -> Int64 {
        try await database.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").first()!.decode(
                column: "n", as: Int64.self)
        }
    }

    /// Runs `mutation` and checks that it appended exactly one audit entry with `action`.
    @discardableResult
    func expectAudited<R: Sendable>(
        _ action: String, actor: String = "tester", sourceLocation: SourceLocation = #_sourceLocation,
        _ mutation: () async throws -> R
    ) async throws -> R {
        let before = try await auditCount()
        let result = try await mutation()
        let events = try await auditLog.events(team: nil, after: before, limit: 10)
        #expect(events.map(\.action) == [action], sourceLocation: sourceLocation)
        #expect(events.first?.actor == actor, sourceLocation: sourceLocation)
        return result
    }
}

/// Splits `bytes` into a stream of buffers of the given sizes (the last size repeats).
func chunked(_ bytes: [UInt8], sizes: [Int]) -> AsyncStream<ByteBuffer> {
    var chunks: [ByteBuffer] = []
    var offset = 0
    var index = 0
    while offset < bytes.count {
        let size = max(1, sizes[min(index, sizes.count - 1)])
        let end = min(bytes.count, offset + size)
        chunks.append(ByteBuffer(bytes: bytes[offset..<end]))
        offset = end
        index += 1
    }
    let frozen = chunks
    return AsyncStream { continuation in
        for chunk in frozen { continuation.yield(chunk) }
        continuation.finish()
    }
}

/// Seeded bytes for artifact content.
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}

/// Expects `body` to throw a ``SlipwayError`` of `kind` (and `code`, if given).
@discardableResult
func expectSlipwayError<R>(
    _ kind: SlipwayError.Kind, code: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> R
) async -> SlipwayError? {
    do {
        _ = try await body()
        Issue.record("expected SlipwayError .\(kind) but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as SlipwayError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        if let code { #expect(error.code == code, "\(error)", sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record(
            "expected SlipwayError .\(kind) but got \(String(reflecting: error))", sourceLocation: sourceLocation)
        return nil
    }
}
