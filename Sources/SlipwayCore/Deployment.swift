import Foundation

/// Where a deployment serves: its own endpoints, settings and traffic per environment.
public enum DeploymentEnvironment: String, Sendable, Codable, CaseIterable {
    case staging
    case production

    /// Parses a name, with a 400 that lists the environments.
    public static func parse(_ text: String) throws(SlipwayError) -> DeploymentEnvironment {
        guard let environment = DeploymentEnvironment(rawValue: text) else {
            throw .badRequest(
                "unknown environment '\(text.prefix(40))': use \(allCases.map(\.rawValue).joined(separator: " or "))",
                code: "invalid_environment")
        }
        return environment
    }
}

/// One version receiving a share of a deployment's traffic.
public struct TrafficRoute: Sendable, Equatable, Codable {
    public var version: Int
    /// Relative weight; a deployment's weights need not sum to 100.
    public var weight: Int

    public init(version: Int, weight: Int) {
        self.version = version
        self.weight = weight
    }
}

/// An external model server (Open Inference Protocol v2, e.g. MLServer or Triton run by a team) that
/// serves a deployment's routed traffic; the deployment's fallback version, served by Slipway itself,
/// answers when the upstream fails or its circuit is open.
public struct UpstreamSettings: Sendable, Equatable, Codable {
    /// `http(s)://host:port` of the upstream server.
    public var url: String
    /// The model name on the upstream server.
    public var model: String
    /// The model version on the upstream server, if it needs one.
    public var version: String?
    /// The name of the model's input tensor on the upstream server.
    public var inputName: String
    /// Per-attempt timeout in milliseconds.
    public var timeoutMillis: Int
    /// Retries after a failed attempt (connection errors, 502, 503, timeouts), at most 3.
    public var maxRetries: Int
    /// The name of an operator-declared bearer token sent to the upstream (`serve --upstream-credential`);
    /// the token itself is never stored with the deployment.
    public var credential: String?

    public init(
        url: String, model: String, version: String? = nil, inputName: String = "input", timeoutMillis: Int = 1000,
        maxRetries: Int = 1, credential: String? = nil
    ) {
        self.credential = credential
        self.url = url
        self.model = model
        self.version = version
        self.inputName = inputName
        self.timeoutMillis = timeoutMillis
        self.maxRetries = maxRetries
    }

    /// Optional fields take their defaults when absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        model = try container.decode(String.self, forKey: .model)
        version = try container.decodeIfPresent(String.self, forKey: .version)
        inputName = try container.decodeIfPresent(String.self, forKey: .inputName) ?? "input"
        timeoutMillis = try container.decodeIfPresent(Int.self, forKey: .timeoutMillis) ?? 1000
        maxRetries = try container.decodeIfPresent(Int.self, forKey: .maxRetries) ?? 1
        credential = try container.decodeIfPresent(String.self, forKey: .credential)
    }

    enum CodingKeys: String, CodingKey {
        case url, model, version, credential
        case inputName = "input_name"
        case timeoutMillis = "timeout_ms"
        case maxRetries = "max_retries"
    }
}

/// How a deployment serves: batching, admission control, deadlines, and an optional upstream server.
public struct ServingSettings: Sendable, Equatable, Codable {
    /// Rows merged into one predictor call (1: no batching).
    public var maxBatchRows: Int
    /// How long a batch waits for more rows after its first request, in microseconds (0: no waiting).
    public var maxBatchDelayMicros: Int
    /// Predictions computing at once for this deployment.
    public var maxConcurrent: Int
    /// Requests waiting for a slot; beyond this, requests get 503 with Retry-After at once.
    public var maxQueue: Int
    /// A request not answered within this many milliseconds gets 503 and its work is dropped.
    public var timeoutMillis: Int
    /// Share of requests recorded in the prediction log (0 to 1).
    public var logSampleRate: Double
    /// When set, routed traffic goes to this external server instead of Slipway's own runtime.
    public var upstream: UpstreamSettings?
    /// Other teams whose keys may call this endpoint (besides the owning team's).
    public var sharedWith: [TeamID]

    public init(
        maxBatchRows: Int = 64, maxBatchDelayMicros: Int = 0, maxConcurrent: Int = 4, maxQueue: Int = 256,
        timeoutMillis: Int = 1000, logSampleRate: Double = 0.01, upstream: UpstreamSettings? = nil,
        sharedWith: [TeamID] = []
    ) {
        self.upstream = upstream
        self.sharedWith = sharedWith
        self.maxBatchRows = maxBatchRows
        self.maxBatchDelayMicros = maxBatchDelayMicros
        self.maxConcurrent = maxConcurrent
        self.maxQueue = maxQueue
        self.timeoutMillis = timeoutMillis
        self.logSampleRate = logSampleRate
    }

    enum CodingKeys: String, CodingKey {
        case maxBatchRows, maxBatchDelayMicros, maxConcurrent, maxQueue, timeoutMillis, logSampleRate, upstream, sharedWith
    }

    /// Settings stored before a field existed decode with that field's default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ServingSettings()
        maxBatchRows = try container.decodeIfPresent(Int.self, forKey: .maxBatchRows) ?? defaults.maxBatchRows
        maxBatchDelayMicros =
            try container.decodeIfPresent(Int.self, forKey: .maxBatchDelayMicros) ?? defaults.maxBatchDelayMicros
        maxConcurrent = try container.decodeIfPresent(Int.self, forKey: .maxConcurrent) ?? defaults.maxConcurrent
        maxQueue = try container.decodeIfPresent(Int.self, forKey: .maxQueue) ?? defaults.maxQueue
        timeoutMillis = try container.decodeIfPresent(Int.self, forKey: .timeoutMillis) ?? defaults.timeoutMillis
        logSampleRate = try container.decodeIfPresent(Double.self, forKey: .logSampleRate) ?? defaults.logSampleRate
        upstream = try container.decodeIfPresent(UpstreamSettings.self, forKey: .upstream)
        sharedWith = try container.decodeIfPresent([TeamID].self, forKey: .sharedWith) ?? []
    }

    /// Checks each setting's range; the 400 names the setting and its range.
    public func validate() throws(SlipwayError) {
        func check(_ name: String, _ value: Int, _ range: ClosedRange<Int>) throws(SlipwayError) {
            guard range.contains(value) else {
                throw .badRequest(
                    "\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(value)",
                    code: "invalid_settings")
            }
        }
        try check("max_batch_rows", maxBatchRows, 1...65_536)
        try check("max_batch_delay_us", maxBatchDelayMicros, 0...1_000_000)
        try check("max_concurrent", maxConcurrent, 1...1024)
        try check("max_queue", maxQueue, 0...100_000)
        try check("timeout_ms", timeoutMillis, 1...600_000)
        guard logSampleRate.isFinite, (0...1).contains(logSampleRate) else {
            throw .badRequest("log_sample_rate must be between 0 and 1", code: "invalid_settings")
        }
        guard sharedWith.count <= 100 else {
            throw .badRequest("an endpoint can be shared with at most 100 teams", code: "invalid_settings")
        }
    }
}

/// A model published under an endpoint name in one environment, with traffic split over versions.
public struct Deployment: Sendable, Equatable, Codable {
    public let id: DeploymentID
    public let team: TeamID
    /// The name clients call (`/v2/models/{endpoint}/infer`); unique per team and environment.
    public let endpoint: String
    public let environment: DeploymentEnvironment
    public let model: ModelID
    public var routes: [TrafficRoute]
    /// Answers when the chosen version fails or is overloaded; not part of the split.
    public var fallbackVersion: Int?
    public var settings: ServingSettings
    /// Incremented on every change, so clients and caches can tell configurations apart.
    public var revision: Int
    public let createdBy: String
    public let createdAt: Date
    public var updatedAt: Date

    public init(
        id: DeploymentID, team: TeamID, endpoint: String, environment: DeploymentEnvironment, model: ModelID,
        routes: [TrafficRoute], fallbackVersion: Int?, settings: ServingSettings, revision: Int, createdBy: String,
        createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.team = team
        self.endpoint = endpoint
        self.environment = environment
        self.model = model
        self.routes = routes
        self.fallbackVersion = fallbackVersion
        self.settings = settings
        self.revision = revision
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Every version the deployment may call: the routed ones and the fallback.
    public var versions: [Int] {
        var result = routes.map(\.version)
        if let fallbackVersion, !result.contains(fallbackVersion) { result.append(fallbackVersion) }
        return result
    }

    /// Checks routes and settings: at least one route, distinct versions, weights ≥ 0 with a positive
    /// sum, at most 16 routes.
    public static func validate(routes: [TrafficRoute], settings: ServingSettings) throws(SlipwayError) {
        guard !routes.isEmpty, routes.count <= 16 else {
            throw .badRequest("a deployment routes traffic to 1 to 16 versions", code: "invalid_routes")
        }
        guard Set(routes.map(\.version)).count == routes.count else {
            throw .badRequest("each version may appear once in the traffic split", code: "invalid_routes")
        }
        guard routes.allSatisfy({ $0.version >= 1 && (0...10_000).contains($0.weight) }),
            routes.reduce(0, { $0 + $1.weight }) > 0
        else {
            throw .badRequest(
                "traffic weights must be 0 to 10000 with a positive sum (e.g. 90 and 10)", code: "invalid_routes")
        }
        try settings.validate()
    }
}

/// Prediction counters for one team, endpoint, version and UTC day: the basis of the bill.
public struct UsageRecord: Sendable, Equatable, Codable, Hashable {
    public var team: TeamID
    public var endpoint: String
    public var version: Int
    /// `YYYY-MM-DD`, UTC.
    public var day: String
    public var requests: Int64
    public var rows: Int64
    public var errors: Int64

    public init(
        team: TeamID, endpoint: String, version: Int, day: String, requests: Int64, rows: Int64, errors: Int64
    ) {
        self.team = team
        self.endpoint = endpoint
        self.version = version
        self.day = day
        self.requests = requests
        self.rows = rows
        self.errors = errors
    }

    /// The UTC day of `date` as `YYYY-MM-DD`.
    public static func day(of date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}

/// One sampled prediction, kept for monitoring (drift, accuracy once labels arrive).
public struct PredictionLogEntry: Sendable, Equatable, Codable {
    public var id: Int64?
    public var deployment: DeploymentID
    public var team: TeamID
    public var endpoint: String
    public var version: Int
    public var requestID: String
    public var at: Date
    public var latencyMicros: Int64
    /// The request's inputs as JSON (OIP v2 `inputs`).
    public var inputs: String
    /// The response's outputs as JSON (OIP v2 `outputs`).
    public var outputs: String

    public init(
        id: Int64? = nil, deployment: DeploymentID, team: TeamID, endpoint: String, version: Int, requestID: String,
        at: Date, latencyMicros: Int64, inputs: String, outputs: String
    ) {
        self.id = id
        self.deployment = deployment
        self.team = team
        self.endpoint = endpoint
        self.version = version
        self.requestID = requestID
        self.at = at
        self.latencyMicros = latencyMicros
        self.inputs = inputs
        self.outputs = outputs
    }
}
