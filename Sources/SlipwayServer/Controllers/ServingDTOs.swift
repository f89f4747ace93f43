import Foundation
import SlipwayCore
import SlipwayServing

extension DTO {
    struct DeploymentOut: Encodable {
        struct Route: Encodable {
            let version: Int
            let weight: Int
        }
        struct Settings: Encodable {
            let maxBatchRows: Int
            let maxBatchDelayMicros: Int
            let maxConcurrent: Int
            let maxQueue: Int
            let timeoutMillis: Int
            let logSampleRate: Double
            let upstream: UpstreamSettings?
            let sharedWith: [String]

            enum CodingKeys: String, CodingKey {
                case upstream
                case sharedWith = "shared_with"
                case maxBatchRows = "max_batch_rows"
                case maxBatchDelayMicros = "max_batch_delay_us"
                case maxConcurrent = "max_concurrent"
                case maxQueue = "max_queue"
                case timeoutMillis = "timeout_ms"
                case logSampleRate = "log_sample_rate"
            }
        }
        let id: String
        let team: String
        let endpoint: String
        let environment: String
        let model: String?
        let routes: [Route]
        let fallbackVersion: Int?
        let settings: Settings
        let revision: Int
        /// The revision this server serves now (nil: not live here).
        let liveRevision: Int?
        let createdBy: String
        let createdAt: Date
        let updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case id, team, endpoint, environment, model, routes, settings, revision
            case fallbackVersion = "fallback_version"
            case liveRevision = "live_revision"
            case createdBy = "created_by"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ deployment: Deployment, teamName: String, modelName: String?, liveRevision: Int?, sharedWith: [String]) {
            id = deployment.id.rawValue
            team = teamName
            endpoint = deployment.endpoint
            environment = deployment.environment.rawValue
            model = modelName
            routes = deployment.routes.map { Route(version: $0.version, weight: $0.weight) }
            fallbackVersion = deployment.fallbackVersion
            let s = deployment.settings
            settings = Settings(
                maxBatchRows: s.maxBatchRows, maxBatchDelayMicros: s.maxBatchDelayMicros, maxConcurrent: s.maxConcurrent,
                maxQueue: s.maxQueue, timeoutMillis: s.timeoutMillis, logSampleRate: s.logSampleRate,
                upstream: s.upstream, sharedWith: sharedWith)
            revision = deployment.revision
            self.liveRevision = liveRevision
            createdBy = deployment.createdBy
            createdAt = deployment.createdAt
            updatedAt = deployment.updatedAt
        }
    }

    struct StatsOut: Encodable {
        struct Window: Encodable {
            let requests: Int
            let errors: Int
            let errorRate: Double
            let p50Ms: Double
            let p95Ms: Double
            let p99Ms: Double
            let maxMs: Double

            enum CodingKeys: String, CodingKey {
                case requests, errors
                case errorRate = "error_rate"
                case p50Ms = "p50_ms"
                case p95Ms = "p95_ms"
                case p99Ms = "p99_ms"
                case maxMs = "max_ms"
            }

            init(_ snapshot: StatsSnapshot) {
                requests = snapshot.count
                errors = snapshot.errors
                errorRate = snapshot.errorRate
                p50Ms = Double(snapshot.p50Micros) / 1000
                p95Ms = Double(snapshot.p95Micros) / 1000
                p99Ms = Double(snapshot.p99Micros) / 1000
                maxMs = Double(snapshot.maxMicros) / 1000
            }
        }
        let deployment: String
        let endpoint: String
        let environment: String
        let windowSeconds: Int64
        let combined: Window
        let versions: [String: Window]
        let inFlight: Int
        let queued: Int

        enum CodingKeys: String, CodingKey {
            case deployment, endpoint, environment, combined, versions, queued
            case windowSeconds = "window_seconds"
            case inFlight = "in_flight"
        }

        init(_ stats: EndpointStats, deployment: Deployment, admission: AdmissionController) {
            self.deployment = deployment.id.rawValue
            endpoint = deployment.endpoint
            environment = deployment.environment.rawValue
            windowSeconds = stats.window.components.seconds
            combined = Window(stats.combined)
            versions = Dictionary(uniqueKeysWithValues: stats.versions.map { (String($0.key), Window($0.value)) })
            inFlight = admission.inFlight
            queued = admission.queued
        }
    }

    struct UsageOut: Encodable {
        struct Row: Encodable {
            let team: String
            let endpoint: String
            let environment: String
            let version: Int
            let day: String
            let requests: Int64
            let rows: Int64
            let errors: Int64
        }
        let month: String
        let rows: Int64
        let requests: Int64
        let errors: Int64
        let freeRows: Int64
        let chargeCents: Int64
        let items: [Row]

        enum CodingKeys: String, CodingKey {
            case month, rows, requests, errors, items
            case freeRows = "free_rows"
            case chargeCents = "charge_cents"
        }

        init(month: String, records: [UsageRecord], pricing: Pricing, teamNames: [TeamID: String]) {
            self.month = month
            items = records.map { record in
                // Metered endpoints are `endpoint@environment`.
                let parts = record.endpoint.split(separator: "@", maxSplits: 1).map(String.init)
                return Row(
                    team: teamNames[record.team] ?? record.team.rawValue, endpoint: parts[0],
                    environment: parts.count > 1 ? parts[1] : "", version: record.version, day: record.day,
                    requests: record.requests, rows: record.rows, errors: record.errors)
            }
            rows = records.reduce(0) { $0 + $1.rows }
            requests = records.reduce(0) { $0 + $1.requests }
            errors = records.reduce(0) { $0 + $1.errors }
            freeRows = pricing.freeRowsPerMonth
            // Per team: each team has its own free tier.
            var byTeam: [TeamID: Int64] = [:]
            for record in records { byTeam[record.team, default: 0] += record.rows }
            chargeCents = byTeam.values.reduce(0) { $0 + pricing.charge(rows: $1) }
        }
    }

    struct PredictionLogOut: Encodable {
        let id: Int64?
        let version: Int
        let requestID: String
        let at: Date
        let latencyUs: Int64
        let inputs: String
        let outputs: String

        enum CodingKeys: String, CodingKey {
            case id, version, at, inputs, outputs
            case requestID = "request_id"
            case latencyUs = "latency_us"
        }

        init(_ entry: PredictionLogEntry) {
            id = entry.id
            version = entry.version
            requestID = entry.requestID
            at = entry.at
            latencyUs = entry.latencyMicros
            inputs = entry.inputs
            outputs = entry.outputs
        }
    }
}
