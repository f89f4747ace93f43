import Foundation
import SQLKit
import SlipwayCore

/// What the ingest path computed for a new dataset version.
public struct NewDatasetVersion: Sendable, Equatable {
    public var digest: String
    public var format: DatasetFormat
    public var rowCount: Int
    public var columns: [String]
    public var contractVersion: Int
    public var profile: DatasetProfile
    public var report: ValidationReport?
    public var source: String
    /// The SQL a snapshot ran, recorded in the audit entry of the version.
    public var query: String?

    public init(
        digest: String, format: DatasetFormat, rowCount: Int, columns: [String], contractVersion: Int,
        profile: DatasetProfile, report: ValidationReport?, source: String, query: String? = nil
    ) {
        self.query = query
        self.digest = digest
        self.format = format
        self.rowCount = rowCount
        self.columns = columns
        self.contractVersion = contractVersion
        self.profile = profile
        self.report = report
        self.source = source
    }

    /// The status the report gives (valid without a contract).
    public var status: DatasetVersionStatus { report?.status ?? .valid }
}

/// A dataset version with its profile and validation report.
public struct DatasetVersionDetail: Sendable, Equatable {
    public let version: DatasetVersion
    public let profile: DatasetProfile
    public let report: ValidationReport?

    public init(version: DatasetVersion, profile: DatasetProfile, report: ValidationReport?) {
        self.version = version
        self.profile = profile
        self.report = report
    }
}

/// Datasets, their contracts, immutable versions and grants. Every operation is scoped by the owning
/// team; reads by other teams go through ``grant(dataset:grantee:)``.
public protocol DatasetStore: Sendable {
    func createDataset(team: TeamID, name: String, description: String, audit: AuditContext, at now: Date)
        async throws -> Dataset
    func dataset(team: TeamID, name: String) async throws -> Dataset?
    func dataset(id: DatasetID) async throws -> Dataset?
    func datasets(team: TeamID) async throws -> [Dataset]
    /// Datasets of other teams that `grantee` may read, with the grant.
    func sharedDatasets(grantee: TeamID) async throws -> [(Dataset, DatasetGrant)]

    /// Stores a new contract version; later dataset versions are validated against it.
    func putContract(
        team: TeamID, dataset: String, contract: DataContract, document: String, audit: AuditContext, at now: Date
    ) async throws -> ContractVersion
    func contract(dataset: DatasetID, version: Int) async throws -> ContractVersion?
    func contracts(dataset: DatasetID) async throws -> [ContractVersion]

    /// Assigns the next version number. The content must have been uploaded by `team`.
    func addVersion(team: TeamID, dataset: String, _ version: NewDatasetVersion, audit: AuditContext, at now: Date)
        async throws -> DatasetVersion
    func version(dataset: DatasetID, version: Int) async throws -> DatasetVersionDetail?
    func versions(dataset: DatasetID) async throws -> [DatasetVersion]

    /// Grants (or updates) read access for another team.
    func grant(team: TeamID, dataset: String, grantee: TeamID, pii: Bool, audit: AuditContext, at now: Date)
        async throws -> DatasetGrant
    func revoke(team: TeamID, dataset: String, grantee: TeamID, audit: AuditContext, at now: Date) async throws
    func grant(dataset: DatasetID, grantee: TeamID) async throws -> DatasetGrant?
    func grants(dataset: DatasetID) async throws -> [DatasetGrant]

    /// Appends a `dataset.read` audit entry: every read of dataset content is recorded.
    func recordRead(
        dataset: Dataset, version: Int, reader: TeamID, piiUnmasked: Bool, purpose: String, audit: AuditContext,
        at now: Date
    ) async throws

    /// Marks datasets whose freshness SLA has passed without a new version; returns the ones newly marked.
    func markStale(at now: Date) async throws -> [Dataset]
}

/// The SQL implementation of ``DatasetStore``.
public struct SQLDatasetStore: DatasetStore {
    let database: SlipwayDatabase

    public init(database: SlipwayDatabase) {
        self.database = database
    }

    static var decoder: JSONDecoder { StoredJSON.decoder }

    static func json<T: Encodable>(_ value: T) throws -> String { try StoredJSON.text(value) }

    /// The 404 for a dataset name.
    public static func notFound(_ name: String) -> SlipwayError {
        .notFound("dataset '\(name)' was not found", code: "dataset_not_found")
    }

    static let datasetColumns =
        "id, team_id, name, description, latest_version, contract_version, last_version_at, stale, created_at"

    public func createDataset(team: TeamID, name: String, description: String, audit: AuditContext, at now: Date)
        async throws -> Dataset
    {
        try ResourceName.validate(name, as: "dataset name")
        try Description.validate(description)
        let now = Date(milliseconds: now.milliseconds)
        let dataset = Dataset(
            id: .random(), team: team, name: name, description: description, latestVersion: 0, contractVersion: 0,
            lastVersionAt: nil, stale: false, createdAt: now)
        do {
            try await database.transaction { db in
                try await db.raw(
                    """
                    INSERT INTO datasets (id, team_id, name, description, created_at)
                    VALUES (\(bind: dataset.id.rawValue), \(bind: team.rawValue), \(bind: name), \(bind: description),
                        \(bind: now.milliseconds))
                    """
                ).run()
                try await AuditWriter.append(
                    db, context: audit, team: team, action: "dataset.create", target: "dataset:\(name)", at: now)
            }
        } catch where SQLErrors.isUniqueViolation(error) {
            throw SlipwayError.conflict("dataset '\(name)' already exists in this team", code: "dataset_exists")
        }
        return dataset
    }

    public func dataset(team: TeamID, name: String) async throws -> Dataset? {
        try await database.read { db in
            try Self.decodeDatasets(
                try await db.raw(
                    "SELECT \(unsafeRaw: Self.datasetColumns) FROM datasets WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name)"
                ).all()
            ).first
        }
    }

    public func dataset(id: DatasetID) async throws -> Dataset? {
        try await database.read { db in
            try Self.decodeDatasets(
                try await db.raw("SELECT \(unsafeRaw: Self.datasetColumns) FROM datasets WHERE id = \(bind: id.rawValue)")
                    .all()
            ).first
        }
    }

    public func datasets(team: TeamID) async throws -> [Dataset] {
        try await database.read { db in
            try Self.decodeDatasets(
                try await db.raw(
                    "SELECT \(unsafeRaw: Self.datasetColumns) FROM datasets WHERE team_id = \(bind: team.rawValue) ORDER BY name"
                ).all())
        }
    }

    public func sharedDatasets(grantee: TeamID) async throws -> [(Dataset, DatasetGrant)] {
        let datasets = try await database.read { db in
            try Self.decodeDatasets(
                try await db.raw(
                    """
                    SELECT d.id, d.team_id, d.name, d.description, d.latest_version, d.contract_version,
                        d.last_version_at, d.stale, d.created_at
                    FROM datasets d JOIN dataset_grants g ON g.dataset_id = d.id
                    WHERE g.grantee_team_id = \(bind: grantee.rawValue) ORDER BY d.name
                    """
                ).all())
        }
        var result: [(Dataset, DatasetGrant)] = []
        for dataset in datasets {
            if let grant = try await grant(dataset: dataset.id, grantee: grantee) { result.append((dataset, grant)) }
        }
        return result
    }

    static func decodeDatasets(_ rows: [any SQLRow]) throws -> [Dataset] {
        try rows.map { row in
            Dataset(
                id: DatasetID(trusted: try row.decode(column: "id", as: String.self)),
                team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
                name: try row.decode(column: "name", as: String.self),
                description: try row.decode(column: "description", as: String.self),
                latestVersion: Int(try row.decode(column: "latest_version", as: Int64.self)),
                contractVersion: Int(try row.decode(column: "contract_version", as: Int64.self)),
                lastVersionAt: try row.decode(column: "last_version_at", as: Int64?.self).map(Date.init(milliseconds:)),
                stale: try row.decode(column: "stale", as: Int64.self) != 0,
                createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    /// The dataset's id, locking its row (PostgreSQL) for the rest of the transaction.
    static func datasetID(_ db: any SQLDatabase, team: TeamID, name: String) async throws -> String {
        guard
            let row = try await db.raw(
                "SELECT id FROM datasets WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name)"
            ).first()
        else { throw notFound(name) }
        return try row.decode(column: "id", as: String.self)
    }

    public func putContract(
        team: TeamID, dataset: String, contract: DataContract, document: String, audit: AuditContext, at now: Date
    ) async throws -> ContractVersion {
        try contract.validate()
        guard document.utf8.count <= 1 << 20 else {
            throw SlipwayError.badRequest("a contract document is limited to 1 MiB", code: "too_long")
        }
        let now = Date(milliseconds: now.milliseconds)
        let contractJSON = try Self.json(contract)
        return try await database.transaction { db in
            guard
                let row = try await db.raw(
                    """
                    UPDATE datasets SET contract_version = contract_version + 1,
                        freshness_seconds = \(bind: contract.freshnessSeconds.map(Int64.init))
                    WHERE team_id = \(bind: team.rawValue) AND name = \(bind: dataset)
                    RETURNING id, contract_version
                    """
                ).first()
            else { throw Self.notFound(dataset) }
            let id = DatasetID(trusted: try row.decode(column: "id", as: String.self))
            let version = Int(try row.decode(column: "contract_version", as: Int64.self))
            try await db.raw(
                """
                INSERT INTO dataset_contracts (dataset_id, version, document, contract, created_by, created_at)
                VALUES (\(bind: id.rawValue), \(bind: Int64(version)), \(bind: document), \(bind: contractJSON),
                    \(bind: audit.actor), \(bind: now.milliseconds))
                """
            ).run()
            try await AuditWriter.append(
                db, context: audit, team: team, action: "contract.create", target: "dataset:\(dataset)/contract/\(version)",
                at: now)
            return ContractVersion(
                dataset: id, version: version, contract: contract, document: document, createdBy: audit.actor,
                createdAt: now)
        }
    }

    public func contract(dataset: DatasetID, version: Int) async throws -> ContractVersion? {
        try await database.read { db in
            try Self.decodeContracts(
                try await db.raw(
                    """
                    SELECT dataset_id, version, document, contract, created_by, created_at FROM dataset_contracts
                    WHERE dataset_id = \(bind: dataset.rawValue) AND version = \(bind: Int64(version))
                    """
                ).all()
            ).first
        }
    }

    public func contracts(dataset: DatasetID) async throws -> [ContractVersion] {
        try await database.read { db in
            try Self.decodeContracts(
                try await db.raw(
                    """
                    SELECT dataset_id, version, document, contract, created_by, created_at FROM dataset_contracts
                    WHERE dataset_id = \(bind: dataset.rawValue) ORDER BY version
                    """
                ).all())
        }
    }

    static func decodeContracts(_ rows: [any SQLRow]) throws -> [ContractVersion] {
        try rows.map { row in
            ContractVersion(
                dataset: DatasetID(trusted: try row.decode(column: "dataset_id", as: String.self)),
                version: Int(try row.decode(column: "version", as: Int64.self)),
                contract: try decoder.decode(
                    DataContract.self, from: Data(try row.decode(column: "contract", as: String.self).utf8)),
                document: try row.decode(column: "document", as: String.self),
                createdBy: try row.decode(column: "created_by", as: String.self),
                createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    public func addVersion(
        team: TeamID, dataset: String, _ new: NewDatasetVersion, audit: AuditContext, at now: Date
    ) async throws -> DatasetVersion {
        guard Digest.isArtifactDigest(new.digest) else {
            throw SlipwayError.badRequest("digest must be 'sha256:' and 64 lowercase hex digits", code: "invalid_digest")
        }
        let now = Date(milliseconds: now.milliseconds)
        let columnsJSON = try Self.json(new.columns)
        let profileJSON = try Self.json(new.profile)
        let reportJSON = try new.report.map { try Self.json($0) }
        return try await database.transaction { db in
            guard
                let sizeRow = try await db.raw(
                    """
                    SELECT a.size FROM team_artifacts t JOIN artifacts a ON a.digest = t.digest
                    WHERE t.team_id = \(bind: team.rawValue) AND t.digest = \(bind: new.digest)
                    """
                ).first()
            else {
                throw SlipwayError.unprocessable(
                    "content \(new.digest) has not been uploaded by this team", code: "artifact_not_found")
            }
            let size = try sizeRow.decode(column: "size", as: Int64.self)
            guard
                let row = try await db.raw(
                    """
                    UPDATE datasets SET latest_version = latest_version + 1, last_version_at = \(bind: now.milliseconds),
                        stale = 0
                    WHERE team_id = \(bind: team.rawValue) AND name = \(bind: dataset)
                    RETURNING id, latest_version, contract_version
                    """
                ).first()
            else { throw Self.notFound(dataset) }
            let id = DatasetID(trusted: try row.decode(column: "id", as: String.self))
            let number = Int(try row.decode(column: "latest_version", as: Int64.self))
            let currentContract = Int(try row.decode(column: "contract_version", as: Int64.self))
            guard currentContract == new.contractVersion else {
                throw SlipwayError.conflict(
                    "the contract changed to version \(currentContract) while this version was being validated "
                        + "against \(new.contractVersion); push it again", code: "contract_changed")
            }
            try await db.raw(
                """
                INSERT INTO dataset_versions (dataset_id, version, digest, size, format, row_count, columns,
                    contract_version, status, profile, report, source, created_by, created_at)
                VALUES (\(bind: id.rawValue), \(bind: Int64(number)), \(bind: new.digest), \(bind: size),
                    \(bind: new.format.rawValue), \(bind: Int64(new.rowCount)), \(bind: columnsJSON),
                    \(bind: Int64(new.contractVersion)), \(bind: new.status.rawValue), \(bind: profileJSON),
                    \(bind: reportJSON), \(bind: new.source), \(bind: audit.actor), \(bind: now.milliseconds))
                """
            ).run()
            var detail = [
                "digest": new.digest, "rows": String(new.rowCount), "status": new.status.rawValue,
                "contract": String(new.contractVersion), "source": new.source,
            ]
            if let query = new.query { detail["query"] = String(query.prefix(4000)) }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "dataset.version.create", target: "dataset:\(dataset)/\(number)",
                detail: detail, at: now)
            return DatasetVersion(
                dataset: id, version: number, digest: new.digest, size: size, format: new.format,
                rowCount: new.rowCount, columns: new.columns, contractVersion: new.contractVersion,
                status: new.status, source: new.source, createdBy: audit.actor, createdAt: now)
        }
    }

    static let versionColumns = """
        dataset_id, version, digest, size, format, row_count, columns, contract_version, status, source, created_by,
        created_at
        """

    public func version(dataset: DatasetID, version: Int) async throws -> DatasetVersionDetail? {
        try await database.read { db in
            guard
                let row = try await db.raw(
                    """
                    SELECT \(unsafeRaw: Self.versionColumns), profile, report FROM dataset_versions
                    WHERE dataset_id = \(bind: dataset.rawValue) AND version = \(bind: Int64(version))
                    """
                ).first()
            else { return nil }
            let report = try row.decode(column: "report", as: String?.self).map {
                try Self.decoder.decode(ValidationReport.self, from: Data($0.utf8))
            }
            return DatasetVersionDetail(
                version: try Self.decodeVersion(row),
                profile: try Self.decoder.decode(
                    DatasetProfile.self, from: Data(try row.decode(column: "profile", as: String.self).utf8)),
                report: report)
        }
    }

    public func versions(dataset: DatasetID) async throws -> [DatasetVersion] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.versionColumns) FROM dataset_versions
                WHERE dataset_id = \(bind: dataset.rawValue) ORDER BY version
                """
            ).all().map(Self.decodeVersion)
        }
    }

    static func decodeVersion(_ row: any SQLRow) throws -> DatasetVersion {
        DatasetVersion(
            dataset: DatasetID(trusted: try row.decode(column: "dataset_id", as: String.self)),
            version: Int(try row.decode(column: "version", as: Int64.self)),
            digest: try row.decode(column: "digest", as: String.self),
            size: try row.decode(column: "size", as: Int64.self),
            format: DatasetFormat(rawValue: try row.decode(column: "format", as: String.self)) ?? .csv,
            rowCount: Int(try row.decode(column: "row_count", as: Int64.self)),
            columns: try decoder.decode([String].self, from: Data(try row.decode(column: "columns", as: String.self).utf8)),
            contractVersion: Int(try row.decode(column: "contract_version", as: Int64.self)),
            status: DatasetVersionStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .invalid,
            source: try row.decode(column: "source", as: String.self),
            createdBy: try row.decode(column: "created_by", as: String.self),
            createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)))
    }

    public func grant(team: TeamID, dataset: String, grantee: TeamID, pii: Bool, audit: AuditContext, at now: Date)
        async throws -> DatasetGrant
    {
        guard grantee != team else {
            throw SlipwayError.badRequest("a team always reads its own datasets; grant another team", code: "invalid_grant")
        }
        let now = Date(milliseconds: now.milliseconds)
        return try await database.transaction { db in
            let id = try await Self.datasetID(db, team: team, name: dataset)
            guard try await db.raw("SELECT id FROM teams WHERE id = \(bind: grantee.rawValue)").first() != nil else {
                throw SlipwayError.notFound("team \(grantee) was not found", code: "team_not_found")
            }
            try await db.raw(
                """
                INSERT INTO dataset_grants (dataset_id, grantee_team_id, pii, granted_by, granted_at)
                VALUES (\(bind: id), \(bind: grantee.rawValue), \(bind: Int64(pii ? 1 : 0)), \(bind: audit.actor),
                    \(bind: now.milliseconds))
                ON CONFLICT (dataset_id, grantee_team_id) DO UPDATE SET pii = excluded.pii,
                    granted_by = excluded.granted_by, granted_at = excluded.granted_at
                """
            ).run()
            try await AuditWriter.append(
                db, context: audit, team: team, action: "dataset.grant", target: "dataset:\(dataset)",
                detail: ["grantee": grantee.rawValue, "pii": String(pii)], at: now)
            return DatasetGrant(
                dataset: DatasetID(trusted: id), grantee: grantee, pii: pii, grantedBy: audit.actor, grantedAt: now)
        }
    }

    public func revoke(team: TeamID, dataset: String, grantee: TeamID, audit: AuditContext, at now: Date) async throws {
        try await database.transaction { db in
            let id = try await Self.datasetID(db, team: team, name: dataset)
            let removed = try await db.raw(
                """
                DELETE FROM dataset_grants WHERE dataset_id = \(bind: id) AND grantee_team_id = \(bind: grantee.rawValue)
                RETURNING dataset_id
                """
            ).all()
            guard !removed.isEmpty else {
                throw SlipwayError.notFound("team \(grantee) has no grant on '\(dataset)'", code: "grant_not_found")
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "dataset.revoke", target: "dataset:\(dataset)",
                detail: ["grantee": grantee.rawValue], at: now)
        }
    }

    public func grant(dataset: DatasetID, grantee: TeamID) async throws -> DatasetGrant? {
        try await database.read { db in
            try Self.decodeGrants(
                try await db.raw(
                    """
                    SELECT dataset_id, grantee_team_id, pii, granted_by, granted_at FROM dataset_grants
                    WHERE dataset_id = \(bind: dataset.rawValue) AND grantee_team_id = \(bind: grantee.rawValue)
                    """
                ).all()
            ).first
        }
    }

    public func grants(dataset: DatasetID) async throws -> [DatasetGrant] {
        try await database.read { db in
            try Self.decodeGrants(
                try await db.raw(
                    """
                    SELECT dataset_id, grantee_team_id, pii, granted_by, granted_at FROM dataset_grants
                    WHERE dataset_id = \(bind: dataset.rawValue) ORDER BY grantee_team_id
                    """
                ).all())
        }
    }

    static func decodeGrants(_ rows: [any SQLRow]) throws -> [DatasetGrant] {
        try rows.map { row in
            DatasetGrant(
                dataset: DatasetID(trusted: try row.decode(column: "dataset_id", as: String.self)),
                grantee: TeamID(trusted: try row.decode(column: "grantee_team_id", as: String.self)),
                pii: try row.decode(column: "pii", as: Int64.self) != 0,
                grantedBy: try row.decode(column: "granted_by", as: String.self),
                grantedAt: Date(milliseconds: try row.decode(column: "granted_at", as: Int64.self)))
        }
    }

    public func recordRead(
        dataset: Dataset, version: Int, reader: TeamID, piiUnmasked: Bool, purpose: String, audit: AuditContext,
        at now: Date
    ) async throws {
        try await database.transaction { db in
            try await AuditWriter.append(
                db, context: audit, team: dataset.team, action: "dataset.read",
                target: "dataset:\(dataset.name)/\(version)",
                detail: ["reader_team": reader.rawValue, "pii": String(piiUnmasked), "purpose": purpose], at: now)
        }
    }

    public func markStale(at now: Date) async throws -> [Dataset] {
        let cutoff = now.milliseconds
        return try await database.transaction { db in
            let rows = try await db.raw(
                """
                UPDATE datasets SET stale = 1
                WHERE stale = 0 AND freshness_seconds IS NOT NULL
                    AND COALESCE(last_version_at, created_at) + freshness_seconds * 1000 < \(bind: cutoff)
                RETURNING \(unsafeRaw: Self.datasetColumns)
                """
            ).all()
            let marked = try Self.decodeDatasets(rows)
            for dataset in marked {
                try await AuditWriter.append(
                    db, context: .system("freshness"), team: dataset.team, action: "dataset.stale",
                    target: "dataset:\(dataset.name)", at: now)
            }
            return marked
        }
    }
}
