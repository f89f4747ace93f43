import AsyncHTTPClient
import Foundation
import Logging
import SlipwayCore
import SlipwayRuntime
import SlipwayServing
import SlipwayStore
import Synchronization

/// A model version ready to serve: loaded and warmed locally, or reached through an upstream server.
final class LoadedVersion: Sendable {
    let version: Int
    let digest: String
    /// The local runtime; for an upstream version, nil.
    let predictor: (any Predictor)?
    /// Merges concurrent single-output requests; nil for models with several outputs (labels), which
    /// are predicted per request.
    let batcher: Batcher?
    /// The external server answering for this version, if any.
    let upstream: UpstreamClient?
    let signature: ModelSignature
    let featureCount: Int

    /// A version served by an upstream OIP v2 server; its signature comes from the registry.
    init(version: Int, digest: String, signature: ModelSignature, upstream: UpstreamClient) throws(SlipwayError) {
        guard signature.inputs.count == 1, let features = signature.inputs[0].shape.last, features > 0 else {
            throw .unprocessable(
                "version \(version) needs a signature with one input of shape [-1, features] to be served upstream",
                code: "signature_required")
        }
        self.version = version
        self.digest = digest
        self.signature = signature
        self.featureCount = features
        self.upstream = upstream
        self.predictor = nil
        self.batcher = nil
        self.rowCost = .zero
    }

    /// What one row costs this version's runtime, measured when it was warmed; the inference fast path
    /// predicts on an event loop only what this says fits its budget. Zero for an upstream version.
    let rowCost: Duration

    /// A local version, warmed: one row through the runtime (so the first request pays no first-call
    /// costs), then the cheapest of three more one-row calls as ``rowCost``.
    /// - Throws: ``SlipwayError`` when the runtime cannot predict a row of zeros.
    init(version: Int, digest: String, predictor: any Predictor, settings: ServingSettings) throws(SlipwayError) {
        self.version = version
        self.digest = digest
        self.predictor = predictor
        self.upstream = nil
        self.signature = predictor.signature
        self.featureCount = predictor.featureCount
        let zeros = [Float](repeating: 0, count: predictor.featureCount)
        _ = try predictor.predictOutputs(zeros, rows: 1)
        var cheapest = Duration.seconds(1)
        for _ in 0..<3 {
            let started = ContinuousClock.now
            _ = try predictor.predictOutputs(zeros, rows: 1)
            cheapest = min(cheapest, ContinuousClock.now - started)
        }
        self.rowCost = cheapest
        if predictor.signature.outputs.count <= 1 {
            batcher = Batcher(
                predictor: predictor,
                configuration: try .init(
                    maxBatchRows: settings.maxBatchRows, maxDelay: .microseconds(settings.maxBatchDelayMicros),
                    maxConcurrentBatches: Self.concurrentBatches(settings)))
        } else {
            batcher = nil
        }
    }

    /// Batches of one version that may compute at once: one per core, within the deployment's
    /// `max_concurrent`. A request that finds a core free runs at once instead of waiting for the batch
    /// on the other core to finish; batches form when every core is busy, which is when they pay.
    static func concurrentBatches(_ settings: ServingSettings) -> Int {
        max(1, min(settings.maxConcurrent, ProcessInfo.processInfo.activeProcessorCount))
    }

    /// Every output for `count` rows: upstream, through the batcher, or directly.
    func predict(_ rows: [Float], count: Int, deadline: ContinuousClock.Instant) async throws -> [PredictionOutput] {
        if let upstream {
            return try await upstream.infer(rows: rows, count: count, features: featureCount, deadline: deadline)
        }
        guard let predictor else { throw SlipwayError.internal("version \(version) has no runtime") }
        guard let batcher else { return try predictor.predictOutputs(rows, rows: count) }
        return [batchOutput(try await batcher.predict(rows: rows, count: count), count: count, predictor)]
    }

    /// The same outputs as ``predict(_:count:deadline:)`` for a local version, computed on the calling
    /// thread without the batcher: a version that batches answers in the batcher's form (its main output,
    /// `[count, outputCount]` FP32), whatever `predictOutputs` would have said.
    func predictNow(_ rows: [Float], count: Int) throws(SlipwayError) -> [PredictionOutput] {
        guard let predictor else { throw .internal("version \(version) has no local runtime") }
        guard batcher != nil else { return try predictor.predictOutputs(rows, rows: count) }
        return [batchOutput(try predictor.predict(rows, rows: count), count: count, predictor)]
    }

    private func batchOutput(_ values: [Float], count: Int, _ predictor: any Predictor) -> PredictionOutput {
        PredictionOutput(
            name: predictor.signature.outputs.first?.name ?? "output", shape: [count, predictor.outputCount],
            data: .floats(values))
    }
}

/// A deployment as the serving layer runs it: its versions loaded, its split and its limits.
final class LiveDeployment: Sendable {
    let deployment: Deployment
    let teamName: String
    let modelName: String
    let split: TrafficSplit
    let versions: [Int: LoadedVersion]
    let admission: AdmissionController
    let sampler: PredictionSampler
    /// `team/environment/endpoint`: the key of this deployment's latency statistics.
    let statsKey: String
    /// `endpoint@environment`: the endpoint as usage records name it.
    let usageEndpoint: String
    /// `statsKey#version` per version: the keys of the rows-served counters in `/metrics`.
    let rowsKeys: [Int: String]
    /// Every version (routed and fallback) runs here and nothing waits for a batch: the precondition of
    /// ``PredictionService/predictImmediately(_:on:)``, checked before the split draws, so handing a request
    /// over never re-draws it (which would skew the split).
    let answersImmediately: Bool

    init(
        deployment: Deployment, teamName: String, modelName: String, versions: [Int: LoadedVersion],
        admission: AdmissionController, sampler: PredictionSampler
    ) throws(SlipwayError) {
        self.deployment = deployment
        self.teamName = teamName
        self.modelName = modelName
        self.split = try TrafficSplit(deployment.routes.map { ($0.version, $0.weight) })
        self.versions = versions
        self.admission = admission
        self.sampler = sampler
        // Built once here rather than on every prediction.
        let statsKey = PredictionService.statsKey(deployment)
        self.statsKey = statsKey
        self.usageEndpoint = "\(deployment.endpoint)@\(deployment.environment.rawValue)"
        self.rowsKeys = Dictionary(uniqueKeysWithValues: versions.keys.map { ($0, "\(statsKey)#\($0)") })
        self.answersImmediately =
            deployment.settings.maxBatchDelayMicros == 0
            && deployment.versions.allSatisfy { versions[$0]?.predictor != nil }
    }

    /// The features per row every version of this deployment expects (the first routed version's).
    var featureCount: Int { versions[split.routes[0].version]?.featureCount ?? 0 }
    var signature: ModelSignature? { versions[split.routes[0].version]?.signature }
}

/// The deployments this server instance serves, loaded and warmed, swapped atomically on change.
///
/// Requests look deployments up without waiting (one lock, no I/O). ``apply(_:)`` loads and warms every
/// version of a new or changed deployment *before* it replaces the old one, so a change never fails or
/// drops a request: calls already running keep the ``LiveDeployment`` they started with. Predictors are
/// shared by artifact digest, so a version in several deployments is loaded once.
final class ServingRegistry: Sendable {
    private let registry: any ModelRegistryStore
    private let identity: any IdentityStore
    private let artifacts: ArtifactStore
    private let logger: Logger
    private let maxModelBytes: Int64
    private let upstreamCredentials: [UpstreamCredential]

    /// Keyed by ``key(team:endpoint:environment:)``.
    private let live = Mutex<[Key: LiveDeployment]>([:])
    /// Loaded predictors by artifact digest.
    private let predictors = Mutex<[String: any Predictor]>([:])

    init(
        registry: any ModelRegistryStore, identity: any IdentityStore, artifacts: ArtifactStore, logger: Logger,
        maxModelBytes: Int64 = 1 << 30, upstreamCredentials: [UpstreamCredential] = []
    ) {
        self.upstreamCredentials = upstreamCredentials
        self.registry = registry
        self.identity = identity
        self.artifacts = artifacts
        self.logger = logger
        self.maxModelBytes = maxModelBytes
    }

    /// A deployment's place in the live table: hashed as it is, with no string built per request.
    struct Key: Hashable {
        let team: TeamID
        let environment: DeploymentEnvironment
        let endpoint: String
    }

    static func key(team: TeamID, endpoint: String, environment: DeploymentEnvironment) -> Key {
        Key(team: team, environment: environment, endpoint: endpoint)
    }

    /// The live deployment, if this instance serves it.
    func deployment(team: TeamID, endpoint: String, environment: DeploymentEnvironment) -> LiveDeployment? {
        let key = Self.key(team: team, endpoint: endpoint, environment: environment)
        return live.withLock { $0[key] }
    }

    /// Live deployments named `endpoint` in `environment` among `teams`.
    func deployments(named endpoint: String, environment: DeploymentEnvironment, teams: some Sequence<TeamID>)
        -> [LiveDeployment]
    {
        let keys = teams.map { Self.key(team: $0, endpoint: endpoint, environment: environment) }
        return live.withLock { table in keys.compactMap { table[$0] } }
    }

    /// Every live deployment.
    var all: [LiveDeployment] { live.withLock { Array($0.values) } }

    var count: Int { live.withLock { $0.count } }

    /// Whether every one of `stored` is live here at its stored revision or newer (readiness: a server
    /// that has not loaded and warmed its deployments yet is not ready).
    func isLive(_ stored: [Deployment]) -> Bool {
        live.withLock { table in
            stored.allSatisfy { deployment in
                let key = Self.key(team: deployment.team, endpoint: deployment.endpoint, environment: deployment.environment)
                return (table[key]?.deployment.revision ?? 0) >= deployment.revision
            }
        }
    }

    /// Loads and warms every version of `deployment`, then makes it live (replacing an older revision).
    /// - Throws: ``SlipwayError`` (422) when a version cannot be loaded; the old revision keeps serving.
    func apply(_ deployment: Deployment) async throws {
        let key = Self.key(team: deployment.team, endpoint: deployment.endpoint, environment: deployment.environment)
        if let current = live.withLock({ $0[key] }), current.deployment.revision >= deployment.revision,
            current.deployment.id == deployment.id
        {
            return
        }
        guard let team = try await identity.team(id: deployment.team) else {
            throw SlipwayError.notFound("team \(deployment.team) not found", code: "team_not_found")
        }
        guard let model = try await registry.model(team: deployment.team, id: deployment.model) else {
            throw SlipwayError.notFound("model \(deployment.model) not found", code: "model_not_found")
        }
        var versions: [Int: LoadedVersion] = [:]
        let previous = live.withLock { $0[key] }
        let upstream = try deployment.settings.upstream.map { settings throws(SlipwayError) in
            try upstreamClient(settings, team: team.name, endpoint: deployment.endpoint, previous: previous)
        }
        for number in deployment.versions {
            guard let version = try await registry.version(team: deployment.team, model: model.name, version: number)
            else {
                throw SlipwayError.notFound(
                    "model '\(model.name)' has no version \(number)", code: "version_not_found")
            }
            if let upstream, deployment.routes.contains(where: { $0.version == number }) {
                guard let signature = version.signature else {
                    throw SlipwayError.unprocessable(
                        "version \(number) of '\(model.name)' has no signature; an upstream deployment needs one",
                        code: "signature_required")
                }
                versions[number] = try LoadedVersion(
                    version: number, digest: version.artifactDigest, signature: signature, upstream: upstream)
                continue
            }
            let predictor = try await loadPredictor(version)
            // Loading warms it: rows through the runtime, so the first request pays no first-call costs.
            versions[number] = try LoadedVersion(
                version: number, digest: version.artifactDigest, predictor: predictor, settings: deployment.settings)
        }
        let limits = try AdmissionController.Limits(
            maxConcurrent: deployment.settings.maxConcurrent, maxQueue: deployment.settings.maxQueue)
        // Keep the admission controller (and its in-flight accounting) across revisions.
        let admission = previous?.admission ?? AdmissionController(limits: limits, name: "'\(deployment.endpoint)'")
        if previous != nil { admission.update(limits) }
        let sampler = try previous?.sampler ?? PredictionSampler(rate: deployment.settings.logSampleRate, maxPerSecond: 50)
        if previous != nil { try sampler.update(rate: deployment.settings.logSampleRate, maxPerSecond: 50) }
        let next = try LiveDeployment(
            deployment: deployment, teamName: team.name, modelName: model.name, versions: versions,
            admission: admission, sampler: sampler)
        live.withLock { $0[key] = next }
        logger.info(
            "deployment live",
            metadata: [
                "endpoint": "\(deployment.endpoint)", "environment": "\(deployment.environment.rawValue)",
                "revision": "\(deployment.revision)",
                "routes": "\(deployment.routes.map { "\($0.version):\($0.weight)" }.joined(separator: ","))",
            ])
    }

    /// The client configuration for `settings` in team `team`, with its credential's token.
    /// - Throws: 400 naming the setting that is wrong, or the credential the team may not use.
    func upstreamConfiguration(_ settings: UpstreamSettings, team: String) throws(SlipwayError) -> UpstreamConfiguration {
        let token = try settings.credential.map { name throws(SlipwayError) in
            try UpstreamCredential.token(named: name, team: team, in: upstreamCredentials)
        }
        return try UpstreamConfiguration(
            baseURL: settings.url, model: settings.model, version: settings.version, inputName: settings.inputName,
            timeoutMilliseconds: settings.timeoutMillis, maxRetries: settings.maxRetries, bearerToken: token)
    }

    /// The client for an upstream, keeping the previous revision's (and its circuit breaker's state) when
    /// the upstream did not change.
    private func upstreamClient(
        _ settings: UpstreamSettings, team: String, endpoint: String, previous: LiveDeployment?
    ) throws(SlipwayError) -> UpstreamClient {
        let configuration = try upstreamConfiguration(settings, team: team)
        if let existing = previous?.versions.values.compactMap(\.upstream).first,
            existing.configuration == configuration
        {
            return existing
        }
        let breaker = CircuitBreaker(
            name: "\(endpoint) → \(configuration.upstreamName)",
            configuration: try .init(failureThreshold: 5, openDuration: .seconds(10)))
        return UpstreamClient(
            configuration: configuration, httpClient: Self.upstreamHTTPClient, breaker: breaker, logger: logger)
    }

    /// One pooled client for every upstream, configured to report a refused connection at once (the
    /// shared default client retries connecting until the attempt times out, which would spend the
    /// request's whole deadline before failing over). It lives as long as the process.
    static let upstreamHTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: UpstreamClient.recommendedHTTPClientConfiguration)

    /// Loads and warms `versions` of `model` (or finds them loaded), so a deployment can go live at once.
    /// - Throws: ``SlipwayError`` naming the version that cannot be served.
    func prepare(team: TeamID, model: String, versions: [Int]) async throws {
        for number in versions {
            guard let version = try await registry.version(team: team, model: model, version: number) else {
                throw SlipwayError.notFound("model '\(model)' has no version \(number)", code: "version_not_found")
            }
            let predictor = try await loadPredictor(version)
            _ = try predictor.predictOutputs([Float](repeating: 0, count: predictor.featureCount), rows: 1)
        }
    }

    /// Stops serving a deployment (requests already running finish).
    func remove(team: TeamID, endpoint: String, environment: DeploymentEnvironment) {
        let key = Self.key(team: team, endpoint: endpoint, environment: environment)
        _ = live.withLock { $0.removeValue(forKey: key) }
    }

    /// Replaces the live set with `deployments` (applying new and changed ones, dropping the rest).
    /// Errors are logged per deployment; the others still load.
    func synchronize(with deployments: [Deployment]) async {
        let wanted = Set(deployments.map { Self.key(team: $0.team, endpoint: $0.endpoint, environment: $0.environment) })
        for deployment in deployments {
            do {
                try await apply(deployment)
            } catch {
                logger.error(
                    "deployment could not be loaded",
                    metadata: ["endpoint": "\(deployment.endpoint)", "error": "\(error)"])
            }
        }
        live.withLock { table in
            for key in table.keys where !wanted.contains(key) { table.removeValue(forKey: key) }
        }
        let digests = Set(all.flatMap { $0.versions.values.map(\.digest) })
        predictors.withLock { cache in
            for digest in cache.keys where !digests.contains(digest) { cache.removeValue(forKey: digest) }
        }
    }

    private func loadPredictor(_ version: ModelVersion) async throws -> any Predictor {
        if let cached = predictors.withLock({ $0[version.artifactDigest] }) { return cached }
        let bytes = try await artifacts.readAll(
            ArtifactRecord(digest: version.artifactDigest, size: version.artifactSize), limit: maxModelBytes)
        guard let predictor = try ModelLoader.load(version.format, artifact: bytes) else {
            throw SlipwayError.unprocessable(
                "\(version.format.rawValue) models cannot be served by this Slipway", code: "not_servable")
        }
        predictors.withLock { $0[version.artifactDigest] = predictor }
        return predictor
    }
}
