import Foundation
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

    public init(home: URL, database: DatabaseLocation? = nil) {
        self.home = home
        self.database = database ?? .sqlite(path: home.appendingPathComponent("slipway.sqlite").path)
    }
}
