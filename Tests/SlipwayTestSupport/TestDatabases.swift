import Foundation
import Logging
import SQLKit
import SlipwayStore
import Testing

/// The database engines every store test runs against: one conformance suite, every backend.
public enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqliteInMemory
    case sqliteFile
    case postgres

    public var testDescription: String {
        switch self {
        case .sqliteInMemory: "SQLite in-memory"
        case .sqliteFile: "SQLite file"
        case .postgres: "PostgreSQL"
        }
    }

    /// The backends to test: PostgreSQL is left out (with a printed notice) only when no server is
    /// reachable and `CI` is not `true`; in CI an unreachable server makes its cases fail.
    public static var all: [Backend] {
        get async {
            if await PostgresTestServer.shared.unavailableReason() == nil || PostgresTestServer.isCI {
                return allCases
            }
            return [.sqliteInMemory, .sqliteFile]
        }
    }
}

/// The PostgreSQL server named by `SLIPWAY_TEST_POSTGRES_URL`; each test gets its own database on it.
public actor PostgresTestServer {
    public static let shared = PostgresTestServer()

    public static let adminURL =
        ProcessInfo.processInfo.environment["SLIPWAY_TEST_POSTGRES_URL"]
        ?? "postgres://slipway:slipway@127.0.0.1:5432/postgres"
    public static let isCI = ProcessInfo.processInfo.environment["CI"]?.lowercased() == "true"
    public static var displayURL: String { DatabaseLocation.postgres(url: adminURL).description }

    /// The one probe of the server, shared by every caller (argument lists are built concurrently).
    private var probe: Task<String?, Never>?
    /// Bounds concurrent PostgreSQL tests so parallel runs stay well under `max_connections`.
    private var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let maximumRunning = 6

    /// Why the server cannot be used, or nil if it answered a query. Probed once per test run.
    public func unavailableReason() async -> String? {
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
    public func withFreshDatabase<R: Sendable>(
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
            await Self.drop(name)
            return result
        } catch {
            await Self.drop(name)
            throw error
        }
    }

    /// Drops a throw-away database, retrying briefly: a background process (autovacuum) may be visiting
    /// it. Cleanup never fails the test; a database left behind is reported.
    private static func drop(_ name: String) async {
        for attempt in 1...5 {
            do {
                try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                return
            } catch {
                if attempt == 5 {
                    print("WARNING: could not drop test database \(name): \(String(reflecting: error))")
                    return
                }
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
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

public let testLogger: Logger = {
    var logger = Logger(label: "slipway.store-tests")
    logger.logLevel = .error
    return logger
}()

public struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    public var description: String { "timed out: \(what)" }
}

public struct PostgresUnavailable: Error, CustomStringConvertible {
    public let description: String
}

public func withTimeout<R: Sendable>(
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

extension Backend {
    /// Runs `body` with a fresh database location of this kind: in memory, a file under `directory`,
    /// or a throw-away PostgreSQL database (dropped afterwards).
    public func withDatabase<R: Sendable>(
        in directory: URL, _ body: @Sendable (DatabaseLocation) async throws -> R
    ) async throws -> R {
        switch self {
        case .sqliteInMemory:
            return try await body(.sqliteInMemory)
        case .sqliteFile:
            return try await body(.sqlite(path: directory.appendingPathComponent("db/slipway.sqlite").path))
        case .postgres:
            return try await PostgresTestServer.shared.withFreshDatabase { url in try await body(.postgres(url: url)) }
        }
    }
}
