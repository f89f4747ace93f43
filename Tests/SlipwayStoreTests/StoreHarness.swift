import Foundation
import Logging
import NIOCore
import SQLKit
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// One test's world: a migrated database on one backend and a private directory.
struct StoreHarness: Sendable {
    let backend: Backend
    let database: SlipwayDatabase
    /// Deleted after the test.
    let directory: URL

    var identity: SQLIdentityStore { SQLIdentityStore(database: database) }
    var registry: SQLModelRegistryStore { SQLModelRegistryStore(database: database) }
    var auditLog: SQLAuditLogStore { SQLAuditLogStore(database: database) }
    var deployments: SQLDeploymentStore { SQLDeploymentStore(database: database) }
    var datasets: SQLDatasetStore { SQLDatasetStore(database: database) }
    var jobs: SQLJobStore { SQLJobStore(database: database) }

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

        return try await backend.withDatabase(in: directory) { location in
            try await run(location, backend, directory, body)
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
