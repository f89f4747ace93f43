import Foundation
import SQLKit
import SlipwayCore

/// Deployments (what serves where), usage counters and the sampled prediction log. Every operation on a
/// deployment is scoped by team: another team's deployment is simply not found.
public protocol DeploymentStore: Sendable {
    /// Creates the deployment of `endpoint` in `environment`, or replaces its model, routes, fallback and
    /// settings (bumping its revision). Checks in one transaction that the model and every version exist
    /// and are `ready`, and, for production, that every version is allowed there.
    /// Creates or replaces a deployment, bumping its revision.
    ///
    /// Updates are compare-and-set on the revision read in the same transaction, so two concurrent updates
    /// never both succeed from the same revision (the loser gets 409 `deployment_changed`).
    /// - Parameter expectedRevision: the revision the caller last read (0: it must not exist yet); nil
    ///   replaces whatever is there. A mismatch is 409 `deployment_changed`.
    func putDeployment(
        team: TeamID, endpoint: String, environment: DeploymentEnvironment, model: String, routes: [TrafficRoute],
        fallbackVersion: Int?, settings: ServingSettings, expectedRevision: Int?, audit: AuditContext, at now: Date
    ) async throws -> Deployment
    func deployment(team: TeamID, endpoint: String, environment: DeploymentEnvironment) async throws -> Deployment?
    func deployments(team: TeamID) async throws -> [Deployment]
    /// Every deployment of every team, for the serving layer (loaded at start and polled for changes).
    func allDeployments() async throws -> [Deployment]
    func deleteDeployment(team: TeamID, endpoint: String, environment: DeploymentEnvironment, audit: AuditContext, at now: Date)
        async throws

    /// Adds the counters to the stored ones (creating rows as needed), in one transaction.
    func addUsage(_ records: [UsageRecord]) async throws
    /// Usage rows for `team` (nil: every team) with `day` in `from...to` (`YYYY-MM-DD`).
    func usage(team: TeamID?, from: String, to: String) async throws -> [UsageRecord]

    func appendPredictionLog(_ entries: [PredictionLogEntry]) async throws
    /// The newest entries of a deployment, newest first.
    func predictionLog(deployment: DeploymentID, limit: Int) async throws -> [PredictionLogEntry]
    /// Keeps the newest `keep` entries per deployment and nothing older than `before`; returns how many went.
    func prunePredictionLog(keepPerDeployment keep: Int, before: Date) async throws -> Int
}

/// The SQL implementation of ``DeploymentStore``.
public struct SQLDeploymentStore: DeploymentStore {
    let database: SlipwayDatabase

    public init(database: SlipwayDatabase) {
        self.database = database
    }

    static var encoder: JSONEncoder { StoredJSON.encoder }

    public func putDeployment(
        team: TeamID, endpoint: String, environment: DeploymentEnvironment, model: String, routes: [TrafficRoute],
        fallbackVersion: Int?, settings: ServingSettings, expectedRevision: Int? = nil, audit: AuditContext, at now: Date
    ) async throws -> Deployment {
        try ResourceName.validate(endpoint, as: "endpoint name")
        try Deployment.validate(routes: routes, settings: settings)
        let now = Date(milliseconds: now.milliseconds)
        let routesJSON = String(decoding: try Self.encoder.encode(routes), as: UTF8.self)
        let settingsJSON = String(decoding: try Self.encoder.encode(settings), as: UTF8.self)
        return try await database.transaction { db in
            let modelID = try await SQLModelRegistryStore.modelID(db, team: team, name: model)
            var versions = routes.map(\.version)
            if let fallbackVersion, !versions.contains(fallbackVersion) { versions.append(fallbackVersion) }
            let rows = try await db.raw(
                """
                SELECT version, status, production_allowed FROM model_versions
                WHERE model_id = \(bind: modelID) AND version IN (\(binds: versions.map { Int64($0) }))
                """
            ).all()
            var found: [Int: (status: String, allowed: Bool)] = [:]
            for row in rows {
                found[Int(try row.decode(column: "version", as: Int64.self))] = (
                    try row.decode(column: "status", as: String.self),
                    try row.decode(column: "production_allowed", as: Int64.self) != 0
                )
            }
            for version in versions {
                guard let state = found[version] else { throw SQLModelRegistryStore.versionNotFound(model, version) }
                guard state.status == VersionStatus.ready.rawValue else {
                    throw SlipwayError.conflict(
                        "version \(version) of '\(model)' is \(state.status): only ready versions can be deployed",
                        code: "version_not_ready")
                }
                if environment == .production, !state.allowed {
                    throw SlipwayError.forbidden(
                        "version \(version) of '\(model)' is not allowed in production: a team reviewer or admin must "
                            + "allow it first (slipway versions allow-production \(model) \(version))")
                }
            }
            let existing = try await db.raw(
                """
                SELECT id, revision, created_by, created_at FROM deployments
                WHERE team_id = \(bind: team.rawValue) AND endpoint = \(bind: endpoint)
                    AND environment = \(bind: environment.rawValue)
                """
            ).first()
            let id: DeploymentID
            let revision: Int
            let createdBy: String
            let createdAt: Date
            let current = try existing.map { Int(try $0.decode(column: "revision", as: Int64.self)) } ?? 0
            if let expectedRevision, expectedRevision != current {
                throw Self.changed(endpoint, environment, current: current, expected: expectedRevision)
            }
            if let existing {
                id = DeploymentID(trusted: try existing.decode(column: "id", as: String.self))
                revision = current + 1
                createdBy = try existing.decode(column: "created_by", as: String.self)
                createdAt = Date(milliseconds: try existing.decode(column: "created_at", as: Int64.self))
                // Compare-and-set: a concurrent update that committed after our read leaves no row to update
                // (PostgreSQL re-checks the condition on the newest row version once the other commits).
                let updated = try await db.raw(
                    """
                    UPDATE deployments SET model_id = \(bind: modelID), routes = \(bind: routesJSON),
                        fallback_version = \(bind: fallbackVersion.map(Int64.init)), settings = \(bind: settingsJSON),
                        revision = \(bind: Int64(revision)), updated_at = \(bind: now.milliseconds)
                    WHERE id = \(bind: id.rawValue) AND revision = \(bind: Int64(current))
                    RETURNING id
                    """
                ).first()
                guard updated != nil else {
                    throw Self.changed(endpoint, environment, current: nil, expected: expectedRevision ?? current)
                }
            } else {
                id = DeploymentID.random()
                revision = 1
                createdBy = audit.actor
                createdAt = now
                try await db.raw(
                    """
                    INSERT INTO deployments (id, team_id, endpoint, environment, model_id, routes, fallback_version,
                        settings, revision, created_by, created_at, updated_at)
                    VALUES (\(bind: id.rawValue), \(bind: team.rawValue), \(bind: endpoint), \(bind: environment.rawValue),
                        \(bind: modelID), \(bind: routesJSON), \(bind: fallbackVersion.map(Int64.init)), \(bind: settingsJSON),
                        1, \(bind: audit.actor), \(bind: now.milliseconds), \(bind: now.milliseconds))
                    """
                ).run()
            }
            var detail = [
                "model": model, "environment": environment.rawValue, "revision": String(revision),
                "routes": routes.map { "\($0.version):\($0.weight)" }.joined(separator: ","),
            ]
            if let fallbackVersion { detail["fallback"] = String(fallbackVersion) }
            try await AuditWriter.append(
                db, context: audit, team: team, action: existing == nil ? "deployment.create" : "deployment.update",
                target: "deployment:\(endpoint)@\(environment.rawValue)", detail: detail, at: now)
            return Deployment(
                id: id, team: team, endpoint: endpoint, environment: environment, model: ModelID(trusted: modelID),
                routes: routes, fallbackVersion: fallbackVersion, settings: settings, revision: revision,
                createdBy: createdBy, createdAt: createdAt, updatedAt: now)
        }
    }

    static func changed(_ endpoint: String, _ environment: DeploymentEnvironment, current: Int?, expected: Int)
        -> SlipwayError
    {
        let now =
            switch current {
            case 0: "does not exist"
            case let revision?: "is at revision \(revision)"
            case nil: "was changed by another request meanwhile"
            }
        return SlipwayError.conflict(
            "deployment '\(endpoint)' in \(environment.rawValue) \(now), not revision \(expected) as this update "
                + "expected: read it again and re-apply your change", code: "deployment_changed")
    }

    public func deployment(team: TeamID, endpoint: String, environment: DeploymentEnvironment) async throws
        -> Deployment?
    {
        try await database.read { db in
            try Self.decode(
                try await db.raw(
                    """
                    SELECT * FROM deployments WHERE team_id = \(bind: team.rawValue) AND endpoint = \(bind: endpoint)
                        AND environment = \(bind: environment.rawValue)
                    """
                ).all()
            ).first
        }
    }

    public func deployments(team: TeamID) async throws -> [Deployment] {
        try await database.read { db in
            try Self.decode(
                try await db.raw(
                    "SELECT * FROM deployments WHERE team_id = \(bind: team.rawValue) ORDER BY endpoint, environment"
                ).all())
        }
    }

    public func allDeployments() async throws -> [Deployment] {
        try await database.read { db in
            try Self.decode(try await db.raw("SELECT * FROM deployments ORDER BY team_id, endpoint, environment").all())
        }
    }

    public func deleteDeployment(
        team: TeamID, endpoint: String, environment: DeploymentEnvironment, audit: AuditContext, at now: Date
    ) async throws {
        try await database.transaction { db in
            let deleted = try await db.raw(
                """
                DELETE FROM deployments WHERE team_id = \(bind: team.rawValue) AND endpoint = \(bind: endpoint)
                    AND environment = \(bind: environment.rawValue) RETURNING id
                """
            ).all()
            guard !deleted.isEmpty else { throw Self.notFound(endpoint, environment) }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "deployment.delete",
                target: "deployment:\(endpoint)@\(environment.rawValue)", at: now)
        }
    }

    static func notFound(_ endpoint: String, _ environment: DeploymentEnvironment) -> SlipwayError {
        .notFound("no deployment '\(endpoint)' in \(environment.rawValue)", code: "deployment_not_found")
    }

    static func decode(_ rows: [any SQLRow]) throws -> [Deployment] {
        let decoder = JSONDecoder()
        return try rows.map { row in
            Deployment(
                id: DeploymentID(trusted: try row.decode(column: "id", as: String.self)),
                team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
                endpoint: try row.decode(column: "endpoint", as: String.self),
                environment: DeploymentEnvironment(rawValue: try row.decode(column: "environment", as: String.self))
                    ?? .staging,
                model: ModelID(trusted: try row.decode(column: "model_id", as: String.self)),
                routes: try decoder.decode(
                    [TrafficRoute].self, from: Data(try row.decode(column: "routes", as: String.self).utf8)),
                fallbackVersion: try row.decode(column: "fallback_version", as: Int64?.self).map { Int($0) },
                settings: try decoder.decode(
                    ServingSettings.self, from: Data(try row.decode(column: "settings", as: String.self).utf8)),
                revision: Int(try row.decode(column: "revision", as: Int64.self)),
                createdBy: try row.decode(column: "created_by", as: String.self),
                createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)),
                updatedAt: Date(milliseconds: try row.decode(column: "updated_at", as: Int64.self)))
        }
    }

    // MARK: Usage

    public func addUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        try await database.transaction { db in
            for record in records {
                try await db.raw(
                    """
                    INSERT INTO usage_daily (team_id, endpoint, version, day, requests, rows_predicted, errors)
                    VALUES (\(bind: record.team.rawValue), \(bind: record.endpoint), \(bind: Int64(record.version)),
                        \(bind: record.day), \(bind: record.requests), \(bind: record.rows), \(bind: record.errors))
                    ON CONFLICT (team_id, endpoint, version, day) DO UPDATE SET
                        requests = usage_daily.requests + excluded.requests,
                        rows_predicted = usage_daily.rows_predicted + excluded.rows_predicted,
                        errors = usage_daily.errors + excluded.errors
                    """
                ).run()
            }
        }
    }

    public func usage(team: TeamID?, from: String, to: String) async throws -> [UsageRecord] {
        try await database.read { db in
            let rows: [any SQLRow]
            if let team {
                rows = try await db.raw(
                    """
                    SELECT * FROM usage_daily WHERE team_id = \(bind: team.rawValue) AND day >= \(bind: from)
                        AND day <= \(bind: to) ORDER BY day, endpoint, version
                    """
                ).all()
            } else {
                rows = try await db.raw(
                    """
                    SELECT * FROM usage_daily WHERE day >= \(bind: from) AND day <= \(bind: to)
                    ORDER BY team_id, day, endpoint, version
                    """
                ).all()
            }
            return try rows.map { row in
                UsageRecord(
                    team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
                    endpoint: try row.decode(column: "endpoint", as: String.self),
                    version: Int(try row.decode(column: "version", as: Int64.self)),
                    day: try row.decode(column: "day", as: String.self),
                    requests: try row.decode(column: "requests", as: Int64.self),
                    rows: try row.decode(column: "rows_predicted", as: Int64.self),
                    errors: try row.decode(column: "errors", as: Int64.self))
            }
        }
    }

    // MARK: Prediction log

    public func appendPredictionLog(_ entries: [PredictionLogEntry]) async throws {
        guard !entries.isEmpty else { return }
        try await database.transaction { db in
            for entry in entries {
                try await db.raw(
                    """
                    INSERT INTO prediction_log (deployment_id, team_id, endpoint, version, request_id, at, latency_us,
                        inputs, outputs)
                    VALUES (\(bind: entry.deployment.rawValue), \(bind: entry.team.rawValue), \(bind: entry.endpoint),
                        \(bind: Int64(entry.version)), \(bind: entry.requestID), \(bind: entry.at.milliseconds),
                        \(bind: entry.latencyMicros), \(bind: entry.inputs), \(bind: entry.outputs))
                    """
                ).run()
            }
        }
    }

    public func predictionLog(deployment: DeploymentID, limit: Int) async throws -> [PredictionLogEntry] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT * FROM prediction_log WHERE deployment_id = \(bind: deployment.rawValue)
                ORDER BY id DESC LIMIT \(bind: Int64(max(1, min(limit, 1000))))
                """
            ).all().map { row in
                PredictionLogEntry(
                    id: try row.decode(column: "id", as: Int64.self),
                    deployment: DeploymentID(trusted: try row.decode(column: "deployment_id", as: String.self)),
                    team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
                    endpoint: try row.decode(column: "endpoint", as: String.self),
                    version: Int(try row.decode(column: "version", as: Int64.self)),
                    requestID: try row.decode(column: "request_id", as: String.self),
                    at: Date(milliseconds: try row.decode(column: "at", as: Int64.self)),
                    latencyMicros: try row.decode(column: "latency_us", as: Int64.self),
                    inputs: try row.decode(column: "inputs", as: String.self),
                    outputs: try row.decode(column: "outputs", as: String.self))
            }
        }
    }

    public func prunePredictionLog(keepPerDeployment keep: Int, before: Date) async throws -> Int {
        try await database.transaction { db in
            var removed = try await db.raw(
                "DELETE FROM prediction_log WHERE at < \(bind: before.milliseconds) RETURNING id"
            ).all().count
            let deployments = try await db.raw("SELECT DISTINCT deployment_id FROM prediction_log").all().map {
                try $0.decode(column: "deployment_id", as: String.self)
            }
            for deployment in deployments {
                guard
                    let cutoff = try await db.raw(
                        """
                        SELECT id FROM prediction_log WHERE deployment_id = \(bind: deployment)
                        ORDER BY id DESC LIMIT 1 OFFSET \(bind: Int64(max(0, keep)))
                        """
                    ).first()?.decode(column: "id", as: Int64.self)
                else { continue }
                removed += try await db.raw(
                    """
                    DELETE FROM prediction_log WHERE deployment_id = \(bind: deployment) AND id <= \(bind: cutoff)
                    RETURNING id
                    """
                ).all().count
            }
            return removed
        }
    }
}
