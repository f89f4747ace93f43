import Crypto
import Foundation
import NIOCore
import NIOPosix
import SQLKit
import SlipwayCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A stored artifact as a team sees it.
public struct ArtifactRecord: Sendable, Equatable, Codable {
    /// `sha256:<hex>`.
    public let digest: String
    public let size: Int64

    public init(digest: String, size: Int64) {
        self.digest = digest
        self.size = size
    }
}

/// What one garbage-collection pass removed.
public struct ArtifactGCReport: Sendable, Equatable {
    public var staleTempFiles = 0
    public var orphanBlobs = 0
    public var unreferencedArtifacts = 0
    public init() {}
}

/// Content-addressed model artifacts: blobs on the local filesystem named by their SHA-256, indexed
/// in the database per team.
///
/// An upload is streamed to a temporary file while it is hashed, fsynced, renamed to its digest
/// name, and the directory fsynced; only then is the database row written. A crash at any point
/// leaves either nothing visible or a complete blob. No client-supplied name ever becomes a path.
public final class ArtifactStore: Sendable {
    let database: SlipwayDatabase
    let root: URL
    let threadPool: NIOThreadPool

    /// - Parameter root: the directory that holds `blobs/` and `tmp/`; created if missing.
    public init(root: URL, database: SlipwayDatabase, threadPool: NIOThreadPool = .singleton) throws {
        self.root = root
        self.database = database
        self.threadPool = threadPool
        try FileManager.default.createDirectory(at: blobsDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tempDirectory, withIntermediateDirectories: true)
    }

    var blobsDirectory: URL { root.appendingPathComponent("blobs/sha256", isDirectory: true) }
    var tempDirectory: URL { root.appendingPathComponent("tmp", isDirectory: true) }

    /// The path of a blob; `digest` must already be validated.
    func blobPath(_ digest: String) -> String {
        let hex = String(digest.dropFirst("sha256:".count))
        return blobsDirectory.appendingPathComponent(String(hex.prefix(2))).appendingPathComponent(hex).path
    }

    /// Streams `body` into the store and records it for `team`.
    ///
    /// - Parameters:
    ///   - expectedDigest: if given, the upload is refused (400) unless the content matches it.
    ///   - limit: the maximum size in bytes; larger bodies are refused (413) as soon as they pass it.
    /// - Throws: ``SlipwayError`` for oversize or mismatched uploads; the body's own error if it is cut
    ///   short. Nothing is left behind in either case.
    public func upload<Body: AsyncSequence & Sendable>(
        team: TeamID, body: Body, expectedDigest: String?, limit: Int64, audit: AuditContext, at now: Date
    ) async throws -> ArtifactRecord where Body.Element == ByteBuffer {
        if let expectedDigest, !Digest.isArtifactDigest(expectedDigest) {
            throw SlipwayError.badRequest(
                "expected digest must be 'sha256:' and 64 lowercase hex digits", code: "invalid_digest")
        }
        let tempPath = tempDirectory.appendingPathComponent("\(UUID().uuidString.lowercased()).part").path
        let file = try await threadPool.runIfActive { try FileHandleBox(creating: tempPath) }
        var hasher = SHA256()
        var size: Int64 = 0
        do {
            for try await chunk in body {
                size += Int64(chunk.readableBytes)
                if size > limit { throw SlipwayError.payloadTooLarge(limit: limit) }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                let bytes = Array(buffer: chunk)
                try await threadPool.runIfActive { try file.write(bytes) }
            }
            try await threadPool.runIfActive { try file.sync() }
            file.close()
        } catch {
            file.close()
            unlink(tempPath)
            throw error
        }
        let digest = "sha256:" + Digest.hex(hasher.finalize())
        if let expectedDigest, expectedDigest != digest {
            unlink(tempPath)
            throw SlipwayError.badRequest(
                "content does not match the expected digest \(expectedDigest) (got \(digest)): the upload was corrupted or truncated",
                code: "digest_mismatch")
        }
        let finalPath = blobPath(digest)
        let record = ArtifactRecord(digest: digest, size: size)
        let total = size
        let pool = threadPool
        do {
            // The rows are written first so that, on PostgreSQL, a concurrent garbage collection of the
            // same digest has either finished (we re-create both) or waits for us; the blob is then
            // (re)placed inside the same transaction.
            try await database.transaction { db in
                try await db.raw(
                    """
                    INSERT INTO artifacts (digest, size, created_at) VALUES (\(bind: digest), \(bind: total), \(bind: now.milliseconds))
                    ON CONFLICT (digest) DO NOTHING
                    """
                ).run()
                try await db.raw(
                    """
                    INSERT INTO team_artifacts (team_id, digest, uploaded_at)
                    VALUES (\(bind: team.rawValue), \(bind: digest), \(bind: now.milliseconds))
                    ON CONFLICT (team_id, digest) DO UPDATE SET uploaded_at = excluded.uploaded_at
                    """
                ).run()
                try await AuditWriter.append(
                    db, context: audit, team: team, action: "artifact.upload", target: "artifact:\(digest)",
                    detail: ["size": String(total)], at: now)
                try await pool.runIfActive { try Self.publish(tempPath, to: finalPath) }
            }
        } catch {
            unlink(tempPath)
            throw error
        }
        return record
    }

    /// Moves a complete temp file to its content address durably: rename, then fsync the directory.
    static func publish(_ tempPath: String, to finalPath: String) throws {
        let directory = (finalPath as NSString).deletingLastPathComponent
        if access(directory, F_OK) != 0 {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try syncDirectory((directory as NSString).deletingLastPathComponent)
        }
        // Always replace: rename is atomic, refreshes the blob's age for garbage collection, and
        // repairs a blob that was damaged on disk.
        guard rename(tempPath, finalPath) == 0 else {
            throw SlipwayError.internal("could not store artifact (rename failed, errno \(errno))")
        }
        try syncDirectory(directory)
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw SlipwayError.internal("could not open directory for fsync (errno \(errno))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SlipwayError.internal("fsync of artifact directory failed (errno \(errno))") }
    }

    /// The artifact if `team` uploaded it.
    public func record(team: TeamID, digest: String) async throws -> ArtifactRecord? {
        guard Digest.isArtifactDigest(digest) else { return nil }
        return try await database.read { db in
            try await db.raw(
                """
                SELECT a.digest, a.size FROM team_artifacts t JOIN artifacts a ON a.digest = t.digest
                WHERE t.team_id = \(bind: team.rawValue) AND t.digest = \(bind: digest)
                """
            ).first().map {
                ArtifactRecord(
                    digest: try $0.decode(column: "digest", as: String.self),
                    size: try $0.decode(column: "size", as: Int64.self))
            }
        }
    }

    /// Reads an artifact in chunks, verifying its digest: the last chunk is only delivered after the
    /// whole content has matched, so a corrupted blob never reads back complete.
    public func chunks(of record: ArtifactRecord, chunkSize: Int = 256 * 1024) -> ArtifactChunks {
        ArtifactChunks(
            path: blobPath(record.digest), digest: record.digest, chunkSize: chunkSize, threadPool: threadPool)
    }

    /// Reads up to `count` leading bytes (for format detection). Not digest-verified.
    public func prefix(of record: ArtifactRecord, count: Int) async throws -> [UInt8] {
        let path = blobPath(record.digest)
        return try await threadPool.runIfActive {
            let file = try FileHandleBox(reading: path)
            defer { file.close() }
            return try file.read(upTo: count)
        }
    }

    /// Reads and verifies a whole artifact into memory; for model loading, refuses more than `limit` bytes.
    public func readAll(_ record: ArtifactRecord, limit: Int64) async throws -> [UInt8] {
        guard record.size <= limit else { throw SlipwayError.payloadTooLarge(limit: limit) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Int(record.size))
        for try await chunk in chunks(of: record) { bytes += chunk }
        return bytes
    }

    /// Removes stale temp files, blobs the database does not know (left by a crash), and artifacts
    /// no model version references once they are older than `unreferencedAge`.
    public func collectGarbage(now: Date, tempAge: TimeInterval = 3600, unreferencedAge: TimeInterval = 86_400)
        async throws -> ArtifactGCReport
    {
        var report = ArtifactGCReport()
        let fileManager = FileManager.default
        let tempCutoff = now.addingTimeInterval(-tempAge)
        for name in (try? fileManager.contentsOfDirectory(atPath: tempDirectory.path)) ?? [] {
            let path = tempDirectory.appendingPathComponent(name).path
            if let modified = Self.modificationDate(path), modified < tempCutoff, unlink(path) == 0 {
                report.staleTempFiles += 1
            }
        }
        let cutoff = now.addingTimeInterval(-unreferencedAge).milliseconds
        let removable = try await database.transaction { db in
            let rows = try await db.raw(
                """
                SELECT a.digest FROM artifacts a
                WHERE NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.artifact_digest = a.digest)
                AND NOT EXISTS (SELECT 1 FROM dataset_versions d WHERE d.digest = a.digest)
                AND NOT EXISTS (SELECT 1 FROM team_artifacts t WHERE t.digest = a.digest AND t.uploaded_at > \(bind: cutoff))
                AND a.created_at <= \(bind: cutoff)
                """
            ).all()
            let digests = try rows.map { try $0.decode(column: "digest", as: String.self) }
            for digest in digests {
                try await db.raw("DELETE FROM team_artifacts WHERE digest = \(bind: digest)").run()
                try await db.raw("DELETE FROM artifacts WHERE digest = \(bind: digest)").run()
            }
            if !digests.isEmpty {
                try await AuditWriter.append(
                    db, context: .system("gc"), team: nil, action: "artifact.gc", target: "artifacts",
                    detail: ["removed": String(digests.count)], at: now)
            }
            // Files go last, still inside the transaction: an upload of the same digest waits on
            // these rows (PostgreSQL) or on the connection (SQLite), and re-places its blob after us.
            var removed = 0
            for digest in digests where unlink(self.blobPath(digest)) == 0 { removed += 1 }
            return removed
        }
        report.unreferencedArtifacts = removable
        let known = Set(
            try await database.read { db in
                try await db.raw("SELECT digest FROM artifacts").all().map {
                    try $0.decode(column: "digest", as: String.self)
                }
            })
        for shard in (try? fileManager.contentsOfDirectory(atPath: blobsDirectory.path)) ?? [] {
            let shardPath = blobsDirectory.appendingPathComponent(shard).path
            for name in (try? fileManager.contentsOfDirectory(atPath: shardPath)) ?? [] {
                let path = shardPath + "/" + name
                guard !known.contains("sha256:" + name), let modified = Self.modificationDate(path),
                    modified < tempCutoff
                else { continue }
                if unlink(path) == 0 { report.orphanBlobs += 1 }
            }
        }
        return report
    }

    static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}

/// An async sequence of an artifact's bytes that fails if the content does not match its digest.
public struct ArtifactChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let path: String
    let digest: String
    let chunkSize: Int
    let threadPool: NIOThreadPool

    public struct AsyncIterator: AsyncIteratorProtocol {
        let sequence: ArtifactChunks
        var file: FileHandleBox?
        var hasher = SHA256()
        var pending: [UInt8]?
        var finished = false

        public mutating func next() async throws -> [UInt8]? {
            if finished { return nil }
            if file == nil {
                let path = sequence.path
                file = try await sequence.threadPool.runIfActive { try FileHandleBox(reading: path) }
                pending = try await readChunk()
            }
            // Hold one chunk back so the final chunk is released only after the digest matched.
            guard let current = pending else { return nil }
            let following = try await readChunk()
            if following == nil {
                file?.close()
                finished = true
                let actual = "sha256:" + Digest.hex(hasher.finalize())
                guard actual == sequence.digest else {
                    throw SlipwayError.internal(
                        "artifact \(sequence.digest) is corrupted on disk (content hashes to \(actual))")
                }
            }
            pending = following
            return current
        }

        mutating func readChunk() async throws -> [UInt8]? {
            guard let file else { return nil }
            let size = sequence.chunkSize
            let chunk = try await sequence.threadPool.runIfActive { try file.read(upTo: size) }
            if chunk.isEmpty { return nil }
            hasher.update(data: chunk)
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(sequence: self) }
}

/// A POSIX file descriptor with the few operations the artifact store needs.
/// Used by one task at a time (an upload, or one download's iterator).
final class FileHandleBox: @unchecked Sendable {
    private let fd: Int32
    private var closed = false

    init(creating path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SlipwayError.internal("could not create artifact temp file (errno \(errno))") }
    }

    init(reading path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SlipwayError.internal("artifact blob is missing from the store (errno \(errno))")
        }
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { posixWrite(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SlipwayError.internal("writing artifact failed (errno \(errno))")
            }
            offset += written
        }
    }

    func read(upTo count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer[filled...].withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw SlipwayError.internal("reading artifact failed (errno \(errno))")
            }
            if got == 0 { break }
            filled += got
        }
        buffer.removeSubrange(filled...)
        return buffer
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw SlipwayError.internal("fsync of artifact failed (errno \(errno))") }
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = posixClose(fd)
    }

    /// A download abandoned by its client drops its iterator without reaching the end.
    deinit { close() }
}

private func posixClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
        Glibc.close(fd)
    #else
        Darwin.close(fd)
    #endif
}

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
    #else
        Darwin.write(fd, buffer, count)
    #endif
}

private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.read(fd, buffer, count)
    #else
        Darwin.read(fd, buffer, count)
    #endif
}
