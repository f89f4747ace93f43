import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import SlipwayCore
import SlipwayServer
import SlipwayServing
import SlipwayStore

/// `slipway serve`: runs the platform server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Slipway server.",
        discussion: """
            Data lives under --home (default $SLIPWAY_HOME or ./.slipway): the SQLite database and the artifacts.
            On first start with an empty store a platform admin key is printed once; set $SLIPWAY_ADMIN_KEY
            (from 'slipway keys generate') to choose it instead.
            """)

    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port: Int = 8080
    @Option(help: "Data directory (default: $SLIPWAY_HOME or ./.slipway).") var home: String?
    @Option(
        help:
            "Metadata database: an SQLite path or postgres://user:pass@host:port/db (default: $SLIPWAY_DATABASE or HOME/slipway.sqlite)."
    )
    var database: String?
    @Option(help: "Largest accepted artifact in bytes.") var maxArtifactBytes: Int64 = 2 * 1024 * 1024 * 1024
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(help: "Prediction requests per second per team, across its endpoints (429 beyond).")
    var teamRps: Double = 10_000
    @Option(help: "Rows each team may predict per calendar month, UTC (default: unlimited; 429 beyond).")
    var monthlyRowQuota: Int64?
    @Option(help: "Rows free per team and month before charging.") var freeRows: Int64 = 100_000
    @Option(help: "Price per million rows beyond the free tier, in cents.") var centsPerMillion: Int64 = 1_000
    @Option(
        help: ArgumentHelp(
            "A database teams may snapshot into datasets: NAME[@TEAM,TEAM]=postgres://… or NAME=sqlite:///path (repeatable; also $SLIPWAY_DATA_SOURCES, space-separated).",
            valueName: "source"))
    var dataSource: [String] = []
    @Option(
        help: ArgumentHelp(
            "A bearer token for upstream model servers, read from an environment variable and named in deployments' upstream settings: NAME[@TEAM,TEAM]=ENV_VAR (repeatable).",
            valueName: "credential"))
    var upstreamCredential: [String] = []
    @Option(help: "Training jobs run at once on this server (0: none, an API-only replica).") var trainingWorkers: Int = 1
    @Flag(
        help:
            "Send every request through the router: no inference fast path for small OIP v2 infer requests (for comparison or debugging).")
    var noFastPath = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let homePath = home ?? environment["SLIPWAY_HOME"] ?? ".slipway"
        let homeURL = URL(fileURLWithPath: homePath, isDirectory: true).standardizedFileURL
        try FileManager.default.createDirectory(at: homeURL, withIntermediateDirectories: true)
        var settings = ServerConfiguration(
            home: homeURL,
            database: try (database ?? environment["SLIPWAY_DATABASE"]).map(DatabaseLocation.init(parsing:)))
        settings.host = host
        settings.port = port
        settings.maxArtifactBytes = maxArtifactBytes
        settings.initialAdminKey = environment["SLIPWAY_ADMIN_KEY"]
        guard teamRps > 0, monthlyRowQuota.map({ $0 >= 0 }) ?? true, freeRows >= 0, centsPerMillion >= 0 else {
            throw ValidationError("--team-rps must be positive; quotas, free rows and prices must not be negative")
        }
        settings.teamRequestsPerSecond = teamRps
        settings.teamBurst = max(1, Int(teamRps * 2))
        settings.monthlyRowQuota = monthlyRowQuota
        settings.freeRowsPerMonth = freeRows
        settings.centsPerMillionRows = centsPerMillion
        let sourceSpecs = dataSource + (environment["SLIPWAY_DATA_SOURCES"]?.split(separator: " ").map(String.init) ?? [])
        do {
            settings.dataSources = try sourceSpecs.map { try DataSource(parsing: $0) }
        } catch let error as SlipwayError {
            throw ValidationError("--data-source: \(error.message)")
        }
        guard Set(settings.dataSources.map(\.name)).count == settings.dataSources.count else {
            throw ValidationError("--data-source names must be unique")
        }
        do {
            settings.upstreamCredentials = try upstreamCredential.map {
                try UpstreamCredential(parsing: $0, environment: environment)
            }
        } catch let error as SlipwayError {
            throw ValidationError("--upstream-credential: \(error.message)")
        }
        guard Set(settings.upstreamCredentials.map(\.name)).count == settings.upstreamCredentials.count else {
            throw ValidationError("--upstream-credential names must be unique")
        }
        guard (0...64).contains(trainingWorkers) else { throw ValidationError("--training-workers must be 0 to 64") }
        settings.trainingWorkers = trainingWorkers
        settings.inferenceFastPath = !noFastPath
        let configuration = settings

        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level) }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "slipway")

        let platform = try await SlipwayPlatform.open(configuration, logger: logger, metrics: registry)
        try await platform.database.withRunning {
            try await platform.database.migrate()
            if let token = try await platform.bootstrapAdmin(presetKey: configuration.initialAdminKey) {
                if configuration.initialAdminKey == nil {
                    printNow(
                        """
                        ================================================================
                        First start: created platform admin 'admin'. Its API key, shown only now:

                            \(token)

                        Save it, then: slipway login --server http://\(host):\(port) --key <key>
                        ================================================================
                        """)
                } else {
                    printNow("First start: installed $SLIPWAY_ADMIN_KEY as the platform admin 'admin' key.")
                }
            } else if configuration.initialAdminKey != nil {
                logger.warning("SLIPWAY_ADMIN_KEY ignored: the store already has a platform admin")
            }
            logger.info("starting", metadata: ["database": "\(configuration.database)", "home": "\(homeURL.path)"])
            let app = buildApplication(platform: platform, configuration: configuration, logger: logger) { port in
                printNow("Slipway listening on http://\(configuration.host):\(port)")
            }
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }
}

/// Writes a line to standard output at once (print is block-buffered when piped to a log file).
func printNow(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
