import Foundation
import Logging
import SlipwayCore
import SlipwayRuntime
import SlipwayServing
import Synchronization

/// A batch of rows for one deployment, as every prediction API hands it to the serving core.
struct PredictionRequest: Sendable {
    /// `count × features` floats, row-major; NaN is a missing value.
    var rows: [Float]
    var count: Int
    var features: Int
    /// A version the client asked for explicitly (`/v2/models/{m}/versions/{v}`); nil: the traffic split decides.
    var version: Int?
    var requestID: String
    /// The request's inputs as JSON, kept if the request is sampled into the prediction log.
    var inputsForLog: @Sendable () -> String = { "[]" }
}

/// What answered and what it said.
struct PredictionResult: Sendable {
    var version: Int
    var outputs: [PredictionOutput]
    /// True when the fallback version answered because the chosen one failed or was overloaded.
    var usedFallback: Bool
}

/// The serving core shared by every prediction API (OIP v2, KServe V1, MLflow): rate limits and quotas,
/// version choice, admission control, deadlines, fallback, metering, latency statistics and the sampled
/// prediction log. Knows nothing of HTTP.
final class PredictionService: Sendable {
    let registry: ServingRegistry
    let rateLimiter: RateLimiter
    let quota: QuotaPolicy
    let usage: UsageMeter
    let stats: LatencyStats
    let logBuffer: PredictionLogBuffer
    /// Wall-clock time for usage days, quotas and log entries (latencies use the monotonic clock).
    let now: @Sendable () -> Date
    /// Rows used this month per team as last read from the store (refreshed by the metering service).
    let monthRows = Mutex<[TeamID: Int64]>([:])
    /// Picks versions in traffic splits: seeded once from the system, then a fast generator, because the
    /// system generator costs a `getrandom` system call per number and a split needs no secrecy.
    private let random = Mutex(SeededGenerator(seed: UInt64.random(in: .min ... .max)))
    /// Rows predicted since start per `statsKey#version`, for `/metrics`.
    private let rows = Mutex<[String: Int64]>([:])

    var rowsServed: [String: Int64] { rows.withLock { $0 } }

    init(
        registry: ServingRegistry, rateLimiter: RateLimiter, quota: QuotaPolicy, usage: UsageMeter,
        stats: LatencyStats, logBuffer: PredictionLogBuffer, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.now = now
        self.registry = registry
        self.rateLimiter = rateLimiter
        self.quota = quota
        self.usage = usage
        self.stats = stats
        self.logBuffer = logBuffer
    }

    /// Finds the deployment `name` in `environment` among the caller's teams, then among endpoints other
    /// teams shared with them; `team` (the `X-Slipway-Team` header) picks one when several teams use the name.
    /// - Throws: ``SlipwayError`` 404 `deployment_not_found`, 409 `ambiguous_endpoint`.
    func resolve(name: String, caller: Caller, environment: DeploymentEnvironment, team: String?) throws(SlipwayError)
        -> LiveDeployment
    {
        let teams = caller.readableTeams
        var candidates = registry.deployments(named: name, environment: environment, teams: teams)
        if candidates.isEmpty {
            candidates = registry.all.filter { live in
                live.deployment.endpoint == name && live.deployment.environment == environment
                    && !teams.isDisjoint(with: live.deployment.settings.sharedWith)
            }
        }
        if let team { candidates = candidates.filter { $0.teamName == team } }
        guard let target = candidates.first else {
            throw .notFound("no deployment '\(name)' in \(environment.rawValue) for your teams", code: "deployment_not_found")
        }
        guard candidates.count == 1 else {
            throw .conflict(
                "teams \(candidates.map { "'\($0.teamName)'" }.sorted().joined(separator: ", ")) each deploy '\(name)': "
                    + "choose one with the X-Slipway-Team header", code: "ambiguous_endpoint")
        }
        return target
    }

    /// Predicts `request` on `target`.
    /// - Throws: ``SlipwayError``: 400 for input that does not fit the model, 404 for an unknown explicit
    ///   version, 429 (rate limit, quota) and 503 (overload, deadline) with `retryAfter`.
    func predict(_ request: PredictionRequest, on target: LiveDeployment) async throws -> PredictionResult {
        let deployment = target.deployment
        let started = ContinuousClock.now
        try rateLimiter.acquire(key: deployment.team.rawValue, now: started)
        if quota.monthlyRows != nil {
            let pending = usage.pendingRows(team: deployment.team.rawValue)
            let used = monthRows.withLock { $0[deployment.team] ?? 0 } + pending
            try quota.check(rowsUsed: used, rowsRequested: Int64(request.count), now: now())
        }
        guard request.features == target.featureCount else {
            throw SlipwayError.badRequest(
                "endpoint '\(deployment.endpoint)' expects rows of \(target.featureCount) features, got \(request.features)",
                code: "invalid_input")
        }
        let chosen: Int
        if let explicit = request.version {
            guard target.versions[explicit] != nil else {
                throw SlipwayError.notFound(
                    "endpoint '\(deployment.endpoint)' does not serve version \(explicit); it serves "
                        + deployment.versions.map(String.init).joined(separator: ", "),
                    code: "version_not_found")
            }
            chosen = explicit
        } else {
            let routes = target.split.routes
            chosen = routes.count == 1 ? routes[0].version : target.split.pick(random.withLock { $0.next() })
        }
        let deadline = started + .milliseconds(deployment.settings.timeoutMillis)
        var result: PredictionResult
        do {
            result = PredictionResult(
                version: chosen, outputs: try await run(request, version: chosen, on: target, deadline: deadline),
                usedFallback: false)
        } catch let error as SlipwayError {
            let fallback = try fallback(after: error, chosen: chosen, request, on: target, started: started)
            do {
                result = PredictionResult(
                    version: fallback,
                    outputs: try await run(request, version: fallback, on: target, deadline: deadline),
                    usedFallback: true)
            } catch {
                record(target, version: fallback, rows: request.count, started: started, error: true)
                throw error
            }
        } catch {
            record(target, version: chosen, rows: request.count, started: started, error: true)
            throw error
        }
        succeeded(request, result, on: target, started: started)
        return result
    }

    /// The same prediction as ``predict(_:on:)``, done at once on the calling thread when it needs no
    /// waiting: a local version (and a local fallback, if any) without a batching delay, a free admission
    /// slot, and the rate limit and quota passing. Returns nil, having changed nothing, when it cannot be
    /// done that way; the caller then takes ``predict(_:on:)``, which also answers every refusal.
    ///
    /// The inference fast path calls this on an event loop for small requests (see `InferenceFastPath`).
    /// - Throws: ``SlipwayError`` when the version (and its fallback) failed or missed the deadline;
    ///   recorded like ``predict(_:on:)`` records it.
    func predictImmediately(_ request: PredictionRequest, on target: LiveDeployment) throws(SlipwayError)
        -> PredictionResult?
    {
        let deployment = target.deployment
        // Decided before the split draws: a request handed over must not be drawn twice.
        guard target.answersImmediately, request.version == nil, request.features == target.featureCount,
            deployment.versions.allSatisfy({ Self.fitsInline(target.versions[$0], rows: request.count) })
        else { return nil }
        let routes = target.split.routes
        let chosen = routes.count == 1 ? routes[0].version : target.split.pick(random.withLock { $0.next() })
        let started = ContinuousClock.now
        if quota.monthlyRows != nil {
            let used = monthRows.withLock { $0[deployment.team] ?? 0 } + usage.pendingRows(team: deployment.team.rawValue)
            guard (try? quota.check(rowsUsed: used, rowsRequested: Int64(request.count), now: now())) != nil else {
                return nil
            }
        }
        guard target.admission.tryAcquire() else { return nil }
        defer { target.admission.release() }
        guard (try? rateLimiter.acquire(key: deployment.team.rawValue, now: started)) != nil else { return nil }

        let deadline = started + .milliseconds(deployment.settings.timeoutMillis)
        func run(_ version: Int) throws(SlipwayError) -> [PredictionOutput] {
            guard let loaded = target.versions[version] else {
                throw .internal("version \(version) of '\(deployment.endpoint)' is not loaded")
            }
            let outputs = try loaded.predictNow(request.rows, count: request.count)
            guard ContinuousClock.now <= deadline else {
                throw Self.deadlineExceeded(timeoutMillis: deployment.settings.timeoutMillis)
            }
            return outputs
        }
        var result: PredictionResult
        do {
            result = PredictionResult(version: chosen, outputs: try run(chosen), usedFallback: false)
        } catch {
            let fallback = try fallback(after: error, chosen: chosen, request, on: target, started: started)
            do {
                result = PredictionResult(version: fallback, outputs: try run(fallback), usedFallback: true)
            } catch {
                record(target, version: fallback, rows: request.count, started: started, error: true)
                throw error
            }
        }
        succeeded(request, result, on: target, started: started)
        return result
    }

    /// After the chosen version failed with `error`: records the failure and returns the fallback version to
    /// try, if the error is one a fallback may answer (the version's, not the request's), the deployment has
    /// another version as fallback and the client did not ask for one version; otherwise records the
    /// failure as final and throws `error`.
    private func fallback(
        after error: SlipwayError, chosen: Int, _ request: PredictionRequest, on target: LiveDeployment,
        started: ContinuousClock.Instant
    ) throws(SlipwayError) -> Int {
        guard Self.triesFallback(error), let fallback = target.deployment.fallbackVersion, fallback != chosen,
            request.version == nil
        else {
            record(target, version: chosen, rows: request.count, started: started, error: true)
            throw error
        }
        record(target, version: chosen, rows: 0, started: started, error: true)
        return fallback
    }

    /// CPU an immediate prediction may take on the calling thread (an event loop, for the fast path):
    /// beyond it the request waits its turn on the cooperative pool instead, so one team's heavy model
    /// never stalls the other connections sharing a loop.
    static let inlineBudget = Duration.microseconds(250)

    /// Whether `count` rows on `version` fit ``inlineBudget``, judged by the row cost measured at warm-up.
    static func fitsInline(_ version: LoadedVersion?, rows count: Int) -> Bool {
        guard let version, version.predictor != nil else { return false }
        return version.rowCost * count <= inlineBudget
    }

    /// Records a success and samples it into the prediction log.
    private func succeeded(
        _ request: PredictionRequest, _ result: PredictionResult, on target: LiveDeployment, started: ContinuousClock.Instant
    ) {
        let latency = record(target, version: result.version, rows: request.count, started: started, error: false)
        guard target.sampler.shouldSample(now: .now) else { return }
        let deployment = target.deployment
        logBuffer.append(
            PredictionLogEntry(
                deployment: deployment.id, team: deployment.team, endpoint: deployment.endpoint,
                version: result.version, requestID: request.requestID, at: now(), latencyMicros: Int64(latency),
                inputs: request.inputsForLog(), outputs: Self.outputsJSON(result.outputs)))
    }

    static func deadlineExceeded(timeoutMillis: Int) -> SlipwayError {
        SlipwayError(
            .unavailable, code: "deadline_exceeded",
            "the prediction did not finish within the deployment's timeout of \(timeoutMillis) ms; "
                + "raise timeout_ms or max_concurrent, or send fewer rows per request",
            retryAfter: 1)
    }

    /// Errors of the version rather than of the request: the fallback may answer instead.
    private static func triesFallback(_ error: SlipwayError) -> Bool {
        error.kind == .unavailable || error.kind == .internal
    }

    private func run(
        _ request: PredictionRequest, version: Int, on target: LiveDeployment, deadline: ContinuousClock.Instant
    ) async throws -> [PredictionOutput] {
        guard let loaded = target.versions[version] else {
            throw SlipwayError.internal("version \(version) of '\(target.deployment.endpoint)' is not loaded")
        }
        let timeout = target.deployment.settings.timeoutMillis
        return try await target.admission.withPermit(deadline: deadline) {
            // An upstream call carries the deadline itself; a batch waits at most its max delay. A local
            // prediction is CPU work that cannot be interrupted, so instead of a timer per request (a task
            // group and a dispatch timer each time, ~10% of a prediction's CPU), a result that arrives
            // after the deadline is answered as timed out.
            if loaded.upstream != nil || target.deployment.settings.maxBatchDelayMicros > 0 {
                return try await withDeadline(deadline, timeoutMillis: timeout) {
                    try await loaded.predict(request.rows, count: request.count, deadline: deadline)
                }
            }
            let outputs = try await loaded.predict(request.rows, count: request.count, deadline: deadline)
            guard ContinuousClock.now <= deadline else { throw Self.deadlineExceeded(timeoutMillis: timeout) }
            return outputs
        }
    }

    @discardableResult
    private func record(_ target: LiveDeployment, version: Int, rows: Int, started: ContinuousClock.Instant, error: Bool)
        -> UInt64
    {
        let elapsed = ContinuousClock.now - started
        let micros = UInt64(max(0, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
        let deployment = target.deployment
        stats.record(endpoint: target.statsKey, version: version, latencyMicros: max(1, micros), error: error, now: .now)
        if !error, rows > 0 {
            let key = target.rowsKeys[version] ?? "\(target.statsKey)#\(version)"
            self.rows.withLock { $0[key, default: 0] += Int64(rows) }
        }
        usage.record(
            team: deployment.team.rawValue, endpoint: target.usageEndpoint, version: version, rows: error ? 0 : rows,
            error: error, now: now())
        return micros
    }

    /// The key latency statistics use for a deployment.
    static func statsKey(_ deployment: Deployment) -> String {
        "\(deployment.team.rawValue)/\(deployment.environment.rawValue)/\(deployment.endpoint)"
    }

    /// The outputs as the prediction log stores them: the OIP v2 tensor list.
    static func outputsJSON(_ outputs: [PredictionOutput]) -> String {
        var writer = JSONWriter()
        writer.tensors(outputs)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// Runs `body`, or fails with 503 `deadline_exceeded` when `deadline` passes first; the body's task is
/// cancelled then (a batched request still queued leaves its batch).
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, timeoutMillis: Int, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw PredictionService.deadlineExceeded(timeoutMillis: timeoutMillis)
        }
        return value
    }
}

/// Sampled prediction log entries waiting to be written (bounded: when full, new entries are dropped
/// and counted rather than slowing predictions).
final class PredictionLogBuffer: Sendable {
    private let state = Mutex<(entries: [PredictionLogEntry], dropped: Int)>(([], 0))
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func append(_ entry: PredictionLogEntry) {
        state.withLock { state in
            if state.entries.count < capacity { state.entries.append(entry) } else { state.dropped += 1 }
        }
    }

    func drain() -> [PredictionLogEntry] {
        state.withLock { state in
            defer { state.entries.removeAll(keepingCapacity: true) }
            return state.entries
        }
    }

    var dropped: Int { state.withLock { $0.dropped } }
}
