import Foundation
import SQLKit
import SlipwayCore

/// The persistent job queue, job logs and retraining schedules.
///
/// A worker claims the oldest queued job with a lease and renews it while it runs. A job whose lease
/// ran out (its server crashed or restarted) is put back in the queue, or failed once it has used
/// all its attempts: no job stays `running` without a live worker.
public protocol JobStore: Sendable {
    func enqueue(
        team: TeamID, spec: TrainingSpec, specDigest: String, maxAttempts: Int, schedule: ScheduleID?,
        audit: AuditContext, at now: Date
    ) async throws -> Job
    func job(team: TeamID, id: JobID) async throws -> Job?
    func jobs(team: TeamID, status: JobStatus?, limit: Int) async throws -> [Job]

    /// Moves the oldest queued job to `running`, counting an attempt and taking a lease until `leaseUntil`.
    func claimNext(leaseUntil: Date, at now: Date) async throws -> Job?
    /// Extends a running job's lease and records its progress; returns whether the worker should stop:
    /// a cancel was requested, or `attempt` no longer holds the job (its lease ran out and it was
    /// recovered). The attempt number fences off a worker that stalled past its lease.
    func heartbeat(id: JobID, attempt: Int, progress: JobProgress, leaseUntil: Date) async throws -> Bool
    /// Ends a running job, if `attempt` still holds it.
    func finish(id: JobID, attempt: Int, status: JobStatus, result: JobResult?, error: String?, at now: Date) async throws
    /// Puts a running job back in the queue without counting the attempt (its server is shutting down).
    func requeue(id: JobID, reason: String, at now: Date) async throws
    /// Cancels a queued job at once, or asks the worker of a running one to stop.
    func requestCancel(team: TeamID, id: JobID, audit: AuditContext, at now: Date) async throws -> Job
    /// Re-queues (or fails, when out of attempts) running jobs whose lease has expired.
    func recoverExpired(at now: Date) async throws -> [Job]

    func appendLog(id: JobID, _ messages: [String], at now: Date) async throws
    func logs(id: JobID, after: Int, limit: Int) async throws -> [JobLogLine]

    func putSchedule(
        team: TeamID, name: String, spec: TrainingSpec, cron: String?, onNewVersion: Bool, nextRunAt: Date?,
        audit: AuditContext, at now: Date
    ) async throws -> TrainingSchedule
    func schedules(team: TeamID) async throws -> [TrainingSchedule]
    func deleteSchedule(team: TeamID, name: String, audit: AuditContext, at now: Date) async throws
    /// Enabled cron schedules whose next run is due.
    func dueSchedules(at now: Date) async throws -> [TrainingSchedule]
    /// Enabled schedules that retrain whenever `dataset` of `team` gets a new version.
    func schedules(team: TeamID, onNewVersionOf dataset: String) async throws -> [TrainingSchedule]
    /// Records a run of a due schedule and its next time; false if another replica recorded it first
    /// (its `next_run_at` is no longer `due`), so each cron time queues one job.
    func markScheduleRun(id: ScheduleID, due: Date?, at now: Date, nextRunAt: Date?) async throws -> Bool
}

/// The SQL implementation of ``JobStore``.
public struct SQLJobStore: JobStore {
    let database: SlipwayDatabase

    public init(database: SlipwayDatabase) {
        self.database = database
    }

    static let jobColumns = """
        id, team_id, status, spec, spec_digest, attempts, max_attempts, progress, result, error, cancel_requested,
        schedule_id, created_by, created_at, started_at, finished_at
        """

    /// The 404 for a job.
    public static func notFound(_ id: JobID) -> SlipwayError {
        .notFound("job \(id) was not found", code: "job_not_found")
    }

    public func enqueue(
        team: TeamID, spec: TrainingSpec, specDigest: String, maxAttempts: Int, schedule: ScheduleID?,
        audit: AuditContext, at now: Date
    ) async throws -> Job {
        try spec.validate()
        let now = Date(milliseconds: now.milliseconds)
        let job = Job(
            id: .random(), team: team, status: .queued, spec: spec, specDigest: specDigest, attempts: 0,
            maxAttempts: maxAttempts, progress: JobProgress(), result: nil, error: nil, cancelRequested: false,
            schedule: schedule, createdBy: audit.actor, createdAt: now, startedAt: nil, finishedAt: nil)
        let specJSON = try SQLDatasetStore.json(spec)
        let progressJSON = try SQLDatasetStore.json(job.progress)
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO jobs (id, team_id, status, spec, spec_digest, attempts, max_attempts, progress,
                    schedule_id, created_by, created_at)
                VALUES (\(bind: job.id.rawValue), \(bind: team.rawValue), 'queued', \(bind: specJSON),
                    \(bind: specDigest), 0, \(bind: Int64(maxAttempts)), \(bind: progressJSON),
                    \(bind: schedule?.rawValue), \(bind: audit.actor), \(bind: now.milliseconds))
                """
            ).run()
            try await AuditWriter.append(
                db, context: audit, team: team, action: "job.create", target: "job:\(job.id)",
                detail: ["model": spec.model, "dataset": spec.dataset, "algorithm": spec.algorithm.rawValue], at: now)
        }
        return job
    }

    public func job(team: TeamID, id: JobID) async throws -> Job? {
        try await database.read { db in
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.jobColumns) FROM jobs
                WHERE id = \(bind: id.rawValue) AND team_id = \(bind: team.rawValue)
                """
            ).all().map(Self.decodeJob).first
        }
    }

    public func jobs(team: TeamID, status: JobStatus?, limit: Int) async throws -> [Job] {
        try await database.read { db in
            if let status {
                return try await db.raw(
                    """
                    SELECT \(unsafeRaw: Self.jobColumns) FROM jobs
                    WHERE team_id = \(bind: team.rawValue) AND status = \(bind: status.rawValue)
                    ORDER BY created_at DESC, id LIMIT \(bind: Int64(limit))
                    """
                ).all().map(Self.decodeJob)
            }
            return try await db.raw(
                """
                SELECT \(unsafeRaw: Self.jobColumns) FROM jobs WHERE team_id = \(bind: team.rawValue)
                ORDER BY created_at DESC, id LIMIT \(bind: Int64(limit))
                """
            ).all().map(Self.decodeJob)
        }
    }

    public func claimNext(leaseUntil: Date, at now: Date) async throws -> Job? {
        let kind = database.kind
        return try await database.transaction { db in
            // SKIP LOCKED lets several replicas claim different jobs at once; SQLite has one writer.
            let lock = kind == .postgres ? "FOR UPDATE SKIP LOCKED" : ""
            guard
                let candidate = try await db.raw(
                    "SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1 \(unsafeRaw: lock)"
                ).first()
            else { return nil }
            let id = try candidate.decode(column: "id", as: String.self)
            let rows = try await db.raw(
                """
                UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = \(bind: now.milliseconds),
                    lease_expires_at = \(bind: leaseUntil.milliseconds)
                WHERE id = \(bind: id) AND status = 'queued'
                RETURNING \(unsafeRaw: Self.jobColumns)
                """
            ).all()
            return try rows.map(Self.decodeJob).first
        }
    }

    public func heartbeat(id: JobID, attempt: Int, progress: JobProgress, leaseUntil: Date) async throws -> Bool {
        let progressJSON = try SQLDatasetStore.json(progress)
        return try await database.transaction { db in
            guard
                let row = try await db.raw(
                    """
                    UPDATE jobs SET progress = \(bind: progressJSON), lease_expires_at = \(bind: leaseUntil.milliseconds)
                    WHERE id = \(bind: id.rawValue) AND status = 'running' AND attempts = \(bind: Int64(attempt))
                    RETURNING cancel_requested
                    """
                ).first()
            else { return true }
            return try row.decode(column: "cancel_requested", as: Int64.self) != 0
        }
    }

    public func finish(id: JobID, attempt: Int, status: JobStatus, result: JobResult?, error: String?, at now: Date)
        async throws
    {
        precondition(status.isFinal, "finish takes a final status")
        let resultJSON = try result.map { try SQLDatasetStore.json($0) }
        try await database.transaction { db in
            guard
                let row = try await db.raw(
                    """
                    UPDATE jobs SET status = \(bind: status.rawValue), result = \(bind: resultJSON),
                        error = \(bind: error.map { String($0.prefix(4000)) }), finished_at = \(bind: now.milliseconds),
                        lease_expires_at = NULL
                    WHERE id = \(bind: id.rawValue) AND status = 'running' AND attempts = \(bind: Int64(attempt))
                    RETURNING team_id
                    """
                ).first()
            else { return }
            var detail = ["status": status.rawValue]
            if let result { detail["version"] = "\(result.model)/\(result.version)" }
            try await AuditWriter.append(
                db, context: .system("job-worker"), team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
                action: "job.finish", target: "job:\(id)", detail: detail, at: now)
        }
    }

    public func requeue(id: JobID, reason: String, at now: Date) async throws {
        try await database.transaction { db in
            let rows = try await db.raw(
                """
                UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_expires_at = NULL
                WHERE id = \(bind: id.rawValue) AND status = 'running'
                RETURNING id
                """
            ).all()
            if !rows.isEmpty { try await Self.appendLog(db, id: id, [reason], at: now) }
        }
    }

    public func requestCancel(team: TeamID, id: JobID, audit: AuditContext, at now: Date) async throws -> Job {
        try await database.transaction { db in
            guard
                let row = try await db.raw(
                    "SELECT status FROM jobs WHERE id = \(bind: id.rawValue) AND team_id = \(bind: team.rawValue)"
                ).first()
            else { throw Self.notFound(id) }
            let status = JobStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed
            switch status {
            case .queued:
                try await db.raw(
                    """
                    UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = \(bind: now.milliseconds)
                    WHERE id = \(bind: id.rawValue)
                    """
                ).run()
            case .running:
                try await db.raw("UPDATE jobs SET cancel_requested = 1 WHERE id = \(bind: id.rawValue)").run()
            case .succeeded, .failed, .cancelled:
                throw SlipwayError.conflict("job \(id) has already ended (\(status.rawValue))", code: "job_finished")
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "job.cancel", target: "job:\(id)", at: now)
            return try await db.raw("SELECT \(unsafeRaw: Self.jobColumns) FROM jobs WHERE id = \(bind: id.rawValue)")
                .all().map(Self.decodeJob)[0]
        }
    }

    public func recoverExpired(at now: Date) async throws -> [Job] {
        try await database.transaction { db in
            let expired = try await db.raw(
                """
                SELECT \(unsafeRaw: Self.jobColumns) FROM jobs
                WHERE status = 'running' AND lease_expires_at < \(bind: now.milliseconds)
                """
            ).all().map(Self.decodeJob)
            var recovered: [Job] = []
            for var job in expired {
                let message: String
                if job.cancelRequested {
                    job.status = .cancelled
                    message = "the worker stopped while the job was being cancelled; marked cancelled"
                } else if job.attempts < job.maxAttempts {
                    job.status = .queued
                    message = "the worker running attempt \(job.attempts) stopped (server restart or crash); queued again"
                } else {
                    job.status = .failed
                    job.error = "the worker stopped during the last allowed attempt (\(job.attempts) of \(job.maxAttempts))"
                    message = job.error!
                }
                try await db.raw(
                    """
                    UPDATE jobs SET status = \(bind: job.status.rawValue), error = \(bind: job.error),
                        lease_expires_at = NULL,
                        finished_at = \(bind: job.status.isFinal ? now.milliseconds : nil as Int64?)
                    WHERE id = \(bind: job.id.rawValue) AND status = 'running'
                    """
                ).run()
                try await Self.appendLog(db, id: job.id, [message], at: now)
                try await AuditWriter.append(
                    db, context: .system("job-recovery"), team: job.team, action: "job.recover",
                    target: "job:\(job.id)", detail: ["status": job.status.rawValue], at: now)
                recovered.append(job)
            }
            return recovered
        }
    }

    public func appendLog(id: JobID, _ messages: [String], at now: Date) async throws {
        guard !messages.isEmpty else { return }
        try await database.transaction { db in try await Self.appendLog(db, id: id, messages, at: now) }
    }

    static func appendLog(_ db: any SQLDatabase, id: JobID, _ messages: [String], at now: Date) async throws {
        let last = try await db.raw(
            "SELECT COALESCE(MAX(sequence), 0) AS last FROM job_logs WHERE job_id = \(bind: id.rawValue)"
        ).first()?.decode(column: "last", as: Int64.self) ?? 0
        for (offset, message) in messages.enumerated() {
            try await db.raw(
                """
                INSERT INTO job_logs (job_id, sequence, at, message)
                VALUES (\(bind: id.rawValue), \(bind: last + Int64(offset) + 1), \(bind: now.milliseconds),
                    \(bind: String(message.prefix(4000))))
                """
            ).run()
        }
    }

    public func logs(id: JobID, after: Int, limit: Int) async throws -> [JobLogLine] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT sequence, at, message FROM job_logs
                WHERE job_id = \(bind: id.rawValue) AND sequence > \(bind: Int64(after))
                ORDER BY sequence LIMIT \(bind: Int64(limit))
                """
            ).all().map { row in
                JobLogLine(
                    sequence: Int(try row.decode(column: "sequence", as: Int64.self)),
                    at: Date(milliseconds: try row.decode(column: "at", as: Int64.self)),
                    message: try row.decode(column: "message", as: String.self))
            }
        }
    }

    static func decodeJob(_ row: any SQLRow) throws -> Job {
        let decoder = SQLDatasetStore.decoder
        return Job(
            id: JobID(trusted: try row.decode(column: "id", as: String.self)),
            team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
            status: JobStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            spec: try decoder.decode(TrainingSpec.self, from: Data(try row.decode(column: "spec", as: String.self).utf8)),
            specDigest: try row.decode(column: "spec_digest", as: String.self),
            attempts: Int(try row.decode(column: "attempts", as: Int64.self)),
            maxAttempts: Int(try row.decode(column: "max_attempts", as: Int64.self)),
            progress: try decoder.decode(
                JobProgress.self, from: Data(try row.decode(column: "progress", as: String.self).utf8)),
            result: try row.decode(column: "result", as: String?.self).map {
                try decoder.decode(JobResult.self, from: Data($0.utf8))
            },
            error: try row.decode(column: "error", as: String?.self),
            cancelRequested: try row.decode(column: "cancel_requested", as: Int64.self) != 0,
            schedule: try row.decode(column: "schedule_id", as: String?.self).map(ScheduleID.init(trusted:)),
            createdBy: try row.decode(column: "created_by", as: String.self),
            createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)),
            startedAt: try row.decode(column: "started_at", as: Int64?.self).map(Date.init(milliseconds:)),
            finishedAt: try row.decode(column: "finished_at", as: Int64?.self).map(Date.init(milliseconds:)))
    }

    // MARK: Schedules

    static let scheduleColumns =
        "id, team_id, name, spec, cron, on_new_version, enabled, last_run_at, next_run_at, created_at"

    public func putSchedule(
        team: TeamID, name: String, spec: TrainingSpec, cron: String?, onNewVersion: Bool, nextRunAt: Date?,
        audit: AuditContext, at now: Date
    ) async throws -> TrainingSchedule {
        try ResourceName.validate(name, as: "schedule name")
        try spec.validate()
        guard cron != nil || onNewVersion else {
            throw SlipwayError.badRequest(
                "a schedule needs a cron expression, on_new_version: true, or both", code: "invalid_schedule")
        }
        let now = Date(milliseconds: now.milliseconds)
        let specJSON = try SQLDatasetStore.json(spec)
        return try await database.transaction { db in
            let existing = try await db.raw(
                "SELECT id, created_at FROM training_schedules WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name)"
            ).first()
            let id = try existing.map { ScheduleID(trusted: try $0.decode(column: "id", as: String.self)) } ?? .random()
            let createdAt = try existing.map { Date(milliseconds: try $0.decode(column: "created_at", as: Int64.self)) } ?? now
            if existing != nil {
                try await db.raw(
                    """
                    UPDATE training_schedules SET spec = \(bind: specJSON), dataset = \(bind: spec.dataset),
                        cron = \(bind: cron), on_new_version = \(bind: Int64(onNewVersion ? 1 : 0)), enabled = 1,
                        next_run_at = \(bind: nextRunAt?.milliseconds)
                    WHERE id = \(bind: id.rawValue)
                    """
                ).run()
            } else {
                try await db.raw(
                    """
                    INSERT INTO training_schedules (id, team_id, name, spec, dataset, cron, on_new_version, enabled,
                        next_run_at, created_at)
                    VALUES (\(bind: id.rawValue), \(bind: team.rawValue), \(bind: name), \(bind: specJSON),
                        \(bind: spec.dataset), \(bind: cron), \(bind: Int64(onNewVersion ? 1 : 0)), 1,
                        \(bind: nextRunAt?.milliseconds), \(bind: now.milliseconds))
                    """
                ).run()
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: existing == nil ? "schedule.create" : "schedule.update",
                target: "schedule:\(name)", detail: ["cron": cron ?? "", "on_new_version": String(onNewVersion)],
                at: now)
            return TrainingSchedule(
                id: id, team: team, name: name, spec: spec, cron: cron, onNewVersion: onNewVersion, enabled: true,
                lastRunAt: nil, nextRunAt: nextRunAt.map { Date(milliseconds: $0.milliseconds) }, createdAt: createdAt)
        }
    }

    public func schedules(team: TeamID) async throws -> [TrainingSchedule] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.scheduleColumns) FROM training_schedules
                WHERE team_id = \(bind: team.rawValue) ORDER BY name
                """
            ).all().map(Self.decodeSchedule)
        }
    }

    public func deleteSchedule(team: TeamID, name: String, audit: AuditContext, at now: Date) async throws {
        try await database.transaction { db in
            let removed = try await db.raw(
                """
                DELETE FROM training_schedules WHERE team_id = \(bind: team.rawValue) AND name = \(bind: name)
                RETURNING id
                """
            ).all()
            guard !removed.isEmpty else {
                throw SlipwayError.notFound("schedule '\(name)' was not found", code: "schedule_not_found")
            }
            try await AuditWriter.append(
                db, context: audit, team: team, action: "schedule.delete", target: "schedule:\(name)", at: now)
        }
    }

    public func dueSchedules(at now: Date) async throws -> [TrainingSchedule] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.scheduleColumns) FROM training_schedules
                WHERE enabled = 1 AND cron IS NOT NULL AND next_run_at <= \(bind: now.milliseconds)
                ORDER BY next_run_at
                """
            ).all().map(Self.decodeSchedule)
        }
    }

    public func schedules(team: TeamID, onNewVersionOf dataset: String) async throws -> [TrainingSchedule] {
        try await database.read { db in
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.scheduleColumns) FROM training_schedules
                WHERE team_id = \(bind: team.rawValue) AND dataset = \(bind: dataset) AND enabled = 1
                    AND on_new_version = 1
                ORDER BY name
                """
            ).all().map(Self.decodeSchedule)
        }
    }

    public func markScheduleRun(id: ScheduleID, due: Date?, at now: Date, nextRunAt: Date?) async throws -> Bool {
        try await database.transaction { db in
            let rows = try await db.raw(
                """
                UPDATE training_schedules SET last_run_at = \(bind: now.milliseconds),
                    next_run_at = \(bind: nextRunAt?.milliseconds)
                WHERE id = \(bind: id.rawValue) AND next_run_at = \(bind: due?.milliseconds)
                RETURNING id
                """
            ).all()
            return !rows.isEmpty
        }
    }

    static func decodeSchedule(_ row: any SQLRow) throws -> TrainingSchedule {
        TrainingSchedule(
            id: ScheduleID(trusted: try row.decode(column: "id", as: String.self)),
            team: TeamID(trusted: try row.decode(column: "team_id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            spec: try SQLDatasetStore.decoder.decode(
                TrainingSpec.self, from: Data(try row.decode(column: "spec", as: String.self).utf8)),
            cron: try row.decode(column: "cron", as: String?.self),
            onNewVersion: try row.decode(column: "on_new_version", as: Int64.self) != 0,
            enabled: try row.decode(column: "enabled", as: Int64.self) != 0,
            lastRunAt: try row.decode(column: "last_run_at", as: Int64?.self).map(Date.init(milliseconds:)),
            nextRunAt: try row.decode(column: "next_run_at", as: Int64?.self).map(Date.init(milliseconds:)),
            createdAt: Date(milliseconds: try row.decode(column: "created_at", as: Int64.self)))
    }
}
