import Foundation
import Hummingbird
import SlipwayCore
import SlipwayServing
import SlipwayStore

/// Deployments of a team's models, their latency statistics and sampled predictions, and usage.
struct DeploymentController {
    let deployments: any DeploymentStore
    let registry: any ModelRegistryStore
    let identity: any IdentityStore
    let serving: ServingRegistry
    let stats: LatencyStats
    let pricing: Pricing
    let now: @Sendable () -> Date
    let maxJSONBytes: Int

    struct RouteIn: Decodable {
        var version: Int?
        var alias: String?
        var weight: Int?
    }

    struct SettingsIn: Decodable {
        var maxBatchRows: Int?
        var maxBatchDelayMicros: Int?
        var maxConcurrent: Int?
        var maxQueue: Int?
        var timeoutMillis: Int?
        var logSampleRate: Double?
        /// Absent: keep; `null`: remove; an object: serve routed traffic from that upstream.
        var upstream: UpstreamSettings??
        /// Names of other teams whose keys may call the endpoint (absent: keep).
        var sharedWith: [String]?

        init() {}

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            maxBatchRows = try container.decodeIfPresent(Int.self, forKey: .maxBatchRows)
            maxBatchDelayMicros = try container.decodeIfPresent(Int.self, forKey: .maxBatchDelayMicros)
            maxConcurrent = try container.decodeIfPresent(Int.self, forKey: .maxConcurrent)
            maxQueue = try container.decodeIfPresent(Int.self, forKey: .maxQueue)
            timeoutMillis = try container.decodeIfPresent(Int.self, forKey: .timeoutMillis)
            logSampleRate = try container.decodeIfPresent(Double.self, forKey: .logSampleRate)
            sharedWith = try container.decodeIfPresent([String].self, forKey: .sharedWith)
            if container.contains(.upstream) {
                upstream = .some(try container.decodeNil(forKey: .upstream) ? nil : container.decode(UpstreamSettings.self, forKey: .upstream))
            }
        }

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

        func applied(to base: ServingSettings) -> ServingSettings {
            var settings = base
            if let maxBatchRows { settings.maxBatchRows = maxBatchRows }
            if let maxBatchDelayMicros { settings.maxBatchDelayMicros = maxBatchDelayMicros }
            if let maxConcurrent { settings.maxConcurrent = maxConcurrent }
            if let maxQueue { settings.maxQueue = maxQueue }
            if let timeoutMillis { settings.timeoutMillis = timeoutMillis }
            if let logSampleRate { settings.logSampleRate = logSampleRate }
            if let upstream { settings.upstream = upstream }
            return settings
        }
    }

    struct DeploymentPut: Decodable {
        let model: String
        var environment: String?
        let routes: [RouteIn]
        var fallbackVersion: Int?
        var settings: SettingsIn?
        /// The revision the client read and changed (0: create only); a deployment changed since is 409.
        var revision: Int?

        enum CodingKeys: String, CodingKey {
            case model, environment, routes, settings, revision
            case fallbackVersion = "fallback_version"
        }
    }

    func register(on router: Router<SlipwayRequestContext>) {
        let base = "/api/v1/teams/{team}/deployments"
        router.get(RouterPath(base)) { _, context in
            let team = try context.requireTeam()
            let found = try await deployments.deployments(team: team.id)
            var items: [DTO.DeploymentOut] = []
            for deployment in found { items.append(try await out(deployment, team: team)) }
            return try Response.json(ListResponse(items: items, nextCursor: nil))
        }
        router.put(RouterPath(base + "/{endpoint}")) { request, context in
            let body = try await JSONCoding.decode(DeploymentPut.self, from: request, limit: maxJSONBytes)
            let team = try context.requireTeam()
            let endpoint = try context.parameter("endpoint")
            let environment = try DeploymentEnvironment.parse(body.environment ?? "staging")
            if let revision = body.revision, revision < 0 {
                throw SlipwayError.badRequest(
                    "revision is the deployment's current revision (0: create only), got \(revision)",
                    code: "invalid_revision")
            }
            guard let model = try await registry.model(team: team.id, name: body.model) else {
                throw SlipwayError.notFound("model '\(body.model)' not found in this team", code: "model_not_found")
            }
            let routes = try body.routes.enumerated().map { index, route in
                try resolve(route, index: index, model: model)
            }
            let existing = try await deployments.deployment(team: team.id, endpoint: endpoint, environment: environment)
            var settings = (body.settings ?? SettingsIn()).applied(to: existing?.settings ?? ServingSettings())
            if let names = body.settings?.sharedWith {
                var shared: [TeamID] = []
                for name in Set(names).sorted() where name != team.name {
                    guard ResourceName.isValid(name), let other = try await identity.team(named: name) else {
                        throw SlipwayError.badRequest(
                            "shared_with names team '\(name.prefix(64))', which does not exist", code: "invalid_settings")
                    }
                    shared.append(other.id)
                }
                settings.sharedWith = shared
            }
            try Deployment.validate(routes: routes, settings: settings)
            // Load and warm every version before anything changes: a version that cannot serve is refused
            // here, and the live switch below finds its predictors ready.
            var versions = settings.upstream == nil ? routes.map(\.version) : []
            if let fallback = body.fallbackVersion, !versions.contains(fallback) { versions.append(fallback) }
            if let upstream = settings.upstream {
                // Checked here so a bad URL is a 400 before anything is stored.
                _ = try serving.upstreamConfiguration(upstream, team: team.name)
            }
            try await serving.prepare(team: team.id, model: model.name, versions: versions)
            let deployment = try await deployments.putDeployment(
                team: team.id, endpoint: endpoint, environment: environment, model: model.name, routes: routes,
                fallbackVersion: body.fallbackVersion, settings: settings, expectedRevision: body.revision,
                audit: try context.audit(), at: now())
            try await serving.apply(deployment)
            return try Response.json(try await out(deployment, team: team), status: existing == nil ? .created : .ok)
        }
        router.get(RouterPath(base + "/{endpoint}")) { request, context in
            let team = try context.requireTeam()
            let deployment = try await requireDeployment(request, context)
            return try Response.json(try await out(deployment, team: team))
        }
        router.delete(RouterPath(base + "/{endpoint}")) { request, context in
            let team = try context.requireTeam()
            let environment = try environmentQuery(request)
            let endpoint = try context.parameter("endpoint")
            try await deployments.deleteDeployment(
                team: team.id, endpoint: endpoint, environment: environment, audit: try context.audit(), at: now())
            serving.remove(team: team.id, endpoint: endpoint, environment: environment)
            return Response.noContent
        }
        router.get(RouterPath(base + "/{endpoint}/predictions")) { request, context in
            let deployment = try await requireDeployment(request, context)
            let limit = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 50
            guard (1...1000).contains(limit) else {
                throw SlipwayError.badRequest("limit must be 1 to 1000", code: "invalid_query")
            }
            let entries = try await deployments.predictionLog(deployment: deployment.id, limit: limit)
            return try Response.json(ListResponse(items: entries.map(DTO.PredictionLogOut.init), nextCursor: nil))
        }
        router.get("/api/v1/deployments/{id}/stats") { request, context in
            let caller = try context.requireCaller()
            let id = try context.parameter("id")
            guard
                let target = serving.all.first(where: { $0.deployment.id.rawValue == id }),
                caller.can(.read, in: target.deployment.team) || caller.isPlatformAdmin
            else {
                throw SlipwayError.notFound("deployment '\(id)' not found (or not live on this server)", code: "deployment_not_found")
            }
            let seconds = request.uri.queryParameters.get("window").flatMap { Int($0) } ?? 60
            let window = Duration.seconds(min(max(1, seconds), Int(stats.maximumWindow.components.seconds)))
            let snapshot = stats.snapshot(
                endpoint: PredictionService.statsKey(target.deployment), window: window, now: .now)
            return try Response.json(DTO.StatsOut(snapshot, deployment: target.deployment, admission: target.admission))
        }
        router.get("/api/v1/usage") { request, context in
            let caller = try context.requireCaller()
            let month = request.uri.queryParameters.get("month").map { String($0) } ?? String(UsageRecord.day(of: now()).dropLast(3))
            let parts = month.split(separator: "-")
            guard month.count == 7, parts.count == 2, parts[0].count == 4, let year = Int(parts[0]), year >= 1970,
                let number = Int(parts[1]), (1...12).contains(number), parts[1].count == 2
            else {
                throw SlipwayError.badRequest("month must be YYYY-MM, e.g. 2026-11", code: "invalid_query")
            }
            let team = context.team
            if team == nil, !caller.isPlatformAdmin {
                throw SlipwayError.badRequest("name the team with ?team=NAME", code: "team_required")
            }
            let records = try await deployments.usage(team: team?.id, from: month + "-01", to: month + "-31")
            var names: [TeamID: String] = [:]
            if let team { names[team.id] = team.name } else {
                for known in try await identity.teams() { names[known.id] = known.name }
            }
            return try Response.json(DTO.UsageOut(month: month, records: records, pricing: pricing, teamNames: names))
        }
    }

    private func resolve(_ route: RouteIn, index: Int, model: Model) throws -> TrafficRoute {
        let weight = route.weight ?? 100
        switch (route.version, route.alias) {
        case (let version?, nil):
            return TrafficRoute(version: version, weight: weight)
        case (nil, let alias?):
            guard let version = model.aliases[alias] else {
                throw SlipwayError.notFound("model '\(model.name)' has no alias '\(alias.prefix(64))'", code: "alias_not_found")
            }
            return TrafficRoute(version: version, weight: weight)
        default:
            throw SlipwayError.badRequest("routes[\(index)] needs either \"version\" or \"alias\"", code: "invalid_routes")
        }
    }

    private func environmentQuery(_ request: Request) throws -> DeploymentEnvironment {
        try DeploymentEnvironment.parse(request.uri.queryParameters.get("environment").map { String($0) } ?? "staging")
    }

    private func requireDeployment(_ request: Request, _ context: SlipwayRequestContext) async throws -> Deployment {
        let team = try context.requireTeam()
        let environment = try environmentQuery(request)
        let endpoint = try context.parameter("endpoint")
        guard let found = try await deployments.deployment(team: team.id, endpoint: endpoint, environment: environment)
        else {
            throw SlipwayError.notFound("no deployment '\(endpoint)' in \(environment.rawValue)", code: "deployment_not_found")
        }
        return found
    }

    private func out(_ deployment: Deployment, team: Team) async throws -> DTO.DeploymentOut {
        let live = serving.deployment(team: deployment.team, endpoint: deployment.endpoint, environment: deployment.environment)
        let modelName = try await registry.model(team: deployment.team, id: deployment.model)?.name
        var sharedWith: [String] = []
        for id in deployment.settings.sharedWith {
            if let other = try await identity.team(id: id) { sharedWith.append(other.name) }
        }
        return DTO.DeploymentOut(
            deployment, teamName: team.name, modelName: modelName ?? live?.modelName,
            liveRevision: live?.deployment.revision, sharedWith: sharedWith)
    }
}
