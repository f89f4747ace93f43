import Foundation
import Logging
import NIOCore
import SlipwayCore
import SlipwayML
import SlipwayStore

/// Ingests dataset versions (stream to the artifact store, then profile and validate in one pass over
/// the stored bytes), answers dry-run validations, reads rows with PII masked, and queues the retraining
/// that a new version triggers.
struct DatasetService: Sendable {
    let datasets: any DatasetStore
    let jobs: any JobStore
    let artifacts: ArtifactStore
    let maxBytes: Int64
    let logger: Logger
    var sources: [DataSource] = []
    var snapshotMaxRows = 50_000_000
    var snapshotTimeoutSeconds = 600

    /// Stores `body` as the next version of `dataset`.
    func push(
        team: TeamID, dataset name: String, format: DatasetFormat, body: some AsyncSequence<ByteBuffer, any Error> & Sendable,
        source: String, query: String? = nil, audit: AuditContext, at now: Date
    ) async throws -> (DatasetVersion, DatasetVersionDetail) {
        guard let dataset = try await datasets.dataset(team: team, name: name) else {
            throw SlipwayError.notFound(
                "dataset '\(name)' was not found; create it first (slipway datasets create \(name))",
                code: "dataset_not_found")
        }
        let contract = try await currentContract(dataset)
        let record = try await artifacts.upload(
            team: team, body: body, expectedDigest: nil, limit: maxBytes, audit: audit, at: now)
        let (columns, profile, report) = try await scan(
            artifacts.chunks(of: record), format: format, contract: contract?.contract)
        let new = NewDatasetVersion(
            digest: record.digest, format: format, rowCount: profile.rowCount, columns: columns,
            contractVersion: contract?.version ?? 0, profile: profile, report: report, source: source, query: query)
        let version = try await datasets.addVersion(team: team, dataset: name, new, audit: audit, at: now)
        try await triggerRetraining(team: team, dataset: name, version: version, at: now)
        return (version, DatasetVersionDetail(version: version, profile: profile, report: report))
    }

    /// The data sources `team` may snapshot from.
    func sources(for team: Team) -> [DataSource] { sources.filter { $0.allows(team: team.name) } }

    /// Runs `query` against an operator-configured source and stores the result (JSON Lines) as the
    /// dataset's next version, validated and profiled like an upload.
    func snapshot(
        team: Team, dataset name: String, source sourceName: String, query: String, audit: AuditContext, at now: Date
    ) async throws -> (DatasetVersion, DatasetVersionDetail) {
        guard let source = sources(for: team).first(where: { $0.name == sourceName }) else {
            throw SlipwayError.notFound(
                "data source '\(sourceName)' is not configured for team '\(team.name)'; available: "
                    + (sources(for: team).map(\.name).joined(separator: ", ").nilIfEmpty ?? "none"),
                code: "data_source_not_found")
        }
        guard try await datasets.dataset(team: team.id, name: name) != nil else { throw SQLDatasetStore.notFound(name) }
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("slipway-snapshot-\(UUID().uuidString.lowercased()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let snapshot = try await SQLSourceReader.snapshot(
            source, query: query, to: path, maxRows: snapshotMaxRows, maxBytes: maxBytes,
            timeoutSeconds: snapshotTimeoutSeconds, logger: logger)
        guard snapshot.rows > 0 else {
            throw SlipwayError.unprocessable("the query returned no rows; nothing to snapshot", code: "empty_snapshot")
        }
        return try await push(
            team: team.id, dataset: name, format: .jsonl, body: FileBuffers(path: path), source: "sql:\(source.name)",
            query: query, audit: audit, at: now)
    }

    /// Validates `body` against the newest contract without storing anything.
    func validate(
        team: TeamID, dataset name: String, format: DatasetFormat, body: some AsyncSequence<ByteBuffer, any Error>
    ) async throws -> (DatasetProfile, ValidationReport?, Int) {
        guard let dataset = try await datasets.dataset(team: team, name: name) else { throw SQLDatasetStore.notFound(name) }
        let contract = try await currentContract(dataset)
        var total: Int64 = 0
        let limit = maxBytes
        let chunks = body.map { buffer -> [UInt8] in
            total += Int64(buffer.readableBytes)
            if total > limit { throw SlipwayError.payloadTooLarge(limit: limit) }
            return Array(buffer: buffer)
        }
        let (_, profile, report) = try await scan(chunks, format: format, contract: contract?.contract)
        return (profile, report, contract?.version ?? 0)
    }

    func currentContract(_ dataset: Dataset) async throws -> ContractVersion? {
        guard dataset.contractVersion > 0 else { return nil }
        return try await datasets.contract(dataset: dataset.id, version: dataset.contractVersion)
    }

    /// Parses every chunk, profiling and validating as it goes.
    func scan(
        _ chunks: some AsyncSequence<[UInt8], any Error>, format: DatasetFormat, contract: DataContract?
    ) async throws -> ([String], DatasetProfile, ValidationReport?) {
        var parser = format.makeParser()
        var scanner: DatasetScanner?
        for try await chunk in chunks {
            try parser.consume(chunk) { number, fields, columns in
                if scanner == nil { scanner = DatasetScanner(columns: columns, contract: contract) }
                scanner!.add(row: number, fields)
            }
        }
        try parser.finish { number, fields, columns in
            if scanner == nil { scanner = DatasetScanner(columns: columns, contract: contract) }
            scanner!.add(row: number, fields)
        }
        let columns = parser.columns ?? []
        let (profile, report) = (scanner ?? DatasetScanner(columns: columns, contract: contract)).finish()
        return (columns, profile, report)
    }

    /// Queues a job for every schedule that retrains on a new version of `dataset`.
    func triggerRetraining(team: TeamID, dataset: String, version: DatasetVersion, at now: Date) async throws {
        guard version.status != .invalid else { return }
        for schedule in try await jobs.schedules(team: team, onNewVersionOf: dataset) {
            var spec = schedule.spec
            spec.datasetVersion = version.version
            let job = try await jobs.enqueue(
                team: team, spec: spec, specDigest: try SpecDigest.of(spec), maxAttempts: JobDefaults.maxAttempts,
                schedule: schedule.id, audit: .system("schedule:\(schedule.name)"), at: now)
            logger.info(
                "queued retraining", metadata: ["job": "\(job.id)", "schedule": "\(schedule.name)", "dataset": "\(dataset)"])
        }
    }

    /// Reads up to `limit` rows after skipping `offset`, masking PII columns unless `unmaskPII`.
    func rows(
        _ version: DatasetVersion, owner: TeamID, contract: DataContract?, offset: Int, limit: Int, unmaskPII: Bool
    ) async throws -> (columns: [String], rows: [[String?]], masked: [String]) {
        let pii = Set(contract?.columns.filter(\.isPII).map(\.name) ?? [])
        guard let record = try await artifacts.record(team: owner, digest: version.digest) else {
            throw SlipwayError.internal("the content of a dataset version is missing from the artifact store")
        }
        var parser = version.format.makeParser()
        var rows: [[String?]] = []
        struct Enough: Error {}
        do {
            for try await chunk in artifacts.chunks(of: record) {
                try parser.consume(chunk) { number, fields, _ in
                    guard number > offset else { return }
                    rows.append(fields)
                    if rows.count >= limit { throw Enough() }
                }
            }
            try parser.finish { number, fields, _ in
                if number > offset, rows.count < limit { rows.append(fields) }
            }
        } catch is Enough {}
        let columns = parser.columns ?? version.columns
        let maskedIndices = unmaskPII ? [] : columns.indices.filter { pii.contains(columns[$0]) }
        for row in rows.indices {
            for index in maskedIndices { rows[row][index] = rows[row][index].map(PIIMask.mask) }
        }
        return (columns, rows, maskedIndices.map { columns[$0] })
    }
}

/// A file's bytes as the async sequence the artifact store reads.
struct FileBuffers: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?

        mutating func next() async throws -> ByteBuffer? {
            guard let handle, let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else {
                try? handle?.close()
                return nil
            }
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// Defaults of the job queue.
enum JobDefaults {
    static let maxAttempts = 2
}

/// The digest of a training spec's canonical JSON, recorded in lineage.
enum SpecDigest {
    static func of(_ spec: TrainingSpec) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return "sha256:" + Digest.sha256Hex(try encoder.encode(spec))
    }
}
