import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SlipwayCore
import SlipwayML
import SlipwayStore
import Synchronization

/// Runs training jobs from the persistent queue: `workers` jobs at a time, each on a thread of its own
/// (never on the request-serving threads), with a lease renewed while it runs.
///
/// A job whose server dies keeps its lease only until it expires; the recovery loop then queues it
/// again (or fails it after its last attempt). On graceful shutdown running jobs are stopped and put
/// back in the queue, so a restart picks them up.
struct TrainingService: Service {
    let runner: TrainingRunner
    let jobs: any JobStore
    let workers: Int
    let lease: Duration
    let pollInterval: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    func run() async throws {
        let pool = NIOThreadPool(numberOfThreads: max(1, workers))
        pool.start()
        await withDiscardingTaskGroup { group in
            group.addTask { await recoveryLoop() }
            for index in 0..<max(0, workers) {
                group.addTask { await workerLoop(index, pool: pool) }
            }
        }
        try? await pool.shutdownGracefully()
    }

    func recoveryLoop() async {
        let interval = lease / 3
        repeat {
            do {
                for job in try await jobs.recoverExpired(at: now()) {
                    logger.warning("recovered a job whose worker stopped", metadata: ["job": "\(job.id)", "status": "\(job.status.rawValue)"])
                }
            } catch {
                logger.error("job recovery failed", metadata: ["error": "\(error)"])
            }
        } while await Self.sleep(interval)
    }

    func workerLoop(_ index: Int, pool: NIOThreadPool) async {
        repeat {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let job: Job?
                do {
                    job = try await jobs.claimNext(leaseUntil: now().addingTimeInterval(lease.seconds), at: now())
                } catch {
                    logger.error("could not claim a job", metadata: ["error": "\(error)"])
                    break
                }
                guard let job else { break }
                await runner.run(job, pool: pool, lease: lease)
            }
        } while await Self.sleep(pollInterval)
    }

    /// Sleeps; false once the server is shutting down.
    static func sleep(_ duration: Duration) async -> Bool {
        guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return false }
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        } catch {
            return false
        }
        return !Task.isShuttingDownGracefully && !Task.isCancelled
    }
}

extension Duration {
    var seconds: TimeInterval {
        let (whole, fraction) = components
        return TimeInterval(whole) + TimeInterval(fraction) / 1e18
    }
}

/// Progress reported by the trainer's thread, read by the heartbeat.
final class TrainingMonitor: Sendable {
    struct State {
        var latest: TrainingProgress?
        var reported = 0
        var cancelled = false
    }

    private let state = Mutex(State())
    let startedAt = ContinuousClock.now

    /// The trainer's observer: records progress, stops training once cancelled.
    func observe(_ progress: TrainingProgress) throws {
        let cancelled = state.withLock { state in
            state.latest = progress
            return state.cancelled
        }
        if cancelled { throw CancellationError() }
    }

    func cancel() { state.withLock { $0.cancelled = true } }
    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// The newest progress, and whether it is newer than the last call's.
    func take() -> (TrainingProgress?, Bool) {
        state.withLock { state in
            let fresh = (state.latest?.iteration ?? 0) > state.reported
            state.reported = state.latest?.iteration ?? state.reported
            return (state.latest, fresh)
        }
    }
}

/// Runs one training job from start to registered model version.
struct TrainingRunner: Sendable {
    let jobs: any JobStore
    let datasets: any DatasetStore
    let artifacts: ArtifactStore
    let registry: any ModelRegistryStore
    let heartbeat: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    enum Outcome: Error {
        case shutdown
    }

    func run(_ job: Job, pool: NIOThreadPool, lease: Duration) async {
        let monitor = TrainingMonitor()
        var metadata = Logger.Metadata()
        metadata["job"] = "\(job.id)"
        logger.info("training started", metadata: metadata)
        do {
            try await jobs.appendLog(
                id: job.id, ["attempt \(job.attempts) of \(job.maxAttempts): \(job.spec.algorithm.rawValue) on "
                    + "\(job.spec.dataset)@\(job.spec.datasetVersion.map(String.init) ?? "latest")"], at: now())
            let result = try await withThrowingTaskGroup(of: JobResult?.self) { group in
                group.addTask { try await train(job, monitor: monitor, pool: pool) }
                group.addTask {
                    try await beat(job, monitor: monitor, lease: lease)
                    return nil
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let next { return next }
                }
                throw CancellationError()
            }
            try await jobs.appendLog(
                id: job.id, ["registered \(result.model) version \(result.version)"], at: now())
            let (latest, _) = monitor.take()
            let done = JobProgress(
                percent: 100, iteration: latest?.iteration ?? 0, maxIterations: latest?.maxIterations ?? 0,
                etaSeconds: 0, metrics: latest?.metrics ?? [:])
            _ = try await jobs.heartbeat(
                id: job.id, attempt: job.attempts, progress: done, leaseUntil: now().addingTimeInterval(lease.seconds))
            try await jobs.finish(
                id: job.id, attempt: job.attempts, status: .succeeded, result: result, error: nil, at: now())
            logger.info("training succeeded", metadata: metadata)
        } catch {
            await fail(job, error: error, monitor: monitor)
        }
    }

    func fail(_ job: Job, error: any Error, monitor: TrainingMonitor) async {
        do {
            if Task.isShuttingDownGracefully || error is Outcome {
                try await jobs.requeue(id: job.id, reason: "the server is shutting down; queued again", at: now())
                return
            }
            if monitor.isCancelled || error is CancellationError {
                try await jobs.appendLog(id: job.id, ["cancelled"], at: now())
                try await jobs.finish(id: job.id, attempt: job.attempts, status: .cancelled, result: nil, error: nil, at: now())
                return
            }
            let message = (error as? SlipwayError)?.message ?? "internal error: \(error)"
            if !(error is SlipwayError) {
                logger.error("training failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
            try await jobs.appendLog(id: job.id, ["failed: \(message)"], at: now())
            try await jobs.finish(id: job.id, attempt: job.attempts, status: .failed, result: nil, error: message, at: now())
        } catch {
            logger.error("could not record a job's end", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Renews the lease, publishes progress and logs, and notices cancel requests and shutdown.
    func beat(_ job: Job, monitor: TrainingMonitor, lease: Duration) async throws {
        while true {
            do {
                try await Task.sleep(for: heartbeat)
            } catch {
                return
            }
            if Task.isShuttingDownGracefully {
                monitor.cancel()
                throw Outcome.shutdown
            }
            let (latest, fresh) = monitor.take()
            var progress = JobProgress()
            if let latest {
                let elapsed = (ContinuousClock.now - monitor.startedAt).seconds
                let fraction = Double(latest.iteration) / Double(max(1, latest.maxIterations))
                progress = JobProgress(
                    percent: min(100, fraction * 100), iteration: latest.iteration, maxIterations: latest.maxIterations,
                    etaSeconds: fraction > 0 ? elapsed / fraction - elapsed : nil, metrics: latest.metrics)
            }
            // A failed heartbeat (the database briefly unreachable) is retried at the next beat; only the
            // lease running out ends the attempt, and then recovery decides.
            do {
                if let latest, fresh {
                    let metrics = latest.metrics.sorted { $0.key < $1.key }
                        .map { "\($0.key)=\(String(format: "%.5g", $0.value))" }.joined(separator: " ")
                    try await jobs.appendLog(
                        id: job.id, ["iteration \(latest.iteration)/\(latest.maxIterations) \(metrics)"], at: now())
                }
                let stop = try await jobs.heartbeat(
                    id: job.id, attempt: job.attempts, progress: progress,
                    leaseUntil: now().addingTimeInterval(lease.seconds))
                if stop { monitor.cancel() }
            } catch {
                logger.warning("job heartbeat failed; retrying", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
        }
    }

    func train(_ job: Job, monitor: TrainingMonitor, pool: NIOThreadPool) async throws -> JobResult {
        let spec = job.spec
        guard let dataset = try await datasets.dataset(team: job.team, name: spec.dataset) else {
            throw SQLDatasetStore.notFound(spec.dataset)
        }
        // Without a pinned version (scheduled runs), the newest version that may be trained on.
        let newestUsable = try await datasets.versions(dataset: dataset.id).last { $0.status != .invalid }
        let number = spec.datasetVersion ?? newestUsable?.version ?? dataset.latestVersion
        guard number > 0 else {
            throw SlipwayError.unprocessable(
                "dataset '\(dataset.name)' has no version that may be trained on yet; push data first",
                code: "no_versions")
        }
        guard let detail = try await datasets.version(dataset: dataset.id, version: number) else {
            throw SlipwayError.unprocessable(
                "dataset '\(dataset.name)' has no version \(number)", code: "version_not_found")
        }
        try TrainingGate.check(detail, dataset: dataset.name)
        let contract = detail.version.contractVersion > 0
            ? try await datasets.contract(dataset: dataset.id, version: detail.version.contractVersion) : nil
        guard let record = try await artifacts.record(team: dataset.team, digest: detail.version.digest) else {
            throw SlipwayError.internal("the content of \(dataset.name)@\(number) is missing from the artifact store")
        }
        let table = try await TrainingTableBuilder.load(
            artifacts.chunks(of: record), format: detail.version.format, spec: spec,
            piiColumns: Set(contract?.contract.columns.filter(\.isPII).map(\.name) ?? []), mayReadPII: true)
        try await datasets.recordRead(
            dataset: dataset, version: number, reader: job.team, piiUnmasked: true, purpose: "training \(job.id)",
            audit: .system("job:\(job.id)"), at: now())
        try await jobs.appendLog(
            id: job.id, ["loaded \(table.rowCount) rows, \(table.featureNames.count) features"], at: now())
        let datasetReference = "\(dataset.name)@\(number)"
        let trainer = ModelTrainer(
            spec: spec,
            metadata: [
                "dataset_version": datasetReference, "training_job": job.id.rawValue, "spec_digest": job.specDigest,
            ])
        let trained = try await pool.runIfActive { try trainer.train(table, observer: monitor.observe) }
        try await jobs.appendLog(id: job.id, trained.summary, at: now())
        // Register only while this attempt still holds the job (not cancelled, lease not lost).
        let stop = try await jobs.heartbeat(
            id: job.id, attempt: job.attempts, progress: JobProgress(percent: 99), leaseUntil: now().addingTimeInterval(60))
        if stop {
            monitor.cancel()
            throw CancellationError()
        }
        return try await register(trained, job: job, dataset: dataset, detail: detail, contract: contract)
    }

    /// Stores the model file and registers it as the next version, creating the model if needed.
    func register(
        _ trained: TrainedModel, job: Job, dataset: Dataset, detail: DatasetVersionDetail, contract: ContractVersion?
    ) async throws -> JobResult {
        let spec = job.spec
        // A retry after a crash between registering and finishing finds its own version instead of adding one.
        if let registered = try await registry.version(team: job.team, model: spec.model, trainingJob: job.id.rawValue) {
            return JobResult(model: spec.model, version: registered.version, metrics: registered.metrics)
        }
        let audit = AuditContext.system("job:\(job.id)")
        let artifact = trained.artifact
        let record = try await artifacts.upload(
            team: job.team, body: SingleBuffer(bytes: artifact), expectedDigest: nil, limit: Int64(artifact.count) + 1,
            audit: audit, at: now())
        if try await registry.model(team: job.team, name: spec.model) == nil {
            do {
                _ = try await registry.createModel(
                    team: job.team, name: spec.model, description: spec.description ?? "", tags: [:], audit: audit,
                    at: now())
            } catch let error as SlipwayError where error.code == "model_exists" {}
        }
        var parameters = trained.parameters
        parameters["dataset_digest"] = detail.version.digest
        parameters["contract_version"] = String(detail.version.contractVersion)
        parameters["spec_digest"] = job.specDigest
        parameters["label"] = spec.label ?? ""
        // The profile of this dataset version (GET …/datasets/NAME/versions/N); summarised in the model card.
        parameters["training_profile"] = "\(dataset.name)@\(detail.version.version)"
        let version = try await registry.createVersion(
            team: job.team, model: spec.model,
            NewModelVersion(
                artifactDigest: record.digest, format: .slipway, signature: trained.signature, parameters: parameters,
                metrics: trained.metrics,
                lineage: Lineage(
                    datasetVersion: "\(dataset.name)@\(detail.version.version)", trainingJob: job.id.rawValue,
                    sourceCode: "spec \(job.specDigest)"),
                description: spec.description ?? "trained by job \(job.id)",
                modelCard: ModelCard.render(
                    spec: spec, job: job, dataset: dataset, detail: detail, contract: contract, trained: trained)),
            audit: audit, at: now())
        return JobResult(model: spec.model, version: version.version, metrics: trained.metrics)
    }
}

/// Refuses dataset versions that broke their contract.
enum TrainingGate {
    static func check(_ detail: DatasetVersionDetail, dataset: String) throws {
        guard detail.version.status == .invalid else { return }
        let failures = detail.report?.blockingFailures ?? []
        let described = failures.prefix(10).map { rule in
            let rows = rule.examples.map { String($0.row) }.joined(separator: ", ")
            return "\(rule.rule) (\(rule.failures) failing\(rows.isEmpty ? "" : ", rows \(rows)"))"
        }
        throw SlipwayError.unprocessable(
            "\(dataset)@\(detail.version.version) breaks its contract and cannot be used for training: "
                + described.joined(separator: "; ")
                + " — fix the data and push a new version, or mark the rule as a warning in the contract",
            code: "contract_violation")
    }
}

/// One in-memory buffer as the async sequence the artifact store reads.
struct SingleBuffer: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]

    struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: [UInt8]?
        mutating func next() async throws -> ByteBuffer? {
            defer { bytes = nil }
            return bytes.map { ByteBuffer(bytes: $0) }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes) }
}
