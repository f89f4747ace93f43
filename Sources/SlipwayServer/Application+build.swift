import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SlipwayCore
import SlipwayStore

/// The stores and services one server instance runs on. Built once by ``SlipwayPlatform/open(_:logger:)``.
public struct SlipwayPlatform: Sendable {
    public let database: SlipwayDatabase
    public let identity: any IdentityStore
    public let registry: any ModelRegistryStore
    public let audit: any AuditLogStore
    public let artifacts: ArtifactStore
    public let metrics: PrometheusCollectorRegistry
    public let now: @Sendable () -> Date

    /// Opens the database (migrating it) and the artifact store under `configuration.home`.
    public static func open(
        _ configuration: ServerConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry = .init(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> SlipwayPlatform {
        let database = try await SlipwayDatabase.open(configuration.database, logger: logger)
        let artifacts = try ArtifactStore(
            root: configuration.home.appendingPathComponent("artifacts", isDirectory: true), database: database)
        return SlipwayPlatform(
            database: database, identity: SQLIdentityStore(database: database),
            registry: SQLModelRegistryStore(database: database), audit: SQLAuditLogStore(database: database),
            artifacts: artifacts, metrics: metrics, now: now)
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
    router.add(middleware: RequestLoggingMiddleware(registry: platform.metrics))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthorizationMiddleware(identity: platform.identity, now: platform.now))
    OpsController(database: platform.database, metrics: platform.metrics).register(on: router)
    IdentityController(identity: platform.identity, now: platform.now, maxJSONBytes: configuration.maxJSONBytes)
        .register(on: router)
    RegistryController(
        registry: platform.registry, artifacts: platform.artifacts, now: platform.now,
        maxJSONBytes: configuration.maxJSONBytes, maxArtifactBytes: configuration.maxArtifactBytes
    ).register(on: router)
    AuditController(audit: platform.audit).register(on: router)
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
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "slipway"),
        services: [gc],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
}
