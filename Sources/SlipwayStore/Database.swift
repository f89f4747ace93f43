import Foundation
import Logging
import NIOPosix
import PostgresKit
import PostgresNIO
import SQLKit
import SQLiteKit
import ServiceLifecycle
import SlipwayCore

/// Where the platform's metadata lives.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite file (the embedded default): WAL journal, `synchronous=FULL`.
    case sqlite(path: String)
    /// A private in-memory SQLite database (tests and experiments).
    case sqliteInMemory
    /// A PostgreSQL server, `postgres://user:password@host:port/database?sslmode=disable|require`.
    case postgres(url: String)

    /// Parses `--database`: a `postgres://` URL, `sqlite::memory:`, or a file path (`sqlite://path` also works).
    public init(parsing text: String) throws(SlipwayError) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else if text == "sqlite::memory:" || text == ":memory:" {
            self = .sqliteInMemory
        } else if text.hasPrefix("sqlite://") {
            self = .sqlite(path: String(text.dropFirst("sqlite://".count)))
        } else if !text.isEmpty, !text.contains("://") {
            self = .sqlite(path: text)
        } else {
            let scheme = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            throw .badRequest(
                "unsupported database scheme '\(scheme.prefix(20))': use a postgres:// URL or an SQLite file path",
                code: "invalid_database")
        }
    }

    /// Never prints a password.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .sqliteInMemory: "sqlite::memory:"
        case .postgres(let url):
            Self.redacted(url)
        }
    }

    private static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://…"
    }
}

/// The SQL dialect in use, for the few statements that differ.
public enum SQLBackendKind: String, Sendable {
    case sqlite
    case postgres
}

/// The metadata database: one SQL implementation over SQLite or PostgreSQL.
///
/// All access goes through ``transaction(_:)`` (one transaction per business operation) or
/// ``read(_:)``. It is a `Service`: PostgreSQL's connection pool runs inside ``run()``, and the
/// SQLite connection is closed when it returns.
public final class SlipwayDatabase: Service, Sendable {
    public let kind: SQLBackendKind
    private let backend: any SQLBackend
    private let logger: Logger

    private init(kind: SQLBackendKind, backend: any SQLBackend, logger: Logger) {
        self.kind = kind
        self.backend = backend
        self.logger = logger
    }

    /// Opens the database. For PostgreSQL nothing connects until ``run()`` is running.
    ///
    /// - Parameter existingOnly: for inspecting a database (e.g. verifying a backup): an SQLite file
    ///   must already exist and its journal mode is left as it is.
    public static func open(_ location: DatabaseLocation, logger: Logger, existingOnly: Bool = false) async throws
        -> SlipwayDatabase
    {
        switch location {
        case .sqlite(let path):
            if existingOnly {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw SlipwayError.notFound("no SQLite database at '\(path)'", code: "database_not_found")
                }
            } else {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let backend = try await SQLiteBackend.open(
                storage: .file(path: path), logger: logger, journalWAL: !existingOnly)
            return SlipwayDatabase(kind: .sqlite, backend: backend, logger: logger)
        case .sqliteInMemory:
            let backend = try await SQLiteBackend.open(storage: .memory, logger: logger)
            return SlipwayDatabase(kind: .sqlite, backend: backend, logger: logger)
        case .postgres(let url):
            let backend = try PostgresBackend(url: url, logger: logger)
            return SlipwayDatabase(kind: .postgres, backend: backend, logger: logger)
        }
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    public func transaction<R: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> R
    ) async throws -> R {
        try await backend.transaction(body)
    }

    /// Runs read-only `body` on a connection (a consistent snapshot is not promised across statements).
    public func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await backend.read(body)
    }

    /// Keeps the connection pool alive until graceful shutdown or cancellation. Prefer
    /// ``withRunning(_:)``, which also closes the database afterwards.
    public func run() async throws {
        try await backend.run()
    }

    /// Runs the database (``run()``) around `body`, then stops it: for the server's whole life, a
    /// command-line task, or a test. `run()` may be called once per database.
    public func withRunning<R: Sendable>(_ body: @Sendable () async throws -> R) async throws -> R {
        let outcome: Result<R, any Error> = await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            defer { group.cancelAll() }
            do {
                return .success(try await body())
            } catch {
                return .failure(error)
            }
        }
        try await backend.shutdown()
        return try outcome.get()
    }

    /// Applies pending migrations. Safe to call from several replicas at once.
    public func migrate() async throws {
        try await Migrator(kind: kind).migrate(self)
    }
}

/// One SQL engine's connection handling.
protocol SQLBackend: Sendable {
    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    func run() async throws
    /// Releases connections once ``run()`` has returned.
    func shutdown() async throws
}

/// SQLite: one connection, serialised by an async lock. WAL mode, full fsync on commit.
final class SQLiteBackend: SQLBackend {
    private let connection: SQLiteConnection
    private let lock = AsyncLock()
    private let logger: Logger

    private init(connection: SQLiteConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    static func open(storage: SQLiteConnection.Storage, logger: Logger, journalWAL: Bool = true) async throws
        -> SQLiteBackend
    {
        let connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        let database = connection.sql(queryLogLevel: .trace)
        // WAL lets readers of other processes (backups, `audit verify`) run during writes;
        // synchronous=FULL makes an acknowledged commit survive power loss.
        if case .file = storage, journalWAL {
            try await database.raw("PRAGMA journal_mode=WAL").run()
        }
        try await database.raw("PRAGMA synchronous=FULL").run()
        try await database.raw("PRAGMA foreign_keys=ON").run()
        try await database.raw("PRAGMA busy_timeout=10000").run()
        return SQLiteBackend(connection: connection, logger: logger)
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let database = connection.sql(queryLogLevel: .trace)
        let lock = self.lock
        // Shielded from the caller's cancellation: a COMMIT or ROLLBACK cut short would leave the one
        // connection inside a transaction, and every later BEGIN would fail.
        return try await Task {
            try await Self.transaction(database, lock: lock, body)
        }.value
    }

    private static func transaction<R: Sendable>(
        _ database: any SQLDatabase, lock: AsyncLock, _ body: @escaping @Sendable (any SQLDatabase) async throws -> R
    ) async throws -> R {
        try await lock.withLock {
            try await database.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(database)
                try await database.raw("COMMIT").run()
                return result
            } catch {
                try? await database.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let database = connection.sql(queryLogLevel: .trace)
        return try await lock.withLock { try await body(database) }
    }

    func run() async throws {
        try? await gracefulShutdown()
    }

    func shutdown() async throws {
        // The future-based close is not cut short when the calling task is cancelled.
        try await lock.withLock { try await self.connection.close().get() }
    }
}

/// PostgreSQL: a postgres-nio connection pool.
final class PostgresBackend: SQLBackend {
    private let client: PostgresClient
    private let logger: Logger

    init(url: String, logger: Logger) throws {
        guard let components = URLComponents(string: url), let host = components.host, let user = components.user
        else {
            throw SlipwayError.badRequest(
                "invalid PostgreSQL URL: use postgres://user[:password]@host[:port]/database", code: "invalid_database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-full": tls = .require(.makeClientConfiguration())
        default:
            throw SlipwayError.badRequest(
                "unsupported sslmode '\(sslMode)': use disable, prefer or require", code: "invalid_database")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 16
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(connection.sql(queryLogLevel: .trace))
            }
        } catch let error as PostgresTransactionError {
            // postgres-nio wraps every failure; rethrow the cause (a SlipwayError, a unique violation)
            // so callers see the same errors as on SQLite.
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await body(connection.sql(queryLogLevel: .trace))
        }
    }

    func run() async throws {
        await client.run()
    }

    func shutdown() async throws {}
}

/// JSON for values stored in text columns: sorted keys, so equal values store equal text.
enum StoredJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
    static let decoder = JSONDecoder()

    static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A FIFO async mutex: SQLite's single connection must not interleave two transactions.
actor AsyncLock {
    private var isLocked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private func acquire() async {
        if !isLocked {
            isLocked = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            isLocked = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    nonisolated func withLock<R: Sendable>(_ body: @Sendable () async throws -> R) async throws -> R {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}

/// Recognises constraint violations across both engines.
enum SQLErrors {
    static func isUniqueViolation(_ error: any Error) -> Bool {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] == "23505" }
        if let error = error as? SQLiteError { return error.message.contains("UNIQUE constraint failed") }
        return false
    }

    static func isForeignKeyViolation(_ error: any Error) -> Bool {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] == "23503" }
        if let error = error as? SQLiteError { return error.message.contains("FOREIGN KEY constraint failed") }
        return false
    }
}

extension Date {
    /// Whole milliseconds since 1970: the precision every timestamp is stored with.
    var milliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }

    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
