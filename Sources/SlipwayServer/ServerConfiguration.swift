import Foundation
import SlipwayServing
import SlipwayStore

/// Everything `slipway serve` can be told. Built by the CLI from flags and the environment; the
/// server itself never reads the environment.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Data directory: the SQLite file and the artifact blobs live here.
    public var home: URL
    /// Metadata database; defaults to `<home>/slipway.sqlite`.
    public var database: DatabaseLocation
    /// Largest accepted model artifact.
    public var maxArtifactBytes: Int64 = 2 * 1024 * 1024 * 1024
    /// Largest accepted JSON body.
    public var maxJSONBytes: Int = 1024 * 1024
    /// A platform admin key to install on first start instead of generating one (`SLIPWAY_ADMIN_KEY`).
    public var initialAdminKey: String?
    /// How often artifact garbage collection runs.
    public var gcInterval: Duration = .seconds(3600)
    /// Unreferenced artifacts are kept this long after their last upload.
    public var unreferencedArtifactRetention: TimeInterval = 86_400

    // Serving
    /// Predictions per second each team may request across its endpoints (token bucket).
    public var teamRequestsPerSecond: Double = 10_000
    /// Requests a team may send at once above its rate.
    public var teamBurst: Int = 20_000
    /// Rows each team may predict per calendar month (UTC); nil: unlimited.
    public var monthlyRowQuota: Int64?
    /// Rows free per team and month before charging.
    public var freeRowsPerMonth: Int64 = 100_000
    /// Price per million rows beyond the free tier, in cents.
    public var centsPerMillionRows: Int64 = 1_000
    /// How often usage counters and sampled predictions are written to the database.
    public var meteringInterval: Duration = .seconds(5)
    /// How often deployments are re-read (changes made through other replicas).
    public var deploymentSyncInterval: Duration = .seconds(10)
    /// Bearer tokens for upstream model servers, referred to by name in deployments
    /// (`--upstream-credential NAME[@TEAM,…]=ENV_VAR`).
    public var upstreamCredentials: [UpstreamCredential] = []
    /// Answer small OIP v2 infer requests on the connection's event loop when nothing has to wait
    /// (see docs/serving.md, "The inference fast path"); off, every request takes the router.
    public var inferenceFastPath: Bool = true
    /// Sampled predictions kept per deployment, and for how long.
    public var predictionLogRetention: (keepPerDeployment: Int, maxAge: TimeInterval) = (10_000, 30 * 86_400)


    // Data and training
    /// Largest accepted dataset upload.
    public var maxDatasetBytes: Int64 = 8 * 1024 * 1024 * 1024
    /// Databases teams may snapshot into datasets (`--data-source NAME[@TEAM,…]=URL`).
    public var dataSources: [DataSource] = []
    /// Most rows and seconds a snapshot query may take.
    public var snapshotMaxRows: Int = 50_000_000
    public var snapshotTimeoutSeconds: Int = 600
    /// Training jobs run at once on this server (each on its own thread); 0 runs none here (an API-only
    /// replica), while still recovering jobs whose worker died.
    public var trainingWorkers: Int = 1
    /// A running job's lease: if its server stops renewing it for this long, the job is queued again.
    public var jobLease: Duration = .seconds(30)
    /// How often a running job renews its lease and publishes progress.
    public var jobHeartbeat: Duration = .seconds(2)
    /// How often idle workers look for queued jobs.
    public var jobPollInterval: Duration = .seconds(1)
    /// How often freshness SLAs and cron schedules are checked.
    public var freshnessInterval: Duration = .seconds(60)
    public var scheduleInterval: Duration = .seconds(30)

    public init(home: URL, database: DatabaseLocation? = nil) {
        self.home = home
        self.database = database ?? .sqlite(path: home.appendingPathComponent("slipway.sqlite").path)
    }
}
