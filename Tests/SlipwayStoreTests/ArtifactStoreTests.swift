import Foundation
import NIOCore
import SQLKit
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Artifact store")
struct ArtifactStoreTests {
    static let audit = StoreHarness.audit()

    static func digest(_ bytes: [UInt8]) -> String { "sha256:" + Digest.sha256Hex(bytes) }

    /// Every regular file under `directory`, relative to it.
    static func files(under directory: URL) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        return enumerator.compactMap { entry -> String? in
            let path = entry as! String
            let full = directory.appendingPathComponent(path).path
            let type = (try? FileManager.default.attributesOfItem(atPath: full))?[.type] as? FileAttributeType
            return type == .typeRegular ? path : nil
        }.sorted()
    }

    static func blobPath(_ root: URL, _ digest: String) -> URL {
        let hex = String(digest.dropFirst("sha256:".count))
        return root.appendingPathComponent("blobs/sha256/\(hex.prefix(2))/\(hex)")
    }

    static func readAllChunks(_ store: ArtifactStore, _ record: ArtifactRecord, chunkSize: Int) async throws -> [UInt8]
    {
        var bytes: [UInt8] = []
        for try await chunk in store.chunks(of: record, chunkSize: chunkSize) { bytes += chunk }
        return bytes
    }

    /// Sets a file's modification time, to make it look left over from long ago.
    static func age(_ url: URL, to date: Date) throws {
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: url.path)
    }

    /// Nothing of a failed upload may remain: no temp file, no blob, no row.
    static func expectNothingStored(_ harness: StoreHarness, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        #expect(Self.files(under: harness.artifactRoot) == [], sourceLocation: sourceLocation)
        #expect(try await harness.count("artifacts") == 0, sourceLocation: sourceLocation)
        #expect(try await harness.count("team_artifacts") == 0, sourceLocation: sourceLocation)
    }

    @Test("a multi-chunk upload is hashed, sized, stored and read back intact", arguments: await Backend.all)
    func uploadAndReadBack(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let bytes = randomBytes(70_001, seed: 1)
            let record = try await harness.expectAudited("artifact.upload") {
                try await store.upload(
                    team: team.id, body: chunked(bytes, sizes: [1, 4096, 10_000, 333, 8192]),
                    expectedDigest: Self.digest(bytes), limit: 70_001, audit: Self.audit, at: StoreHarness.epoch)
            }
            #expect(record == ArtifactRecord(digest: Self.digest(bytes), size: 70_001))
            #expect(try await store.record(team: team.id, digest: record.digest) == record)

            let blob = Self.blobPath(harness.artifactRoot, record.digest)
            #expect(try Data(contentsOf: blob) == Data(bytes))
            #expect(Self.files(under: harness.artifactRoot.appendingPathComponent("tmp")) == [])

            #expect(try await Self.readAllChunks(store, record, chunkSize: 4096) == bytes)
            #expect(try await Self.readAllChunks(store, record, chunkSize: 70_001) == bytes)
            #expect(try await Self.readAllChunks(store, record, chunkSize: 1 << 20) == bytes)
            #expect(try await store.readAll(record, limit: 1 << 20) == bytes)
            #expect(try await store.prefix(of: record, count: 16) == Array(bytes.prefix(16)))
            await expectSlipwayError(.payloadTooLarge) { try await store.readAll(record, limit: 70_000) }
        }
    }

    @Test("empty artifacts are stored too", arguments: [Backend.sqliteInMemory])
    func emptyUpload(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let record = try await store.upload(
                team: team.id, body: chunked([], sizes: [1]), expectedDigest: nil, limit: 10, audit: Self.audit,
                at: StoreHarness.epoch)
            #expect(record == ArtifactRecord(digest: Self.digest([]), size: 0))
            #expect(try await Self.readAllChunks(store, record, chunkSize: 16) == [])
        }
    }

    @Test("the same content uploaded twice is stored once, for each uploading team", arguments: await Backend.all)
    func deduplicates(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let teamA = try await harness.makeTeam("team-a")
            let teamB = try await harness.makeTeam("team-b")
            let teamC = try await harness.makeTeam("team-c")
            let store = try harness.artifacts()
            let bytes = randomBytes(5_000, seed: 2)
            let first = try await store.upload(
                team: teamA.id, body: chunked(bytes, sizes: [1000]), expectedDigest: nil, limit: 10_000,
                audit: Self.audit, at: StoreHarness.epoch)
            let again = try await store.upload(
                team: teamA.id, body: chunked(bytes, sizes: [777]), expectedDigest: nil, limit: 10_000,
                audit: Self.audit, at: StoreHarness.epoch)
            let byB = try await store.upload(
                team: teamB.id, body: chunked(bytes, sizes: [5_000]), expectedDigest: nil, limit: 10_000,
                audit: Self.audit, at: StoreHarness.epoch)
            #expect(first == again)
            #expect(first == byB)
            let hex = String(first.digest.dropFirst(7))
            #expect(Self.files(under: harness.artifactRoot) == ["blobs/sha256/\(hex.prefix(2))/\(hex)"])
            #expect(try await harness.count("artifacts") == 1)
            #expect(try await harness.count("team_artifacts") == 2)
            #expect(try await store.record(team: teamB.id, digest: first.digest) == first)
            #expect(try await store.record(team: teamC.id, digest: first.digest) == nil)
            #expect(try await store.record(team: teamA.id, digest: "not-a-digest") == nil)
            #expect(try await Self.readAllChunks(store, first, chunkSize: 999) == bytes)
        }
    }

    @Test("an upload over the limit is refused and leaves nothing behind", arguments: await Backend.all)
    func overLimit(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let bytes = randomBytes(1_500, seed: 3)
            let audited = try await harness.auditCount()
            let error = await expectSlipwayError(.payloadTooLarge, code: "payload_too_large") {
                try await store.upload(
                    team: team.id, body: chunked(bytes, sizes: [500]), expectedDigest: nil, limit: 1_000,
                    audit: Self.audit, at: StoreHarness.epoch)
            }
            #expect(error?.message.contains("1000 bytes") == true)
            try await Self.expectNothingStored(harness)
            #expect(try await harness.auditCount() == audited)
            // Exactly at the limit is fine.
            let record = try await store.upload(
                team: team.id, body: chunked(Array(bytes.prefix(1_000)), sizes: [500]), expectedDigest: nil,
                limit: 1_000, audit: Self.audit, at: StoreHarness.epoch)
            #expect(record.size == 1_000)
        }
    }

    @Test("a body that fails mid-way leaves nothing behind", arguments: await Backend.all)
    func failingBody(_ backend: Backend) async throws {
        struct ClientWentAway: Error {}
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let body = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
                continuation.yield(ByteBuffer(bytes: randomBytes(2_000, seed: 4)))
                continuation.yield(ByteBuffer(bytes: randomBytes(2_000, seed: 5)))
                continuation.finish(throwing: ClientWentAway())
            }
            await #expect(throws: ClientWentAway.self) {
                try await store.upload(
                    team: team.id, body: body, expectedDigest: nil, limit: 1 << 20, audit: Self.audit,
                    at: StoreHarness.epoch)
            }
            try await Self.expectNothingStored(harness)
        }
    }

    @Test("an upload whose content does not match the expected digest is refused", arguments: await Backend.all)
    func digestMismatch(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let bytes = randomBytes(3_000, seed: 6)
            let claimed = Self.digest(Array(bytes.dropLast()))
            let error = await expectSlipwayError(.badRequest, code: "digest_mismatch") {
                try await store.upload(
                    team: team.id, body: chunked(bytes, sizes: [1024]), expectedDigest: claimed, limit: 1 << 20,
                    audit: Self.audit, at: StoreHarness.epoch)
            }
            #expect(error?.message.contains(claimed) == true)
            try await Self.expectNothingStored(harness)

            await expectSlipwayError(.badRequest, code: "invalid_digest") {
                try await store.upload(
                    team: team.id, body: chunked(bytes, sizes: [1024]), expectedDigest: "sha256:ABC", limit: 1 << 20,
                    audit: Self.audit, at: StoreHarness.epoch)
            }
            try await Self.expectNothingStored(harness)
        }
    }

    @Test(
        "a blob corrupted on disk fails to read back, and its last chunk is withheld",
        arguments: await Backend.all)
    func corruptedBlob(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let bytes = randomBytes(10_000, seed: 7)
            let record = try await harness.upload(bytes, team: team.id)
            let blob = Self.blobPath(harness.artifactRoot, record.digest)
            let handle = try FileHandle(forWritingTo: blob)
            try handle.seek(toOffset: 5_000)
            try handle.write(contentsOf: [bytes[5_000] ^ 0xFF])
            try handle.close()

            for chunkSize in [1_000, 10_000, 1 << 20] {
                var received = 0
                let error = await expectSlipwayError(.internal) {
                    for try await chunk in store.chunks(of: record, chunkSize: chunkSize) { received += chunk.count }
                }
                #expect(error?.message.contains("corrupted") == true)
                #expect(received < bytes.count, "chunk size \(chunkSize)")
            }
            await expectSlipwayError(.internal) { try await store.readAll(record, limit: 1 << 20) }

            // A missing blob fails too, without exposing a path.
            try FileManager.default.removeItem(at: blob)
            let missing = await expectSlipwayError(.internal) { try await store.readAll(record, limit: 1 << 20) }
            #expect(missing?.message.contains(harness.artifactRoot.path) == false)
        }
    }

    @Test(
        "garbage collection removes stale temp files, orphan blobs and old unreferenced artifacts only",
        arguments: await Backend.all)
    func garbageCollection(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = try harness.artifacts()
            let now = Date()
            let longAgo = now.addingTimeInterval(-2 * 86_400)
            let tmp = harness.artifactRoot.appendingPathComponent("tmp")

            // Temp files: one abandoned hours ago, one still being written.
            let staleTemp = tmp.appendingPathComponent("stale.part")
            let freshTemp = tmp.appendingPathComponent("fresh.part")
            try Data([1]).write(to: staleTemp)
            try Data([2]).write(to: freshTemp)
            try Self.age(staleTemp, to: now.addingTimeInterval(-7_200))

            // Blobs the database does not know: an old one (crash leftover) and a fresh one (upload in flight).
            let oldOrphan = Self.blobPath(harness.artifactRoot, Self.digest([3]))
            let freshOrphan = Self.blobPath(harness.artifactRoot, Self.digest([4]))
            for (url, byte) in [(oldOrphan, UInt8(3)), (freshOrphan, 4)] {
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data([byte]).write(to: url)
            }
            try Self.age(oldOrphan, to: longAgo)

            // Artifacts: old and unreferenced (goes), old but used by a version (stays), recent (stays).
            let unreferenced = try await harness.upload(Array("old, unused".utf8), team: team.id, at: longAgo)
            let referenced = try await harness.upload(Array("old, in use".utf8), team: team.id, at: longAgo)
            let recent = try await harness.upload(Array("new, unused".utf8), team: team.id, at: now)
            _ = try await harness.registry.createModel(
                team: team.id, name: "m", description: "", tags: [:], audit: Self.audit, at: now)
            _ = try await harness.registry.createVersion(
                team: team.id, model: "m", NewModelVersion(artifactDigest: referenced.digest, format: .onnx),
                audit: Self.audit, at: now)

            let report = try await harness.expectAudited("artifact.gc", actor: "@system") {
                try await store.collectGarbage(now: now, tempAge: 3_600, unreferencedAge: 86_400)
            }
            #expect(report.staleTempFiles == 1)
            #expect(report.orphanBlobs == 1)
            #expect(report.unreferencedArtifacts == 1)

            let fileManager = FileManager.default
            #expect(!fileManager.fileExists(atPath: staleTemp.path))
            #expect(fileManager.fileExists(atPath: freshTemp.path))
            #expect(!fileManager.fileExists(atPath: oldOrphan.path))
            #expect(fileManager.fileExists(atPath: freshOrphan.path))
            #expect(!fileManager.fileExists(atPath: Self.blobPath(harness.artifactRoot, unreferenced.digest).path))
            #expect(try await store.record(team: team.id, digest: unreferenced.digest) == nil)
            for (kept, content) in [(referenced, "old, in use"), (recent, "new, unused")] {
                #expect(try await store.record(team: team.id, digest: kept.digest) == kept)
                #expect(try await Self.readAllChunks(store, kept, chunkSize: 4) == Array(content.utf8))
            }

            // A second pass finds nothing more and writes no audit entry.
            let audited = try await harness.auditCount()
            #expect(try await store.collectGarbage(now: now) == ArtifactGCReport())
            #expect(try await harness.auditCount() == audited)
            #expect(try await harness.auditLog.verify().ok)
        }
    }

    @Test("re-uploading an artifact keeps it from collection", arguments: [Backend.sqliteInMemory])
    func reuploadRefreshesAge(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let other = try await harness.makeTeam("other")
            let store = try harness.artifacts()
            let now = Date()
            let bytes = Array("weights".utf8)
            let record = try await harness.upload(bytes, team: team.id, at: now.addingTimeInterval(-3 * 86_400))
            _ = try await harness.upload(bytes, team: other.id, at: now)
            #expect(try await store.collectGarbage(now: now).unreferencedArtifacts == 0)
            #expect(try await store.readAll(record, limit: 100) == bytes)
        }
    }
}
