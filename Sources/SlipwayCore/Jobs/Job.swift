import Foundation

/// Where a job is in its life. `succeeded`, `failed` and `cancelled` are final.
public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }

    /// The transitions the queue allows. `running → queued` is a retry after the worker holding the job
    /// stopped renewing its lease (a crash or restart).
    public func canMove(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .cancelled): true
        case (.running, .succeeded), (.running, .failed), (.running, .cancelled), (.running, .queued): true
        default: false
        }
    }
}

/// How far a running job has got.
public struct JobProgress: Sendable, Equatable, Codable {
    /// 0–100.
    public var percent: Double
    public var iteration: Int
    public var maxIterations: Int
    /// Estimated seconds left, from the pace so far.
    public var etaSeconds: Double?
    /// The trainer's latest metrics (`train_loss`, `validation_loss` …).
    public var metrics: [String: Double]

    public init(
        percent: Double = 0, iteration: Int = 0, maxIterations: Int = 0, etaSeconds: Double? = nil,
        metrics: [String: Double] = [:]
    ) {
        self.percent = percent
        self.iteration = iteration
        self.maxIterations = maxIterations
        self.etaSeconds = etaSeconds
        self.metrics = metrics
    }

    enum CodingKeys: String, CodingKey {
        case percent, iteration, metrics
        case maxIterations = "max_iterations"
        case etaSeconds = "eta_seconds"
    }
}

/// What a successful training job produced.
public struct JobResult: Sendable, Equatable, Codable {
    public var model: String
    public var version: Int
    public var metrics: [String: Double]

    public init(model: String, version: Int, metrics: [String: Double]) {
        self.model = model
        self.version = version
        self.metrics = metrics
    }
}

/// A training job in the persistent queue.
public struct Job: Sendable, Equatable, Codable {
    public let id: JobID
    public let team: TeamID
    public var status: JobStatus
    public let spec: TrainingSpec
    /// `sha256:<hex>` of the spec's canonical JSON, recorded in the model's lineage.
    public let specDigest: String
    /// Runs started so far (a retry after a crash starts another).
    public var attempts: Int
    public let maxAttempts: Int
    public var progress: JobProgress
    public var result: JobResult?
    public var error: String?
    public var cancelRequested: Bool
    /// The schedule that queued it, if any.
    public let schedule: ScheduleID?
    public let createdBy: String
    public let createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(
        id: JobID, team: TeamID, status: JobStatus, spec: TrainingSpec, specDigest: String, attempts: Int,
        maxAttempts: Int, progress: JobProgress, result: JobResult?, error: String?, cancelRequested: Bool,
        schedule: ScheduleID?, createdBy: String, createdAt: Date, startedAt: Date?, finishedAt: Date?
    ) {
        self.id = id
        self.team = team
        self.status = status
        self.spec = spec
        self.specDigest = specDigest
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.progress = progress
        self.result = result
        self.error = error
        self.cancelRequested = cancelRequested
        self.schedule = schedule
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// One line of a job's log.
public struct JobLogLine: Sendable, Equatable, Codable {
    /// Increasing per job; pass the last one seen as `after` to follow the log.
    public var sequence: Int
    public var at: Date
    public var message: String

    public init(sequence: Int, at: Date, message: String) {
        self.sequence = sequence
        self.at = at
        self.message = message
    }
}

/// Retraining on a timetable or whenever the dataset gets a new version.
public struct TrainingSchedule: Sendable, Equatable, Codable {
    public let id: ScheduleID
    public let team: TeamID
    public let name: String
    /// The spec each run uses; its `dataset_version` is ignored so runs take the newest usable version.
    public var spec: TrainingSpec
    /// A five-field cron expression in UTC, or nil.
    public var cron: String?
    public var onNewVersion: Bool
    public var enabled: Bool
    public var lastRunAt: Date?
    /// The next cron time; nil without a cron expression.
    public var nextRunAt: Date?
    public let createdAt: Date

    public init(
        id: ScheduleID, team: TeamID, name: String, spec: TrainingSpec, cron: String?, onNewVersion: Bool,
        enabled: Bool, lastRunAt: Date?, nextRunAt: Date?, createdAt: Date
    ) {
        self.id = id
        self.team = team
        self.name = name
        self.spec = spec
        self.cron = cron
        self.onNewVersion = onNewVersion
        self.enabled = enabled
        self.lastRunAt = lastRunAt
        self.nextRunAt = nextRunAt
        self.createdAt = createdAt
    }
}
