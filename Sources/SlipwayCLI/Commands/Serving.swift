import ArgumentParser
import Foundation
import SlipwayCore

/// A deployment environment as a command-line value (`--env staging|production`).
enum EnvironmentName: String, ExpressibleByArgument, CaseIterable {
    case staging
    case production
}

/// How `slipway deploy` changes a deployment's traffic split.
enum TrafficSplit {
    /// The routes after giving `version` `percent` percent of the traffic.
    ///
    /// At 100 the version takes all traffic. Below 100 it is a canary: the other routes keep their order
    /// and share the remaining percentage in proportion to their current weights, rounded by largest
    /// remainder (ties to the earlier route) so the weights sum to exactly 100. A version already routed
    /// gets its new weight in place; a new one is appended.
    ///
    /// ```swift
    /// TrafficSplit.routes([TrafficRoute(version: 1, weight: 100)], version: 2, percent: 10)  // 1: 90, 2: 10
    /// ```
    /// - Throws: ``CLIFailure`` (usage) when `percent` is outside 1...100, or when no other route carries
    ///   traffic that could take the rest.
    static func routes(_ existing: [TrafficRoute], version: Int, percent: Int) throws -> [TrafficRoute] {
        guard (1...100).contains(percent) else {
            throw CLIFailure(message: "--weight must be 1 to 100, got \(percent)", exitCode: 64)
        }
        if percent == 100 { return [TrafficRoute(version: version, weight: 100)] }
        let others = existing.filter { $0.version != version }
        let total = others.reduce(0) { $0 + max(0, $1.weight) }
        guard total > 0 else {
            throw CLIFailure(
                message: "no other version carries traffic to take the remaining \(100 - percent)%: "
                    + "deploy another version first, or deploy this one with all traffic (no --weight)",
                exitCode: 64)
        }
        let rest = 100 - percent
        var shares = others.map { rest * max(0, $0.weight) / total }
        let remainders = others.map { rest * max(0, $0.weight) % total }
        let leftover = rest - shares.reduce(0, +)
        let order = remainders.indices.sorted {
            remainders[$0] != remainders[$1] ? remainders[$0] > remainders[$1] : $0 < $1
        }
        for index in order.prefix(leftover) { shares[index] += 1 }

        var result: [TrafficRoute] = []
        var next = 0
        for route in existing {
            if route.version == version {
                result.append(TrafficRoute(version: version, weight: percent))
            } else {
                result.append(TrafficRoute(version: route.version, weight: shares[next]))
                next += 1
            }
        }
        if !existing.contains(where: { $0.version == version }) {
            result.append(TrafficRoute(version: version, weight: percent))
        }
        return result
    }

    /// Routes as people read them: `v1 90%, v2 10%` (each weight's share of the total).
    static func text(_ routes: [TrafficRoute]) -> String {
        let total = routes.reduce(0) { $0 + $1.weight }
        return routes.map { "v\($0.version) \(share($0.weight, of: total))" }.joined(separator: ", ")
    }

    /// `weight` as a percentage of `total`, whole when exact, else to one decimal.
    static func share(_ weight: Int, of total: Int) -> String {
        guard total > 0 else { return "0%" }
        if weight * 100 % total == 0 { return "\(weight * 100 / total)%" }
        return String(format: "%.1f%%", Double(weight) * 100 / Double(total))
    }
}

/// Formatting shared by the serving commands.
enum ServingFormat {
    /// Whole cents as dollars: 1234 → `$12.34`.
    static func dollars(_ cents: Int64) -> String {
        let remainder = cents % 100
        return "$\(cents / 100).\(remainder < 10 ? "0" : "")\(remainder)"
    }

    /// Milliseconds to two decimals.
    static func milliseconds(_ value: Any?) -> String {
        guard let number = value as? NSNumber else { return "-" }
        return String(format: "%.2f", number.doubleValue)
    }

    /// A rate in 0...1 as a percentage.
    static func percent(_ value: Any?) -> String {
        guard let number = value as? NSNumber else { return "-" }
        return String(format: "%.2f%%", number.doubleValue * 100)
    }

    /// At most `limit` characters, with `…` when cut.
    static func clipped(_ text: String, _ limit: Int = 48) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    /// Where clients send predictions to `endpoint` (Open Inference Protocol v2).
    static func predictionURL(server: String, endpoint: String) -> String {
        server.trimmingSuffix("/") + "/v2/models/\(endpoint.pathSegment)/infer"
    }

    /// The deployment JSON (one object or a list's items) with `routes` replaced by ``TrafficSplit/text(_:)``,
    /// for tables.
    static func readableRoutes(_ data: Data) -> Data {
        func rewrite(_ object: [String: Any]) -> [String: Any] {
            var object = object
            let routes = (object["routes"] as? [[String: Any]] ?? []).map {
                TrafficRoute(
                    version: ($0["version"] as? NSNumber)?.intValue ?? 0,
                    weight: ($0["weight"] as? NSNumber)?.intValue ?? 0)
            }
            object["routes"] = TrafficSplit.text(routes)
            return object
        }
        var object = Output.object(data)
        if let items = object["items"] as? [[String: Any]] {
            object["items"] = items.map(rewrite)
        } else {
            object = rewrite(object)
        }
        return (try? JSONSerialization.data(withJSONObject: object)) ?? data
    }
}

/// The parts of a deployment (the server's `DeploymentOut`) the CLI reasons about.
struct DeploymentSummary: Decodable {
    let id: String
    let endpoint: String
    let environment: String
    /// Nil when the answering server does not serve the deployment.
    let model: String?
    let routes: [TrafficRoute]
    let fallbackVersion: Int?
    let revision: Int
    let liveRevision: Int?

    enum CodingKeys: String, CodingKey {
        case id, endpoint, environment, model, routes, revision
        case fallbackVersion = "fallback_version"
        case liveRevision = "live_revision"
    }
}

/// `/api/v1/teams/{team}/deployments[/{endpoint}]`.
private func deploymentsPath(_ options: ClientOptions, _ team: String?, endpoint: String? = nil) throws -> String {
    let base = "/api/v1/teams/\(try options.team(team).pathSegment)/deployments"
    return endpoint.map { base + "/\($0.pathSegment)" } ?? base
}

/// One deployment's JSON and its summary.
private func fetchDeployment(
    _ client: APIClient, _ options: ClientOptions, team: String?, endpoint: String, environment: EnvironmentName
) async throws -> (data: Data, summary: DeploymentSummary) {
    let data = try await client.send(
        .GET, try deploymentsPath(options, team, endpoint: endpoint) + "?environment=\(environment.rawValue)")
    do {
        return (data, try JSONDecoder().decode(DeploymentSummary.self, from: data))
    } catch {
        throw CLIFailure(
            message: "the server's deployment answer is not understood: \(error)", exitCode: ExitCodes.server)
    }
}

/// `slipway deploy MODEL VERSION`.
struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model version under an endpoint, with all traffic or as a canary (--weight).",
        discussion: """
            Without --weight (or with --weight 100) the version takes all traffic. With --weight W (1-99) it is a \
            canary: the version gets W% and the versions already deployed share the rest in proportion to their \
            weights. Settings and the fallback you do not give are kept from the current deployment. The server \
            loads and warms the version before traffic moves. Production needs versions a team reviewer allowed \
            ('slipway versions allow-production').
            """)
    @OptionGroup var options: ClientOptions
    @Option(name: .shortAndLong, help: "Team.") var team: String?
    @Argument(help: "Model name.") var model: String
    @Argument(help: "Version number or alias (an alias is resolved now; moving it later moves no traffic).")
    var version: String
    @Option(name: [.customShort("e"), .customLong("env")], help: "Environment.")
    var environment: EnvironmentName = .staging
    @Option(help: "Endpoint name clients call (default: the model name).") var endpoint: String?
    @Option(help: "Percent of traffic for this version, 1-100 (below 100: a canary beside the current routes).")
    var weight: Int?
    @Option(help: "Version that answers when the chosen one fails or is overloaded.") var fallback: Int?
    @Flag(help: "Remove the fallback version.") var noFallback = false
    @Option(help: "Rows merged into one model call (1: no batching).") var batchRows: Int?
    @Option(help: "Microseconds a batch waits for more rows.") var batchDelayUs: Int?
    @Option(help: "Predictions computing at once.") var maxConcurrent: Int?
    @Option(help: "Requests waiting for a slot before 503.") var maxQueue: Int?
    @Option(help: "Deadline per request in milliseconds.") var timeoutMs: Int?
    @Option(help: "Share of requests kept in the prediction log, 0 to 1.") var logSampleRate: Double?
    @Option(
        help: ArgumentHelp(
            "Serve routed traffic from this Open Inference Protocol v2 server (e.g. http://mlserver:8080); the fallback version answers locally when it fails.",
            valueName: "url"))
    var upstream: String?
    @Option(help: "The model's name on the upstream server (default: the model name).") var upstreamModel: String?
    @Option(help: "The upstream's bearer token, by the name the operator declared (serve --upstream-credential).")
    var upstreamCredential: String?
    @Flag(help: "Stop using an upstream server: serve the routed versions locally.") var noUpstream = false

    func validate() throws {
        if let weight, !(1...100).contains(weight) {
            throw ValidationError("--weight must be 1 to 100, got \(weight)")
        }
        if fallback != nil, noFallback { throw ValidationError("--fallback and --no-fallback exclude each other") }
        if upstream != nil, noUpstream { throw ValidationError("--upstream and --no-upstream exclude each other") }
        if upstream == nil, upstreamModel != nil || upstreamCredential != nil {
            throw ValidationError("--upstream-model and --upstream-credential need --upstream URL")
        }
    }

    struct UpstreamBody: Encodable, Sendable {
        let url: String
        let model: String
        let credential: String?
    }

    /// Encodes as the upstream object, or as `null` to remove the deployment's upstream.
    enum UpstreamChange: Encodable, Sendable {
        case set(UpstreamBody)
        case remove

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .set(let body): try container.encode(body)
            case .remove: try container.encodeNil()
            }
        }
    }

    struct RouteBody: Encodable, Sendable {
        var version: Int?
        var alias: String?
        let weight: Int
    }

    struct SettingsBody: Encodable, Sendable {
        var max_batch_rows: Int?
        var max_batch_delay_us: Int?
        var max_concurrent: Int?
        var max_queue: Int?
        var timeout_ms: Int?
        var log_sample_rate: Double?
        var upstream: UpstreamChange?

        var isEmpty: Bool {
            max_batch_rows == nil && max_batch_delay_us == nil && max_concurrent == nil && max_queue == nil
                && timeout_ms == nil && log_sample_rate == nil && upstream == nil
        }
    }

    struct Body: Encodable, Sendable {
        let model: String
        let environment: String
        let routes: [RouteBody]
        let fallback_version: Int?
        let settings: SettingsBody?
        /// The revision this change was computed from (0: none yet): the server refuses it with 409 if the
        /// deployment changed meanwhile, so two concurrent canaries cannot silently undo each other.
        let revision: Int
    }

    var endpointName: String { endpoint ?? model }

    func run() async throws {
        try await reporting {
            let client = try options.client()
            let teamName = try options.team(team)
            let existing: DeploymentSummary?
            do {
                existing = try await fetchDeployment(
                    client, options, team: teamName, endpoint: endpointName, environment: environment
                ).summary
            } catch let failure as CLIFailure where failure.exitCode == ExitCodes.notFound {
                existing = nil
            }
            let percent = weight ?? 100
            let routes: [RouteBody]
            if percent == 100 {
                routes = [
                    Int(version).map { RouteBody(version: $0, weight: 100) } ?? RouteBody(alias: version, weight: 100)
                ]
            } else {
                guard let existing else {
                    throw CLIFailure(
                        message: "no deployment '\(endpointName)' in \(environment.rawValue) to split traffic with: "
                            + "deploy a version with all traffic first (no --weight)",
                        exitCode: 64)
                }
                if let current = existing.model, current != model {
                    throw CLIFailure(
                        message:
                            "'\(endpointName)' in \(environment.rawValue) serves model '\(current)', not '\(model)': "
                            + "a canary splits traffic between versions of one model",
                        exitCode: 64)
                }
                let number = try await versionNumber(client, team: teamName)
                routes = try TrafficSplit.routes(existing.routes, version: number, percent: percent).map {
                    RouteBody(version: $0.version, weight: $0.weight)
                }
            }
            // The server clears an omitted fallback, so keep the current one unless told otherwise (and only for
            // the same model: another model's version numbers mean something else).
            let kept = existing.flatMap { ($0.model ?? model) == model ? $0.fallbackVersion : nil }
            let settings = SettingsBody(
                max_batch_rows: batchRows, max_batch_delay_us: batchDelayUs, max_concurrent: maxConcurrent,
                max_queue: maxQueue, timeout_ms: timeoutMs, log_sample_rate: logSampleRate,
                upstream: noUpstream
                    ? .remove
                    : upstream.map {
                        .set(UpstreamBody(url: $0, model: upstreamModel ?? model, credential: upstreamCredential))
                    })
            let body = Body(
                model: model, environment: environment.rawValue, routes: routes,
                fallback_version: noFallback ? nil : fallback ?? kept, settings: settings.isEmpty ? nil : settings,
                revision: existing?.revision ?? 0)
            let data = try await client.send(
                .PUT, try deploymentsPath(options, teamName, endpoint: endpointName), json: body)
            if options.output == .json { return Output.print(json: data) }
            let deployed = try JSONDecoder().decode(DeploymentSummary.self, from: data)
            print(
                "\(existing == nil ? "Deployed" : "Updated") endpoint '\(deployed.endpoint)' in \(deployed.environment): "
                    + "model \(model), revision \(deployed.revision)")
            let total = deployed.routes.reduce(0) { $0 + $1.weight }
            print(
                Output.table(
                    ["VERSION", "WEIGHT", "TRAFFIC"],
                    deployed.routes.map { ["\($0.version)", "\($0.weight)", TrafficSplit.share($0.weight, of: total)] })
            )
            if let fallback = deployed.fallbackVersion { print("fallback: version \(fallback)") }
            if deployed.liveRevision != deployed.revision {
                print("note: not yet live on the answering server; other servers pick revisions up within seconds")
            }
            print("predict:  POST \(ServingFormat.predictionURL(server: client.baseURL, endpoint: deployed.endpoint))")
            print("          headers X-Slipway-Environment: \(deployed.environment), X-Slipway-Team: \(teamName)")
        }
    }

    /// `version` as a number, asking the registry when it is an alias.
    private func versionNumber(_ client: APIClient, team: String) async throws -> Int {
        if let number = Int(version) { return number }
        let data = try await client.send(
            .GET, "/api/v1/teams/\(team.pathSegment)/models/\(model.pathSegment)/versions/\(version.pathSegment)")
        guard let number = (Output.object(data)["version"] as? NSNumber)?.intValue else {
            throw CLIFailure(
                message: "the server did not say which version '\(version)' is", exitCode: ExitCodes.server)
        }
        return number
    }
}

/// `slipway undeploy ENDPOINT` (also `slipway deployments undeploy`).
struct Undeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop serving an endpoint in one environment (its requests get 404 at once).")
    @OptionGroup var options: ClientOptions
    @Option(name: .shortAndLong, help: "Team.") var team: String?
    @Argument(help: "Endpoint name.") var endpoint: String
    @Option(name: [.customShort("e"), .customLong("env")], help: "Environment.")
    var environment: EnvironmentName = .staging
    func run() async throws {
        try await reporting {
            _ = try await options.client().send(
                .DELETE, try deploymentsPath(options, team, endpoint: endpoint) + "?environment=\(environment.rawValue)"
            )
            if options.output == .table { print("undeployed '\(endpoint)' from \(environment.rawValue)") }
        }
    }
}

/// `slipway deployments …`.
struct Deployments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Endpoints serving a team's models: their traffic, latency and sampled predictions.",
        subcommands: [List.self, Show.self, Undeploy.self, Stats.self, Predictions.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A team's deployments in every environment.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, try deploymentsPath(options, team))
                if options.output == .json { return Output.print(json: data) }
                Output.render(
                    ServingFormat.readableRoutes(data), .table,
                    columns: [
                        ("ENDPOINT", "endpoint"), ("ENVIRONMENT", "environment"), ("MODEL", "model"),
                        ("ROUTES", "routes"), ("FALLBACK", "fallback_version"), ("REVISION", "revision"),
                        ("LIVE", "live_revision"), ("UPDATED", "updated_at"),
                    ])
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One deployment: routes, fallback and settings.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Endpoint name.") var endpoint: String
        @Option(name: [.customShort("e"), .customLong("env")], help: "Environment.")
        var environment: EnvironmentName = .staging
        func run() async throws {
            try await reporting {
                let client = try options.client()
                let (data, _) = try await fetchDeployment(
                    client, options, team: team, endpoint: endpoint, environment: environment)
                if options.output == .json { return Output.print(json: data) }
                Output.details(
                    ServingFormat.readableRoutes(data), .table,
                    keys: [
                        "endpoint", "environment", "team", "model", "id", "routes", "fallback_version", "settings",
                        "revision", "live_revision", "created_by", "created_at", "updated_at",
                    ])
                print(
                    "predict           POST \(ServingFormat.predictionURL(server: client.baseURL, endpoint: endpoint))")
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Latency percentiles and error rate per version over a recent window.",
            discussion: "Figures come from the server that answers; behind a load balancer, each replica has its own.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Endpoint name.") var endpoint: String
        @Option(name: [.customShort("e"), .customLong("env")], help: "Environment.")
        var environment: EnvironmentName = .staging
        @Option(help: "Window in seconds (the server caps it).") var window: Int = 60
        func run() async throws {
            try await reporting {
                let client = try options.client()
                let (_, deployment) = try await fetchDeployment(
                    client, options, team: team, endpoint: endpoint, environment: environment)
                let data = try await client.send(
                    .GET, "/api/v1/deployments/\(deployment.id.pathSegment)/stats?window=\(window)")
                if options.output == .json { return Output.print(json: data) }
                let stats = Output.object(data)
                print(
                    "'\(endpoint)' in \(environment.rawValue), last \(Output.cell(stats["window_seconds"])) s: "
                        + "\(Output.cell(stats["in_flight"])) in flight, \(Output.cell(stats["queued"])) queued")
                let versions = stats["versions"] as? [String: [String: Any]] ?? [:]
                let names = versions.keys.sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
                let rows =
                    names.map { (String($0), versions[$0] ?? [:]) } + [
                        ("all", stats["combined"] as? [String: Any] ?? [:])
                    ]
                print(
                    Output.table(
                        ["VERSION", "REQUESTS", "ERRORS", "ERROR RATE", "P50 MS", "P95 MS", "P99 MS", "MAX MS"],
                        rows.map { name, window in
                            [
                                name, Output.cell(window["requests"]), Output.cell(window["errors"]),
                                ServingFormat.percent(window["error_rate"]),
                                ServingFormat.milliseconds(window["p50_ms"]),
                                ServingFormat.milliseconds(window["p95_ms"]),
                                ServingFormat.milliseconds(window["p99_ms"]),
                                ServingFormat.milliseconds(window["max_ms"]),
                            ]
                        }))
            }
        }
    }

    struct Predictions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sampled predictions, newest first (the deployment's log_sample_rate decides how many).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Endpoint name.") var endpoint: String
        @Option(name: [.customShort("e"), .customLong("env")], help: "Environment.")
        var environment: EnvironmentName = .staging
        @Option(help: "At most this many (1-1000).") var limit: Int = 50
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .GET,
                    try deploymentsPath(options, team, endpoint: endpoint)
                        + "/predictions?environment=\(environment.rawValue)&limit=\(limit)")
                if options.output == .json { return Output.print(json: data) }
                print(
                    Output.table(
                        ["TIME", "VERSION", "LATENCY MS", "REQUEST", "INPUTS", "OUTPUTS"],
                        Output.items(data).map { entry in
                            [
                                Output.cell(entry["at"]), Output.cell(entry["version"]),
                                ServingFormat.milliseconds(
                                    (entry["latency_us"] as? NSNumber).map { $0.doubleValue / 1000 }),
                                Output.cell(entry["request_id"]),
                                ServingFormat.clipped(Output.cell(entry["inputs"])),
                                ServingFormat.clipped(Output.cell(entry["outputs"])),
                            ]
                        }))
            }
        }
    }
}

/// `slipway usage`.
struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predictions per endpoint, version and day, with the month's charge.",
        discussion: "Platform admins with no team anywhere see every team. Counters reach the server every few seconds."
    )
    @OptionGroup var options: ClientOptions
    @Option(name: .shortAndLong, help: "Team.") var team: String?
    @Option(help: "Month, YYYY-MM (default: this month, UTC).") var month: String?

    func validate() throws {
        if let month, month.wholeMatch(of: #/\d{4}-(0[1-9]|1[0-2])/#) == nil {
            throw ValidationError("--month must be YYYY-MM, got '\(month)'")
        }
    }

    func run() async throws {
        try await reporting {
            var items: [URLQueryItem] = []
            // Platform admins may see every team's usage by giving no team at all.
            if let team = try? options.team(team) { items.append(.init(name: "team", value: team)) }
            if let month { items.append(.init(name: "month", value: month)) }
            var components = URLComponents()
            components.queryItems = items
            let query = items.isEmpty ? "" : "?" + (components.percentEncodedQuery ?? "")
            let data = try await options.client().send(.GET, "/api/v1/usage" + query)
            if options.output == .json { return Output.print(json: data) }
            let usage = Output.object(data)
            let rows = Output.items(data)
            if rows.isEmpty {
                print("no predictions in \(Output.cell(usage["month"]))")
            } else {
                print(
                    Output.table(
                        ["TEAM", "ENDPOINT", "ENV", "VERSION", "DAY", "REQUESTS", "ROWS", "ERRORS"],
                        rows.map { row in
                            ["team", "endpoint", "environment", "version", "day", "requests", "rows", "errors"].map {
                                Output.cell(row[$0])
                            }
                        }))
                print("")
            }
            let cents = (usage["charge_cents"] as? NSNumber)?.int64Value ?? 0
            print(
                "\(Output.cell(usage["month"])): \(Output.cell(usage["requests"])) requests, "
                    + "\(Output.cell(usage["rows"])) rows, \(Output.cell(usage["errors"])) errors; "
                    + "\(Output.cell(usage["free_rows"])) rows free per team; charge \(ServingFormat.dollars(cents))")
        }
    }
}
