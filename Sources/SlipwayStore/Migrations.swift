import Foundation
import SQLKit
import SlipwayCore

/// A named, append-only schema change. Never edit or reorder a released migration: add a new one.
struct Migration: Sendable {
    let name: String
    /// Statements for each engine. Most are shared; types differ only where the engines do.
    let statements: @Sendable (SQLBackendKind) -> [String]
}

/// The schema, in order. The names are stored in `slipway_migrations` once applied.
enum Schema {
    static let migrations: [Migration] = [
        Migration(name: "0001_identity") { _ in
            [
                """
                CREATE TABLE teams (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    description TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE principals (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL CHECK (kind IN ('user', 'service_account')),
                    owner_team_id TEXT REFERENCES teams(id),
                    platform_admin BIGINT NOT NULL CHECK (platform_admin IN (0, 1)),
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE memberships (
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    principal_id TEXT NOT NULL REFERENCES principals(id),
                    role TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'reviewer', 'admin')),
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (team_id, principal_id)
                )
                """,
                "CREATE INDEX memberships_principal ON memberships (principal_id)",
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    principal_id TEXT NOT NULL REFERENCES principals(id),
                    name TEXT NOT NULL,
                    secret_hash TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    revoked_at BIGINT,
                    last_used_at BIGINT
                )
                """,
                "CREATE INDEX api_keys_principal ON api_keys (principal_id)",
            ]
        },
        Migration(name: "0002_artifacts") { _ in
            [
                """
                CREATE TABLE artifacts (
                    digest TEXT PRIMARY KEY,
                    size BIGINT NOT NULL CHECK (size >= 0),
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE team_artifacts (
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    digest TEXT NOT NULL REFERENCES artifacts(digest),
                    uploaded_at BIGINT NOT NULL,
                    PRIMARY KEY (team_id, digest)
                )
                """,
                "CREATE INDEX team_artifacts_digest ON team_artifacts (digest)",
            ]
        },
        Migration(name: "0003_model_registry") { _ in
            [
                """
                CREATE TABLE models (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    name TEXT NOT NULL,
                    description TEXT NOT NULL,
                    latest_version BIGINT NOT NULL DEFAULT 0,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (team_id, name)
                )
                """,
                """
                CREATE TABLE model_versions (
                    model_id TEXT NOT NULL REFERENCES models(id),
                    version BIGINT NOT NULL CHECK (version > 0),
                    artifact_digest TEXT NOT NULL REFERENCES artifacts(digest),
                    artifact_size BIGINT NOT NULL,
                    format TEXT NOT NULL,
                    signature TEXT,
                    parameters TEXT NOT NULL,
                    metrics TEXT NOT NULL,
                    dataset_version TEXT,
                    training_job TEXT,
                    source_code TEXT,
                    description TEXT NOT NULL,
                    model_card TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (model_id, version)
                )
                """,
                "CREATE INDEX model_versions_artifact ON model_versions (artifact_digest)",
                """
                CREATE TABLE model_aliases (
                    model_id TEXT NOT NULL,
                    alias TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (model_id, alias),
                    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
                )
                """,
                """
                CREATE TABLE model_tags (
                    model_id TEXT NOT NULL REFERENCES models(id),
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (model_id, key)
                )
                """,
                """
                CREATE TABLE version_tags (
                    model_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (model_id, version, key),
                    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
                )
                """,
            ]
        },
        Migration(name: "0004_audit_log") { _ in
            [
                """
                CREATE TABLE audit_log (
                    seq BIGINT PRIMARY KEY,
                    at BIGINT NOT NULL,
                    actor TEXT NOT NULL,
                    team_id TEXT,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                "CREATE INDEX audit_log_team ON audit_log (team_id, seq)",
                """
                CREATE TABLE audit_head (
                    id BIGINT PRIMARY KEY CHECK (id = 1),
                    seq BIGINT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\(AuditChainGenesis.value)')",
            ]
        },
        Migration(name: "0005_key_lineage") { _ in
            [
                // The key that created this one; revoking a key revokes what it created.
                "ALTER TABLE api_keys ADD COLUMN parent_key_id TEXT",
                "CREATE INDEX api_keys_parent ON api_keys (parent_key_id)",
            ]
        },
        Migration(name: "0006_serving") { kind in
            [
                "ALTER TABLE model_versions ADD COLUMN production_allowed BIGINT NOT NULL DEFAULT 0",
                """
                CREATE TABLE deployments (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    endpoint TEXT NOT NULL,
                    environment TEXT NOT NULL CHECK (environment IN ('staging', 'production')),
                    model_id TEXT NOT NULL REFERENCES models(id),
                    routes TEXT NOT NULL,
                    fallback_version BIGINT,
                    settings TEXT NOT NULL,
                    revision BIGINT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (team_id, endpoint, environment)
                )
                """,
                // Metering: one row per team, endpoint, version and UTC day; counters only ever grow.
                """
                CREATE TABLE usage_daily (
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    endpoint TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    day TEXT NOT NULL,
                    requests BIGINT NOT NULL,
                    rows_predicted BIGINT NOT NULL,
                    errors BIGINT NOT NULL,
                    PRIMARY KEY (team_id, endpoint, version, day)
                )
                """,
                """
                CREATE TABLE prediction_log (
                    id \(kind == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"),
                    deployment_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    endpoint TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    request_id TEXT NOT NULL,
                    at BIGINT NOT NULL,
                    latency_us BIGINT NOT NULL,
                    inputs TEXT NOT NULL,
                    outputs TEXT NOT NULL
                )
                """,
                "CREATE INDEX prediction_log_deployment ON prediction_log (deployment_id, id)",
            ]
        },
        // Data access and training: datasets with versioned contracts and immutable versions, grants to
        // other teams, the persistent job queue with its logs, and retraining schedules.
        Migration(name: "0007_data_and_training") { _ in
            [
                """
                CREATE TABLE datasets (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    name TEXT NOT NULL,
                    description TEXT NOT NULL,
                    latest_version BIGINT NOT NULL DEFAULT 0,
                    contract_version BIGINT NOT NULL DEFAULT 0,
                    freshness_seconds BIGINT,
                    last_version_at BIGINT,
                    stale BIGINT NOT NULL DEFAULT 0 CHECK (stale IN (0, 1)),
                    created_at BIGINT NOT NULL,
                    UNIQUE (team_id, name)
                )
                """,
                """
                CREATE TABLE dataset_contracts (
                    dataset_id TEXT NOT NULL REFERENCES datasets(id),
                    version BIGINT NOT NULL,
                    document TEXT NOT NULL,
                    contract TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (dataset_id, version)
                )
                """,
                """
                CREATE TABLE dataset_versions (
                    dataset_id TEXT NOT NULL REFERENCES datasets(id),
                    version BIGINT NOT NULL,
                    digest TEXT NOT NULL REFERENCES artifacts(digest),
                    size BIGINT NOT NULL,
                    format TEXT NOT NULL CHECK (format IN ('csv', 'jsonl')),
                    row_count BIGINT NOT NULL,
                    columns TEXT NOT NULL,
                    contract_version BIGINT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('valid', 'warning', 'invalid')),
                    profile TEXT NOT NULL,
                    report TEXT,
                    source TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (dataset_id, version)
                )
                """,
                "CREATE INDEX dataset_versions_digest ON dataset_versions (digest)",
                """
                CREATE TABLE dataset_grants (
                    dataset_id TEXT NOT NULL REFERENCES datasets(id),
                    grantee_team_id TEXT NOT NULL REFERENCES teams(id),
                    pii BIGINT NOT NULL CHECK (pii IN (0, 1)),
                    granted_by TEXT NOT NULL,
                    granted_at BIGINT NOT NULL,
                    PRIMARY KEY (dataset_id, grantee_team_id)
                )
                """,
                """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
                    spec TEXT NOT NULL,
                    spec_digest TEXT NOT NULL,
                    attempts BIGINT NOT NULL,
                    max_attempts BIGINT NOT NULL,
                    progress TEXT NOT NULL,
                    result TEXT,
                    error TEXT,
                    cancel_requested BIGINT NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
                    schedule_id TEXT,
                    lease_expires_at BIGINT,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    started_at BIGINT,
                    finished_at BIGINT
                )
                """,
                "CREATE INDEX jobs_queue ON jobs (status, created_at)",
                "CREATE INDEX jobs_team ON jobs (team_id, created_at)",
                """
                CREATE TABLE job_logs (
                    job_id TEXT NOT NULL REFERENCES jobs(id),
                    sequence BIGINT NOT NULL,
                    at BIGINT NOT NULL,
                    message TEXT NOT NULL,
                    PRIMARY KEY (job_id, sequence)
                )
                """,
                """
                CREATE TABLE training_schedules (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id),
                    name TEXT NOT NULL,
                    spec TEXT NOT NULL,
                    dataset TEXT NOT NULL,
                    cron TEXT,
                    on_new_version BIGINT NOT NULL CHECK (on_new_version IN (0, 1)),
                    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
                    last_run_at BIGINT,
                    next_run_at BIGINT,
                    created_at BIGINT NOT NULL,
                    UNIQUE (team_id, name)
                )
                """,
            ]
        },
    ]
}

enum AuditChainGenesis {
    static let value = String(repeating: "0", count: 64)
}

/// Applies pending migrations in one transaction, under an advisory lock on PostgreSQL so that
/// replicas starting together do not race.
struct Migrator {
    let kind: SQLBackendKind

    func migrate(_ database: SlipwayDatabase) async throws {
        let kind = self.kind
        try await database.transaction { db in
            if kind == .postgres {
                try await db.raw("SELECT pg_advisory_xact_lock(\(bind: Int64(0x5119_3A7))::bigint)").run()
            }
            try await db.raw(
                "CREATE TABLE IF NOT EXISTS slipway_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            ).run()
            let applied = Set(
                try await db.raw("SELECT name FROM slipway_migrations").all().map {
                    try $0.decode(column: "name", as: String.self)
                })
            let known = Set(Schema.migrations.map(\.name))
            if let unknown = applied.subtracting(known).sorted().first {
                throw SlipwayError(
                    .internal, code: "schema_too_new",
                    "the database has migration '\(unknown)' that this Slipway does not know: upgrade Slipway")
            }
            for migration in Schema.migrations where !applied.contains(migration.name) {
                for statement in migration.statements(kind) {
                    try await db.raw("\(unsafeRaw: statement)").run()
                }
                try await db.raw(
                    "INSERT INTO slipway_migrations (name, applied_at) VALUES (\(bind: migration.name), \(bind: Date().milliseconds))"
                ).run()
            }
        }
    }
}
