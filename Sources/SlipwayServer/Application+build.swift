import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Prometheus
import ServiceLifecycle
import SlipwayCore
import SlipwayServing
import SlipwayStore

/// The stores and services one server instance runs on. Built once by ``SlipwayPlatform/open(_:logger:)``.
public struct SlipwayPlatform: Sendable {
    public let database: SlipwayDatabase
    public let identity: any IdentityStore
    public let registry: any ModelRegistryStore
    public let audit: any AuditLogStore
    public let artifacts: ArtifactStore
    public let deployments: any DeploymentStore
    public let datasets: any DatasetStore
    public let jobs: any JobStore
    public let metrics: PrometheusCollectorRegistry
    public let now: @Sendable () -> Date
    /// The live deployments and the prediction path.
    let serving: ServingRegistry
    let predictions: PredictionService
    let pricing: Pricing
    /// The identity store's authentication cache, which the inference fast path reads.
    let cachedIdentity: CachingIdentityStore
    /// Request IDs and HTTP metrics, shared by the router and the inference fast path.
    let instrumentation: RequestInstrumentation

    /// Opens the database (migrating it) and the artifact store under `configuration.home`.
    public static func open(
        _ configuration: ServerConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry = .init(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> SlipwayPlatform {
        let database = try await SlipwayDatabase.open(configuration.database, logger: logger)
        let artifacts = try ArtifactStore(
            root: configuration.home.appendingPathComponent("artifacts", isDirectory: true), database: database)
        // Authentications are cached for a few seconds: the prediction path reads no database per request.
        let identity = CachingIdentityStore(base: SQLIdentityStore(database: database))
        let registry = SQLModelRegistryStore(database: database)
        let serving = ServingRegistry(
            registry: registry, identity: identity, artifacts: artifacts, logger: logger,
            maxModelBytes: configuration.maxArtifactBytes, upstreamCredentials: configuration.upstreamCredentials)
        let predictions = PredictionService(
            registry: serving,
            rateLimiter: RateLimiter(
                limit: try RateLimit(
                    requestsPerSecond: configuration.teamRequestsPerSecond, burst: configuration.teamBurst)),
            quota: try QuotaPolicy(monthlyRows: configuration.monthlyRowQuota), usage: UsageMeter(),
            stats: LatencyStats(), logBuffer: PredictionLogBuffer(), now: now)
        return SlipwayPlatform(
            database: database, identity: identity, registry: registry, audit: SQLAuditLogStore(database: database),
            artifacts: artifacts, deployments: SQLDeploymentStore(database: database),
            datasets: SQLDatasetStore(database: database), jobs: SQLJobStore(database: database), metrics: metrics, now: now,
            serving: serving, predictions: predictions,
            pricing: try Pricing(
                freeRowsPerMonth: configuration.freeRowsPerMonth, centsPerMillionRows: configuration.centsPerMillionRows),
            cachedIdentity: identity, instrumentation: RequestInstrumentation(registry: metrics))
    }

    func datasetService(_ configuration: ServerConfiguration) -> DatasetService {
        DatasetService(
            datasets: datasets, jobs: jobs, artifacts: artifacts, maxBytes: configuration.maxDatasetBytes,
            logger: Logger(label: "slipway.data"), sources: configuration.dataSources,
            snapshotMaxRows: configuration.snapshotMaxRows, snapshotTimeoutSeconds: configuration.snapshotTimeoutSeconds)
    }

    /// Installs the first platform admin if there is none. Returns the new token to print once, or nil.
    ///
    /// - Parameter presetKey: a token to install instead of generating one (`SLIPWAY_ADMIN_KEY`).
    public func bootstrapAdmin(presetKey: String?) async throws -> String? {
        let token: APIKeyToken
        if let presetKey {
            guard let parsed = APIKeyToken(parsing: presetKey) else {
                throw SlipwayError.badRequest(
                    "SLIPWAY_ADMIN_KEY is not a Slipway key: generate one with 'slipway keys generate'",
                    code: "invalid_admin_key")
            }
            token = parsed
        } else {
            var generator = SystemRandomNumberGenerator()
            token = APIKeyToken.generate(using: &generator)
        }
        let created = try await identity.bootstrapAdmin(name: "admin", token: token, at: now())
        return created == nil ? nil : token.description
    }
}

/// Builds the router: middleware, then every controller. Exposed for tests and the route table check.
public func buildRouter(platform: SlipwayPlatform, configuration: ServerConfiguration) -> Router<SlipwayRequestContext>
{
    let router = Router(context: SlipwayRequestContext.self)
    router.add(middleware: RequestLoggingMiddleware(instrumentation: platform.instrumentation))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthorizationMiddleware(identity: platform.identity, now: platform.now))
    OpsController(
        database: platform.database, metrics: platform.metrics,
        extraMetrics: {
            ServingMetrics.render(stats: platform.predictions.stats, rows: platform.predictions.rowsServed)
        }
    ).register(on: router)
    IdentityController(identity: platform.identity, now: platform.now, maxJSONBytes: configuration.maxJSONBytes)
        .register(on: router)
    RegistryController(
        registry: platform.registry, artifacts: platform.artifacts, now: platform.now,
        maxJSONBytes: configuration.maxJSONBytes, maxArtifactBytes: configuration.maxArtifactBytes
    ).register(on: router)
    AuditController(audit: platform.audit).register(on: router)
    DatasetController(
        service: platform.datasetService(configuration), identity: platform.identity, now: platform.now,
        maxJSONBytes: configuration.maxJSONBytes
    ).register(on: router)
    JobController(
        jobs: platform.jobs, datasets: platform.datasets, now: platform.now, maxJSONBytes: configuration.maxJSONBytes
    ).register(on: router)
    DeploymentController(
        deployments: platform.deployments, registry: platform.registry, identity: platform.identity,
        serving: platform.serving,
        stats: platform.predictions.stats, pricing: platform.pricing, now: platform.now,
        maxJSONBytes: configuration.maxJSONBytes
    ).register(on: router)
    let serving = platform.serving
    let deployments = platform.deployments
    PredictionController(
        service: platform.predictions, maxBodyBytes: configuration.maxJSONBytes * 16,
        isReady: {
            // Ready when the database answers and every deployment is loaded and warmed here.
            guard let stored = try? await deployments.allDeployments() else { return false }
            return serving.isLive(stored)
        }
    ).register(on: router)
    return router
}

/// The composition root: the HTTP application with the database and background services.
///
/// On SIGTERM the HTTP server stops accepting and finishes in-flight requests, then GC stops. The
/// database must be running around it (``SlipwayDatabase/withRunning(_:)``) and closes last.
public func buildApplication(
    platform: SlipwayPlatform, configuration: ServerConfiguration, logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(platform: platform, configuration: configuration)
    let gc = ArtifactGCService(
        artifacts: platform.artifacts, interval: configuration.gcInterval,
        unreferencedRetention: configuration.unreferencedArtifactRetention, logger: logger)
    let sync = DeploymentSyncService(
        store: platform.deployments, serving: platform.serving, interval: configuration.deploymentSyncInterval,
        logger: logger)
    let metering = MeteringService(
        store: platform.deployments, service: platform.predictions, interval: configuration.meteringInterval,
        logRetention: configuration.predictionLogRetention, now: platform.now, logger: logger)
    let training = TrainingService(
        runner: TrainingRunner(
            jobs: platform.jobs, datasets: platform.datasets, artifacts: platform.artifacts, registry: platform.registry,
            heartbeat: configuration.jobHeartbeat, logger: logger, now: platform.now),
        jobs: platform.jobs, workers: configuration.trainingWorkers, lease: configuration.jobLease,
        pollInterval: configuration.jobPollInterval, logger: logger, now: platform.now)
    let freshness = FreshnessService(
        datasets: platform.datasets, interval: configuration.freshnessInterval, logger: logger, now: platform.now)
    let schedules = ScheduleService(
        jobs: platform.jobs, interval: configuration.scheduleInterval, logger: logger, now: platform.now)
    // No idle timeout: Hummingbird's connection-state handler sits after the fast path and does not see
    // the requests it answers, so it would take a busy fast-path connection for an idle one.
    let server: HTTPServerBuilder =
        configuration.inferenceFastPath
        ? .http1(
            configuration: .init(additionalChannelHandlers: [
                InferenceFastPath(platform: platform, logger: logger)
            ])) : .http1()
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "slipway"),
        services: [gc, sync, metering, training, freshness, schedules],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
}
