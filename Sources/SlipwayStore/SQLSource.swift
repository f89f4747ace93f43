import Foundation
import Logging
import NIOCore
import PostgresNIO
import SQLiteNIO
import SlipwayCore

/// A database the platform operator lets teams snapshot into datasets, configured on the server
/// (`slipway serve --data-source NAME[@TEAM,TEAM]=URL`). Credentials stay on the server: teams name
/// the source, never its URL, and no client-chosen path ever reaches the filesystem.
public struct DataSource: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case postgres, sqlite
    }

    public let name: String
    public let kind: Kind
    let url: String
    /// Teams allowed to use it; nil: every team.
    public let teams: Set<String>?

    /// Parses `NAME[@TEAM,TEAM]=URL`, where URL is `postgres://user[:password]@host[:port]/db` or
    /// `sqlite:///absolute/path.db`.
    public init(parsing text: String) throws(SlipwayError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw .badRequest("a data source is NAME[@TEAM,TEAM]=URL", code: "invalid_data_source")
        }
        let head = text[..<equals]
        let url = String(text[text.index(after: equals)...])
        let parts = head.split(separator: "@", maxSplits: 1)
        guard let first = parts.first else { throw .badRequest("a data source needs a name", code: "invalid_data_source") }
        let name = String(first)
        try ResourceName.validate(name, as: "data source name")
        self.name = name
        self.teams = parts.count == 2 ? Set(parts[1].split(separator: ",").map(String.init)) : nil
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            kind = .postgres
        } else if url.hasPrefix("sqlite:///") {
            kind = .sqlite
        } else {
            throw .badRequest(
                "data source '\(name)': the URL must start with postgres:// or sqlite:///", code: "invalid_data_source")
        }
        self.url = url
    }

    public func allows(team: String) -> Bool { teams?.contains(team) ?? true }
}

/// Runs a team's query against a ``DataSource`` read-only and writes the result as JSON Lines.
public enum SQLSourceReader {
    /// What a snapshot wrote.
    public struct Snapshot: Sendable {
        public let rows: Int
        public let bytes: Int64
    }

    /// Runs `query` in a read-only transaction (PostgreSQL) or on a query-only connection (SQLite) and
    /// writes one JSON object per row to `path`.
    ///
    /// - Throws: ``SlipwayError`` (422) naming the database's complaint, or when the result passes
    ///   `maxRows` or `maxBytes`.
    public static func snapshot(
        _ source: DataSource, query: String, to path: String, maxRows: Int, maxBytes: Int64, timeoutSeconds: Int,
        logger: Logger
    ) async throws -> Snapshot {
        let trimmed = query.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";")))
        guard !trimmed.isEmpty, trimmed.utf8.count <= 64 * 1024 else {
            throw SlipwayError.badRequest("query must be 1 byte to 64 KiB of SQL", code: "invalid_query")
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path)
        else { throw SlipwayError.internal("cannot create a temporary snapshot file") }
        let writer = LineWriter(handle: handle, maxRows: maxRows, maxBytes: maxBytes)
        defer { try? handle.close() }
        do {
            switch source.kind {
            case .postgres: try await postgres(source, query: trimmed, writer: writer, timeoutSeconds: timeoutSeconds, logger: logger)
            case .sqlite: try await sqlite(source, query: trimmed, writer: writer)
            }
            try writer.flush()
        } catch let error as SlipwayError {
            throw error
        } catch let error as PSQLError {
            throw SlipwayError.unprocessable(
                "data source '\(source.name)' refused the query: \(error.serverInfo?[.message] ?? "\(error.code)")",
                code: "query_failed")
        } catch {
            throw SlipwayError.unprocessable(
                "data source '\(source.name)' refused the query: \(error)", code: "query_failed")
        }
        return Snapshot(rows: writer.rows, bytes: writer.bytes)
    }

    static func postgres(
        _ source: DataSource, query: String, writer: LineWriter, timeoutSeconds: Int, logger: Logger
    ) async throws {
        guard let components = URLComponents(string: source.url), let host = components.host,
            let user = components.user
        else {
            throw SlipwayError.internal("data source '\(source.name)' has an invalid PostgreSQL URL")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let tls: PostgresConnection.Configuration.TLS
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable" {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(try .init(configuration: .makeClientConfiguration()))
        default: tls = .require(try .init(configuration: .makeClientConfiguration()))
        }
        let configuration = PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await connection.query("START TRANSACTION READ ONLY", logger: logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(max(1, timeoutSeconds) * 1000)"), logger: logger)
            // The team's query is the statement by design (as in any BI tool); the read-only transaction
            // and the timeout bound what it can do. One statement only: the extended protocol refuses more.
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT row_to_json(q)::text FROM (\(query)) AS q"), logger: logger)
            for try await row in rows {
                try writer.write(try row.decode(String.self))
            }
            try await connection.query("ROLLBACK", logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    static func sqlite(_ source: DataSource, query: String, writer: LineWriter) async throws {
        let path = String(source.url.dropFirst("sqlite://".count))
        guard FileManager.default.fileExists(atPath: path) else {
            throw SlipwayError.unprocessable("data source '\(source.name)': the database file does not exist", code: "query_failed")
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        do {
            _ = try await connection.query("PRAGMA query_only = ON", [])
            let failure = FailureBox()
            try await connection.query(query, []) { row in
                guard failure.error == nil else { return }
                do { try writer.write(Self.json(row)) } catch { failure.error = error }
            }
            if let error = failure.error { throw error }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    static func json(_ row: SQLiteRow) -> String {
        var parts: [String] = []
        for column in row.columns {
            let value: String
            switch column.data {
            case .integer(let number): value = String(number)
            case .float(let number): value = number.isFinite ? "\(number)" : "null"
            case .text(let text): value = quote(text)
            case .blob(let buffer): value = quote(Data(buffer: buffer).base64EncodedString())
            case .null: value = "null"
            }
            parts.append("\(quote(column.name)):\(value)")
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// Buffers JSON lines into a file, enforcing the row and byte limits.
final class LineWriter: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private let maxRows: Int
    private let maxBytes: Int64
    private var buffer = Data()
    private(set) var rows = 0
    private(set) var bytes: Int64 = 0

    init(handle: FileHandle, maxRows: Int, maxBytes: Int64) {
        self.handle = handle
        self.maxRows = maxRows
        self.maxBytes = maxBytes
    }

    func write(_ line: String) throws {
        try lock.withLock {
            rows += 1
            bytes += Int64(line.utf8.count + 1)
            guard rows <= maxRows else {
                throw SlipwayError.unprocessable(
                    "the query returned more than \(maxRows) rows; narrow it", code: "snapshot_too_large")
            }
            guard bytes <= maxBytes else { throw SlipwayError.payloadTooLarge(limit: maxBytes) }
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
    }

    func flush() throws {
        try lock.withLock {
            try handle.write(contentsOf: buffer)
            buffer.removeAll()
            try handle.synchronize()
        }
    }
}

/// The first error raised inside a synchronous row callback.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    var error: (any Error)? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
