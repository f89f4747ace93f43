import Foundation
import SQLKit
import SlipwayCore

/// Filters for model search.
public struct ModelFilter: Sendable, Equatable {
    /// Substring of the model name.
    public var nameContains: String?
    /// Models carrying this tag with this value.
    public var tag: (key: String, value: String)?

    public init(nameContains: String? = nil, tag: (key: String, value: String)? = nil) {
        self.nameContains = nameContains
        self.tag = tag
    }

    public static func == (lhs: ModelFilter, rhs: ModelFilter) -> Bool {
        lhs.nameContains == rhs.nameContains && lhs.tag?.key == rhs.tag?.key && lhs.tag?.value == rhs.tag?.value
    }
}

/// Models, their immutable numbered versions, aliases and tags. Every operation is scoped by team:
/// another team's model is simply not found.
public protocol ModelRegistryStore: Sendable {
    func createModel(
        team: TeamID, name: String, description: String, tags: [String: String], audit: AuditContext, at now: Date
    ) async throws -> Model
    func model(team: TeamID, name: String) async throws -> Model?
    func model(team: TeamID, id: ModelID) async throws -> Model?
    func searchModels(team: TeamID, filter: ModelFilter, page: PageRequest) async throws -> Page<Model>
    func updateModel(team: TeamID, name: String, description: String, audit: AuditContext, at now: Date) async throws
        -> Model

    /// Assigns the next version number atomically. The artifact must have been uploaded by `team`.
    func createVersion(
        team: TeamID, model: String, _ version: NewModelVersion, audit: AuditContext, at now: Date
    ) async throws -> ModelVersion
    func version(team: TeamID, model: String, version: Int) async throws -> ModelVersion?
    /// The version a training job registered, if any (a retried job registers once).
    func version(team: TeamID, model: String, trainingJob: String) async throws -> ModelVersion?
    func versions(team: TeamID, model: String, page: PageRequest) async throws -> Page<ModelVersion>
    func updateVersion(
        team: TeamID, model: String, version: Int, description: String?, status: VersionStatus?, audit: AuditContext,
        at now: Date
    ) async throws -> ModelVersion

    /// Allows (or stops allowing) a version to be deployed to production.
    func setProductionAllowed(
        team: TeamID, model: String, version: Int, allowed: Bool, audit: AuditContext, at now: Date
    ) async throws -> ModelVersion

    /// Points `alias` at `version`, creating or moving it in one statement.
    func setAlias(team: TeamID, model: String, alias: String, version: Int, audit: AuditContext, at now: Date)
        async throws
    func deleteAlias(team: TeamID, model: String, alias: String, audit: AuditContext, at now: Date) async throws

    /// Sets (value non-nil) or deletes (nil) a tag on the model, or on one version if `version` is given.
    func setTag(
        team: TeamID, model: String, version: Int?, key: String, value: String?, audit: AuditContext, at now: Date
    ) async throws
}

/// The SQL implementation of ``ModelRegistryStore``.
public struct SQLModelRegistryStore: ModelRegistryStore {
    let database: SlipwayDatabase

    public init(database: SlipwayDatabase) {
        self.database = database
    }

    public func createModel(
        team: TeamID, name: String, description: String, tags: [String: String], audit: AuditContext, at now: Date
    ) async throws -> Model {
        try ResourceName.validate(name, as: "model name")
        try Tags.validate(tags)
        try Description.validate(description)
        let now = Date(milliseconds: now.milliseconds)
        let model = Model(
            id: .random(), team: team, name: name, description: description, latestVersion: 0, tags: tags,
            aliases: [:], createdAt: now, updatedAt: now)
        do {
            try await database.transaction { db in
                try await db.raw(
                    """
                    INSERT INTO models (id, team_id, name, description, latest_version, created_at, updated_at)
                    VALUES (\(bind: model.id.rawValue), \(bind: team.rawValue), \(bind: name), \(bind: description), 0,
                            \(bind: now.milliseconds), \(bind: now.milliseconds))
                    """
                ).run()
                for (key, value) in tags {
                    try await db.raw(
                        """
                        INSERT INTO model_tags (model_id, key, value)
                        VALUES (\(bind: model.id.rawValue), \(bind: key), \(bind: value))
                        """
                    ).run()
                }
                try await AuditWriter.append(
                    db, context: audit, team: team, action: "model.create", target: "model:\(name)", at: now)
            }
        } catch  where SQLErrors.isUniqueViolation(error) {
            throw SlipwayError.conflict("model '\(name)' already exists in this team", code: "model_exists")
        }
        return model
    }

    public func model(team: TeamID, id: ModelID) async throws -> Model? {
        try await database.read { db in
            guard
                let row = try await db.raw(
                    "SELECT * FROM models WHERE team_id = \(bind: team.rawValue) AND id = \(bind: id.rawValue)"
                ).first()
            else { return nil }
            return try await Self.decodeModels([row], db).first
        }
    }

    public func model(team: TeamID, name: String) async throws -> Model? {
        try await database.read { db in
            guard
                let row = try await db.raw(
                    "SELECT * FROM models WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name)"
                ).first()
            else { return nil }
            return try await Self.decodeModels([row], db).first
        }
    }

    public func searchModels(team: TeamID, filter: ModelFilter, page: PageRequest) async throws -> Page<Model> {
        var query = SQLQueryString("SELECT * FROM models m WHERE m.team_id = \(bind: team.rawValue)")
        if let after = page.after {
            query.appendInterpolation(unsafeRaw: " AND m.name > ")
            query.appendInterpolation(bind: after)
        }
        if let contains = filter.nameContains?.lowercased(), !contains.isEmpty {
            // Names are lowercase; lowering the query makes LIKE behave alike on both engines.
            let escaped = contains.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            query.appendInterpolation(unsafeRaw: " AND m.name LIKE ")
            query.appendInterpolation(bind: "%\(escaped)%")
            query.appendInterpolation(unsafeRaw: " ESCAPE '\\'")
        }
        if let tag = filter.tag {
            query.appendInterpolation(
                unsafeRaw: " AND EXISTS (SELECT 1 FROM model_tags t WHERE t.model_id = m.id AND t.key = ")
            query.appendInterpolation(bind: tag.key)
            query.appendInterpolation(unsafeRaw: " AND t.value = ")
            query.appendInterpolation(bind: tag.value)
            query.appendInterpolation(unsafeRaw: ")")
        }
        query.appendInterpolation(unsafeRaw: " ORDER BY m.name LIMIT ")
        query.appendInterpolation(bind: Int64(page.limit + 1))
        let finalQuery = query
        return try await database.read { db in
            let rows = try await db.raw(finalQuery).all()
            let models = try await Self.decodeModels(Array(rows.prefix(page.limit)), db)
            let next = rows.count > page.limit ? models.last.map { PageRequest.cursor(after: $0.name) } : nil
            return Page(items: models, nextCursor: next)
        }
    }

    public func updateModel(team: TeamID, name: String, description: String, audit: AuditContext, at now: Date)
        async throws -> Model
    {
        try Description.validate(description)
        try await database.transaction { db in
            let updated = try await db.raw(
                """
                UPDATE models SET description = \(bind: description), updated_at = \(bind: now.milliseconds)
                WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name) RETURNING id
                """
            ).all()
            guard !updated.isEmpty else { throw Self.modelNotFound(name) }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "model.update", target: "model:\(name)", at: now)
        }
        guard let model = try await model(team: team, name: name) else { throw Self.modelNotFound(name) }
        return model
    }

    public func createVersion(
        team: TeamID, model name: String, _ new: NewModelVersion, audit: AuditContext, at now: Date
    ) async throws -> ModelVersion {
        try new.validate()
        let now = Date(milliseconds: now.milliseconds)
        let encoder = StoredJSON.encoder
        let signature = try new.signature.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let parameters = String(decoding: try encoder.encode(new.parameters), as: UTF8.self)
        let metrics = String(decoding: try encoder.encode(new.metrics), as: UTF8.self)
        return try await database.transaction { db in
            guard
                let sizeRow = try await db.raw(
                    """
                    SELECT a.size FROM team_artifacts t JOIN artifacts a ON a.digest = t.digest
                    WHERE t.team_id = \(bind: team.rawValue) AND t.digest = \(bind: new.artifactDigest)
                    """
                ).first()
            else {
                throw SlipwayError.unprocessable(
                    "artifact \(new.artifactDigest) has not been uploaded by this team: upload it first",
                    code: "artifact_not_found")
            }
            let size = try sizeRow.decode(column: "size", as: Int64.self)
            // The increment takes the model row's lock, so concurrent uploads get distinct numbers.
            guard
                let numberRow = try await db.raw(
                    """
                    UPDATE models SET latest_version = latest_version + 1, updated_at = \(bind: now.milliseconds)
                    WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name) RETURNING id, latest_version
                    """
                ).first()
            else { throw Self.modelNotFound(name) }
            let modelID = ModelID(trusted: try numberRow.decode(column: "id", as: String.self))
            let number = Int(try numberRow.decode(column: "latest_version", as: Int64.self))
            try await db.raw(
                """
                INSERT INTO model_versions (model_id, version, artifact_digest, artifact_size, format, signature,
                    parameters, metrics, dataset_version, training_job, source_code, description, model_card, status,
                    created_by, created_at)
                VALUES (\(bind: modelID.rawValue), \(bind: Int64(number)), \(bind: new.artifactDigest), \(bind: size),
                    \(bind: new.format.rawValue), \(bind: signature), \(bind: parameters), \(bind: metrics),
                    \(bind: new.lineage.datasetVersion), \(bind: new.lineage.trainingJob), \(bind: new.lineage.sourceCode),
                    \(bind: new.description), \(bind: new.modelCard), \(bind: VersionStatus.ready.rawValue),
                    \(bind: audit.actor), \(bind: now.milliseconds))
                """
            ).run()
            for (key, value) in new.tags {
                try await db.raw(
                    """
                    INSERT INTO version_tags (model_id, version, key, value)
                    VALUES (\(bind: modelID.rawValue), \(bind: Int64(number)), \(bind: key), \(bind: value))
                    """
                ).run()
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "version.create", target: "model:\(name)/\(number)",
                detail: ["artifact": new.artifactDigest, "format": new.format.rawValue], at: now)
            return ModelVersion(
                model: modelID, version: number, artifactDigest: new.artifactDigest, artifactSize: size,
                format: new.format, signature: new.signature, parameters: new.parameters, metrics: new.metrics,
                lineage: new.lineage, description: new.description, modelCard: new.modelCard, status: .ready,
                tags: new.tags, createdBy: audit.actor, createdAt: now)
        }
    }

    public func version(team: TeamID, model: String, version: Int) async throws -> ModelVersion? {
        try await database.read { db in
            let rows = try await db.raw(
                """
                SELECT v.* FROM model_versions v JOIN models m ON m.id = v.model_id
                WHERE m.team_id = \(bind: team.rawValue) AND m.name = \(bind: model) AND v.version = \(bind: Int64(version))
                """
            ).all()
            return try await Self.decodeVersions(rows, db).first
        }
    }

    public func version(team: TeamID, model: String, trainingJob: String) async throws -> ModelVersion? {
        try await database.read { db in
            let rows = try await db.raw(
                """
                SELECT v.* FROM model_versions v JOIN models m ON m.id = v.model_id
                WHERE m.team_id = \(bind: team.rawValue) AND m.name = \(bind: model)
                    AND v.training_job = \(bind: trainingJob)
                ORDER BY v.version LIMIT 1
                """
            ).all()
            return try await Self.decodeVersions(rows, db).first
        }
    }

    public func versions(team: TeamID, model: String, page: PageRequest) async throws -> Page<ModelVersion> {
        var after: Int64 = 0
        if let cursor = page.after {
            guard let number = Int64(cursor) else {
                throw SlipwayError.badRequest("cursor is not one this server issued", code: "invalid_cursor")
            }
            after = number
        }
        let start = after
        return try await database.read { db in
            guard
                let modelRow = try await db.raw(
                    "SELECT id FROM models WHERE team_id = \(bind: team.rawValue) AND name = \(bind: model)"
                ).first()
            else { throw Self.modelNotFound(model) }
            let modelID = try modelRow.decode(column: "id", as: String.self)
            let rows = try await db.raw(
                """
                SELECT * FROM model_versions WHERE model_id = \(bind: modelID) AND version > \(bind: start)
                ORDER BY version LIMIT \(bind: Int64(page.limit + 1))
                """
            ).all()
            let versions = try await Self.decodeVersions(Array(rows.prefix(page.limit)), db)
            let next =
                rows.count > page.limit ? versions.last.map { PageRequest.cursor(after: String($0.version)) } : nil
            return Page(items: versions, nextCursor: next)
        }
    }

    public func updateVersion(
        team: TeamID, model: String, version: Int, description: String?, status: VersionStatus?, audit: AuditContext,
        at now: Date
    ) async throws -> ModelVersion {
        if let description { try Description.validate(description) }
        try await database.transaction { db in
            let modelID = try await Self.modelID(db, team: team, name: model)
            var changes: [String: String] = [:]
            if let description {
                try await db.raw(
                    """
                    UPDATE model_versions SET description = \(bind: description)
                    WHERE model_id = \(bind: modelID) AND version = \(bind: Int64(version))
                    """
                ).run()
                changes["description"] = "changed"
            }
            if let status {
                try await db.raw(
                    """
                    UPDATE model_versions SET status = \(bind: status.rawValue)
                    WHERE model_id = \(bind: modelID) AND version = \(bind: Int64(version))
                    """
                ).run()
                changes["status"] = status.rawValue
            }
            try await Self.requireVersion(db, modelID: modelID, model: model, version: version)
            try await AuditWriter.append(
                db, context: audit, team: team, action: "version.update", target: "model:\(model)/\(version)",
                detail: changes, at: now)
        }
        guard let updated = try await self.version(team: team, model: model, version: version) else {
            throw Self.versionNotFound(model, version)
        }
        return updated
    }

    public func setProductionAllowed(
        team: TeamID, model: String, version: Int, allowed: Bool, audit: AuditContext, at now: Date
    ) async throws -> ModelVersion {
        try await database.transaction { db in
            let modelID = try await Self.modelID(db, team: team, name: model)
            try await Self.requireVersion(db, modelID: modelID, model: model, version: version)
            try await db.raw(
                """
                UPDATE model_versions SET production_allowed = \(bind: Int64(allowed ? 1 : 0))
                WHERE model_id = \(bind: modelID) AND version = \(bind: Int64(version))
                """
            ).run()
            try await AuditWriter.append(
                db, context: audit, team: team, action: allowed ? "version.allow_production" : "version.disallow_production",
                target: "model:\(model)/\(version)", at: now)
        }
        guard let updated = try await self.version(team: team, model: model, version: version) else {
            throw Self.versionNotFound(model, version)
        }
        return updated
    }

    public func setAlias(team: TeamID, model: String, alias: String, version: Int, audit: AuditContext, at now: Date)
        async throws
    {
        try ResourceName.validate(alias, as: "alias")
        if Int(alias) != nil {
            throw SlipwayError.badRequest(
                "alias '\(alias)' would be mistaken for a version number", code: "invalid_name")
        }
        try await database.transaction { db in
            let modelID = try await Self.modelID(db, team: team, name: model)
            try await Self.requireVersion(db, modelID: modelID, model: model, version: version)
            let previous = try await db.raw(
                "SELECT version FROM model_aliases WHERE model_id = \(bind: modelID) AND alias = \(bind: alias)"
            ).first()?.decode(column: "version", as: Int64.self)
            try await db.raw(
                """
                INSERT INTO model_aliases (model_id, alias, version, updated_at)
                VALUES (\(bind: modelID), \(bind: alias), \(bind: Int64(version)), \(bind: now.milliseconds))
                ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at
                """
            ).run()
            var detail = ["version": String(version)]
            if let previous { detail["previous"] = String(previous) }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "alias.set", target: "model:\(model)@\(alias)",
                detail: detail, at: now)
        }
    }

    public func deleteAlias(team: TeamID, model: String, alias: String, audit: AuditContext, at now: Date) async throws
    {
        try await database.transaction { db in
            let modelID = try await Self.modelID(db, team: team, name: model)
            let deleted = try await db.raw(
                "DELETE FROM model_aliases WHERE model_id = \(bind: modelID) AND alias = \(bind: alias) RETURNING version"
            ).all()
            guard !deleted.isEmpty else {
                throw SlipwayError.notFound("model '\(model)' has no alias '\(alias)'", code: "alias_not_found")
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "alias.delete", target: "model:\(model)@\(alias)", at: now)
        }
    }

    public func setTag(
        team: TeamID, model: String, version: Int?, key: String, value: String?, audit: AuditContext, at now: Date
    ) async throws {
        try Tags.validateKey(key)
        if let value { try Tags.validate([key: value]) }
        try await database.transaction { db in
            let modelID = try await Self.modelID(db, team: team, name: model)
            let target: String
            if let version {
                try await Self.requireVersion(db, modelID: modelID, model: model, version: version)
                target = "model:\(model)/\(version)"
                if let value {
                    try await Self.requireTagRoom(
                        db,
                        count: """
                            SELECT COUNT(*) AS n FROM version_tags WHERE model_id = \(bind: modelID)
                            AND version = \(bind: Int64(version)) AND key <> \(bind: key)
                            """)
                    try await db.raw(
                        """
                        INSERT INTO version_tags (model_id, version, key, value)
                        VALUES (\(bind: modelID), \(bind: Int64(version)), \(bind: key), \(bind: value))
                        ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value
                        """
                    ).run()
                } else {
                    let deleted = try await db.raw(
                        """
                        DELETE FROM version_tags WHERE model_id = \(bind: modelID) AND version = \(bind: Int64(version))
                        AND key = \(bind: key) RETURNING key
                        """
                    ).all()
                    if deleted.isEmpty { throw Self.tagNotFound(key, target) }
                }
            } else {
                target = "model:\(model)"
                if let value {
                    try await Self.requireTagRoom(
                        db,
                        count:
                            "SELECT COUNT(*) AS n FROM model_tags WHERE model_id = \(bind: modelID) AND key <> \(bind: key)"
                    )
                    try await db.raw(
                        """
                        INSERT INTO model_tags (model_id, key, value) VALUES (\(bind: modelID), \(bind: key), \(bind: value))
                        ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value
                        """
                    ).run()
                } else {
                    let deleted = try await db.raw(
                        "DELETE FROM model_tags WHERE model_id = \(bind: modelID) AND key = \(bind: key) RETURNING key"
                    ).all()
                    if deleted.isEmpty { throw Self.tagNotFound(key, target) }
                }
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: value == nil ? "tag.delete" : "tag.set", target: target,
                detail: value.map { [key: $0] } ?? ["key": key], at: now)
        }
    }

    // MARK: - Helpers

    static func modelNotFound(_ name: String) -> SlipwayError {
        .notFound("model '\(name)' not found in this team", code: "model_not_found")
    }

    static func versionNotFound(_ name: String, _ version: Int) -> SlipwayError {
        .notFound("model '\(name)' has no version \(version)", code: "version_not_found")
    }

    static func tagNotFound(_ key: String, _ target: String) -> SlipwayError {
        .notFound("\(target) has no tag '\(key)'", code: "tag_not_found")
    }

    /// Tags are capped at 100 per model or version, however they are added.
    static func requireTagRoom(_ db: any SQLDatabase, count query: SQLQueryString) async throws {
        let others = try await db.raw(query).first()?.decode(column: "n", as: Int64.self) ?? 0
        if others >= 100 { throw SlipwayError.badRequest("at most 100 tags", code: "too_many_tags") }
    }

    static func modelID(_ db: any SQLDatabase, team: TeamID, name: String) async throws -> String {
        guard
            let row = try await db.raw(
                "SELECT id FROM models WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name)"
            ).first()
        else { throw modelNotFound(name) }
        return try row.decode(column: "id", as: String.self)
    }

    static func requireVersion(_ db: any SQLDatabase, modelID: String, model: String, version: Int) async throws {
        let row = try await db.raw(
            "SELECT 1 AS found FROM model_versions WHERE model_id = \(bind: modelID) AND version = \(bind: Int64(version))"
        ).first()
        if row == nil { throw versionNotFound(model, version) }
    }

    static func decodeModels(_ rows: [any SQLRow], _ db: any SQLDatabase) async throws -> [Model] {
        guard !rows.isEmpty else { return [] }
        var models = try rows.map { row in
            Model(
                id: ModelID(trusted: try row.decode(column: "id", as: String.self)),
                team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
                name: try row.decode(column: "name", as: String.self),
                description: try row.decode(column: "description", as: String.self),
                latestVersion: Int(try row.decode(column: "latest_version", as: Int64.self)), tags: [:], aliases: [:],
                createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)),
                updatedAt: Date(milliseconds: try row.decode(column: "updated_at", as: Int64.self)))
        }
        let ids = models.map(\.id.rawValue)
        var index: [String: Int] = [:]
        for (position, model) in models.enumerated() { index[model.id.rawValue] = position }
        for row in try await db.raw("SELECT * FROM model_tags WHERE model_id IN (\(binds: ids))").all() {
            let position = index[try row.decode(column: "model_id", as: String.self)]!
            models[position].tags[try row.decode(column: "key", as: String.self)] = try row.decode(
                column: "value", as: String.self)
        }
        for row in try await db.raw("SELECT * FROM model_aliases WHERE model_id IN (\(binds: ids))").all() {
            let position = index[try row.decode(column: "model_id", as: String.self)]!
            models[position].aliases[try row.decode(column: "alias", as: String.self)] = Int(
                try row.decode(column: "version", as: Int64.self))
        }
        return models
    }

    static func decodeVersions(_ rows: [any SQLRow], _ db: any SQLDatabase) async throws -> [ModelVersion] {
        guard let first = rows.first else { return [] }
        let modelID = try first.decode(column: "model_id", as: String.self)
        let decoder = JSONDecoder()
        var versions = try rows.map { row in
            let signature = try row.decode(column: "signature", as: String?.self).map {
                try decoder.decode(ModelSignature.self, from: Data($0.utf8))
            }
            return ModelVersion(
                model: ModelID(trusted: modelID),
                version: Int(try row.decode(column: "version", as: Int64.self)),
                artifactDigest: try row.decode(column: "artifact_digest", as: String.self),
                artifactSize: try row.decode(column: "artifact_size", as: Int64.self),
                format: ModelFormat(rawValue: try row.decode(column: "format", as: String.self)) ?? .slipway,
                signature: signature,
                parameters: try decoder.decode(
                    [String: String].self, from: Data(try row.decode(column: "parameters", as: String.self).utf8)),
                metrics: try decoder.decode(
                    [String: Double].self, from: Data(try row.decode(column: "metrics", as: String.self).utf8)),
                lineage: Lineage(
                    datasetVersion: try row.decode(column: "dataset_version", as: String?.self),
                    trainingJob: try row.decode(column: "training_job", as: String?.self),
                    sourceCode: try row.decode(column: "source_code", as: String?.self)),
                description: try row.decode(column: "description", as: String.self),
                modelCard: try row.decode(column: "model_card", as: String.self),
                status: VersionStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .ready,
                tags: [:], createdBy: try row.decode(column: "created_by", as: String.self),
                createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)),
                productionAllowed: try row.decode(column: "production_allowed", as: Int64.self) != 0)
        }
        var index: [Int: Int] = [:]
        for (position, version) in versions.enumerated() { index[version.version] = position }
        let numbers = versions.map { Int64($0.version) }
        for row in try await db.raw(
            "SELECT * FROM version_tags WHERE model_id = \(bind: modelID) AND version IN (\(binds: numbers))"
        ).all() {
            guard let position = index[Int(try row.decode(column: "version", as: Int64.self))] else { continue }
            versions[position].tags[try row.decode(column: "key", as: String.self)] = try row.decode(
                column: "value", as: String.self)
        }
        return versions
    }
}
