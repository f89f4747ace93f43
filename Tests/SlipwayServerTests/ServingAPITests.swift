import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceLifecycle
import Logging
import NIOCore
import SlipwayCore
import SlipwayRuntime
import SlipwayTestSupport
import Testing

@testable import SlipwayServer

/// Deploying versions and predicting through OIP v2, KServe V1 and MLflow scoring.
@Suite("Serving API")
struct ServingAPITests {
    static let rows: [[Double]] = [[0.5, -1.2, 3.3, 0.0, 7.1], [-0.3, 0.8, -2.2, 1.5, 0.4], [1.1, 2.2, 3.3, 4.4, 5.5]]

    /// The quickstart model's own predictions for ``rows``.
    static func expected() throws -> [Float] {
        let predictor = try XGBoostPredictor(artifact: Array(buffer: xgboostModelBytes))
        return try predictor.predict(rows.flatMap { $0.map(Float.init) }, rows: rows.count)
    }

    /// Team `fraud` with model `fraud-detector` holding `versions` versions of the quickstart model.
    static func seed(_ server: TestServer, _ client: any TestClientProtocol, versions: Int = 2) async throws -> Fixture {
        let fixture = try await Fixture.make(server, client)
        let key = fixture.aliceKey
        #expect(
            try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": "fraud-detector"]).status
                == .created)
        let upload = try await client.call(.post, "/api/v1/teams/fraud/artifacts", key: key, raw: xgboostModelBytes)
        let digest = try #require(upload["digest"] as? String)
        for _ in 0..<versions {
            let created = try await client.call(
                .post, "/api/v1/teams/fraud/models/fraud-detector/versions", key: key, json: ["artifact": digest])
            #expect(created.status == .created)
        }
        return fixture
    }

    static func deploy(
        _ client: any TestClientProtocol, key: String, environment: String = "staging", routes: [[String: Int]],
        fallback: Int? = nil, settings: [String: Any] = [:]
    ) async throws -> Reply {
        var body: [String: Any] = ["model": "fraud-detector", "environment": environment, "routes": routes]
        if let fallback { body["fallback_version"] = fallback }
        if !settings.isEmpty { body["settings"] = settings }
        return try await client.call(.put, "/api/v1/teams/fraud/deployments/fraud", key: key, json: body)
    }

    static func oipRequest(_ rows: [[Double]], name: String = "input") -> [String: Any] {
        ["id": "req-1", "inputs": [["name": name, "shape": [rows.count, 5], "datatype": "FP32", "data": rows.flatMap { $0 }]]]
    }

    static let staging: HTTPFields = [HTTPField.Name("X-Slipway-Environment")!: "staging"]

    @Test("a team deploys a version and predicts through OIP v2, KServe V1 and MLflow; each answer names its version",
          arguments: await Backend.all)
    func predictThroughEveryProtocol(backend: Backend) async throws {
        try await TestServer.with(backend: backend) { server, client in
            let fixture = try await Self.seed(server, client)
            let key = fixture.aliceKey
            let deployed = try await Self.deploy(client, key: key, routes: [["version": 1, "weight": 100]])
            #expect(deployed.status == .created, "\(deployed.errorMessage)")
            #expect(deployed["live_revision"] as? Int == 1)
            let expected = try Self.expected()

            let oip = try await client.call(
                .post, "/v2/models/fraud/infer", key: key, json: Self.oipRequest(Self.rows), headers: Self.staging)
            #expect(oip.status == .ok, "\(oip.json)")
            #expect(oip.headers[HTTPField.Name("X-Slipway-Model-Version")!] == "1")
            #expect(oip["model_version"] as? String == "1")
            #expect(oip["id"] as? String == "req-1")
            let output = try #require((oip["outputs"] as? [[String: Any]])?.first)
            #expect(output["shape"] as? [Int] == [3, 1])
            #expect((output["data"] as? [Double])?.map(Float.init) == expected)

            let v1 = try await client.call(
                .post, "/v1/models/fraud:predict?environment=staging", key: key, json: ["instances": Self.rows])
            #expect(v1.status == .ok, "\(v1.json)")
            #expect((v1["predictions"] as? [Double])?.map(Float.init) == expected)
            #expect(v1.headers[HTTPField.Name("X-Slipway-Model-Version")!] == "1")

            let columns = ["a", "b", "c", "d", "e"]
            let split = try await client.call(
                .post, "/mlflow/fraud/invocations", key: key,
                json: ["dataframe_split": ["columns": columns, "data": Self.rows]], headers: Self.staging)
            #expect((split["predictions"] as? [Double])?.map(Float.init) == expected, "\(split.json)")
            let records = try await client.call(
                .post, "/mlflow/fraud/invocations", key: key,
                json: ["dataframe_records": Self.rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) }],
                headers: Self.staging)
            #expect((records["predictions"] as? [Double])?.map(Float.init) == expected, "\(records.json)")
            let instances = try await client.call(
                .post, "/mlflow/fraud/invocations", key: key, json: ["instances": Self.rows], headers: Self.staging)
            #expect((instances["predictions"] as? [Double])?.map(Float.init) == expected)

            let metadata = try await client.call(.get, "/v2/models/fraud", key: key, headers: Self.staging)
            #expect(metadata["versions"] as? [String] == ["1"])
            #expect(((metadata["inputs"] as? [[String: Any]])?.first)?["shape"] as? [Int] == [-1, 5])
            #expect(try await client.call(.get, "/v2/models/fraud/ready", key: key, headers: Self.staging).status == .ok)
            #expect(try await client.call(.get, "/v2/health/ready", key: nil).status == .ok)
            #expect(try await client.call(.get, "/v2/health/live", key: nil).status == .ok)
        }
    }

    @Test("bad prediction requests get a 4xx that names the problem; other teams get 404")
    func badRequests() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Self.seed(server, client)
            let key = fixture.aliceKey
            #expect(try await Self.deploy(client, key: key, routes: [["version": 1]]).status == .created)
            func infer(_ body: Any, path: String = "/v2/models/fraud/infer") async throws -> Reply {
                try await client.call(.post, path, key: key, json: body, headers: Self.staging)
            }
            let wrongName = try await infer(Self.oipRequest(Self.rows, name: "features"))
            #expect(wrongName.status == .badRequest)
            #expect((wrongName["error"] as? String)?.contains("'features' is not an input") == true, "\(wrongName.json)")
            let wrongShape = try await infer(["inputs": [["name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]]]])
            #expect(wrongShape.status == .badRequest)
            #expect((wrongShape["error"] as? String)?.contains("[rows, 5]") == true, "\(wrongShape.json)")
            let short = try await infer(["inputs": [["name": "input", "shape": [2, 5], "datatype": "FP32", "data": [1, 2, 3]]]])
            #expect((short["error"] as? String)?.contains("needs 10 values") == true, "\(short.json)")
            let text = try await infer(["inputs": [["name": "input", "shape": [1, 5], "datatype": "BYTES", "data": ["a"]]]])
            #expect(text.status == .badRequest)
            let notJSON = try await client.call(
                .post, "/v2/models/fraud/infer", key: key, raw: ByteBuffer(string: "{nope"), headers: Self.staging)
            #expect(notJSON.status == .badRequest)
            let unknownVersion = try await infer(Self.oipRequest(Self.rows), path: "/v2/models/fraud/versions/7/infer")
            #expect(unknownVersion.status == .notFound)
            let unknownModel = try await infer(Self.oipRequest(Self.rows), path: "/v2/models/nope/infer")
            #expect(unknownModel.status == .notFound)
            let v1 = try await client.call(.post, "/v1/models/fraud:predict?environment=staging", key: key, json: ["rows": []])
            #expect(v1.status == .badRequest && v1.errorMessage.contains("instances"))
            let mlflow = try await client.call(
                .post, "/mlflow/fraud/invocations", key: key, json: ["dataframe_split": ["columns": ["a"], "data": [[1]]]],
                headers: Self.staging)
            #expect(mlflow.status == .badRequest && mlflow.errorMessage.contains("1 columns"))
            #expect(try await client.call(.post, "/v2/models/fraud/infer", key: nil, json: Self.oipRequest(Self.rows)).status == .unauthorized)

            // Another team's member sees no such endpoint.
            let other = try await Fixture.make(server, client, team: "marketing", user: "bob")
            let foreign = try await client.call(
                .post, "/v2/models/fraud/infer", key: other.aliceKey, json: Self.oipRequest(Self.rows), headers: Self.staging)
            #expect(foreign.status == .notFound)
            let list = try await client.call(.get, "/api/v1/teams/fraud/deployments", key: other.aliceKey)
            #expect(list.status == .notFound)
        }
    }

    @Test("production needs a reviewer's approval; a 50/50 split answers with both versions; undeploy stops serving")
    func productionAndTrafficSplit() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Self.seed(server, client)
            let key = fixture.aliceKey
            let refused = try await Self.deploy(client, key: key, environment: "production", routes: [["version": 1]])
            #expect(refused.status == .forbidden && refused.errorMessage.contains("allow-production"), "\(refused.json)")
            // alice is a developer: she cannot allow it herself.
            let selfApproval = try await client.call(
                .put, "/api/v1/teams/fraud/models/fraud-detector/versions/1/production", key: key, json: ["allowed": true])
            #expect(selfApproval.status == .forbidden)
            let reviewer = try await Fixture.make(server, client, user: "rita", role: "reviewer")
            for version in 1...2 {
                let allowed = try await client.call(
                    .put, "/api/v1/teams/fraud/models/fraud-detector/versions/\(version)/production",
                    key: reviewer.aliceKey, json: ["allowed": true])
                #expect(allowed.status == .ok && allowed["production_allowed"] as? Bool == true)
            }
            let deployed = try await Self.deploy(
                client, key: key, environment: "production", routes: [["version": 1, "weight": 50], ["version": 2, "weight": 50]])
            #expect(deployed.status == .created, "\(deployed.json)")
            var seen: [String: Int] = [:]
            for _ in 0..<40 {
                let reply = try await client.call(.post, "/v2/models/fraud/infer", key: key, json: Self.oipRequest([Self.rows[0]]))
                #expect(reply.status == .ok)
                seen[reply["model_version"] as? String ?? "?", default: 0] += 1
            }
            #expect(Set(seen.keys) == ["1", "2"], "\(seen)")
            let pinned = try await client.call(
                .post, "/v2/models/fraud/versions/2/infer", key: key, json: Self.oipRequest([Self.rows[0]]))
            #expect(pinned["model_version"] as? String == "2")

            let undeploy = try await client.call(.delete, "/api/v1/teams/fraud/deployments/fraud?environment=production", key: key)
            #expect(undeploy.status == .noContent)
            let gone = try await client.call(.post, "/v2/models/fraud/infer", key: key, json: Self.oipRequest([Self.rows[0]]))
            #expect(gone.status == .notFound)
            let audit = try await client.call(.get, "/api/v1/audit?team=fraud", key: server.adminKey)
            let actions = Set(audit.items.compactMap { $0["action"] as? String })
            #expect(actions.isSuperset(of: ["deployment.create", "deployment.delete", "version.allow_production"]))
        }
    }

    @Test("usage and latency stats count what was predicted; the prediction log samples requests")
    func meteringAndStats() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Self.seed(server, client, versions: 1)
            let key = fixture.aliceKey
            let deployed = try await Self.deploy(
                client, key: key, routes: [["version": 1]], settings: ["log_sample_rate": 1.0])
            let id = try #require(deployed["id"] as? String)
            for _ in 0..<4 {
                #expect(
                    try await client.call(.post, "/v2/models/fraud/infer", key: key, json: Self.oipRequest(Self.rows), headers: Self.staging)
                        .status == .ok)
            }
            _ = try await client.call(
                .post, "/v2/models/fraud/infer", key: key, json: Self.oipRequest(Self.rows, name: "bad"), headers: Self.staging)
            let metering = MeteringService(
                store: server.platform.deployments, service: server.platform.predictions, interval: .seconds(60),
                logRetention: (100, 86_400), now: { server.clock.now }, logger: .init(label: "test"))
            await metering.flush()
            let usage = try await client.call(.get, "/api/v1/usage?team=fraud", key: key)
            #expect(usage.status == .ok, "\(usage.json)")
            #expect(usage["rows"] as? Int == 12, "\(usage.json)")
            #expect(usage["requests"] as? Int == 4)
            #expect(usage["charge_cents"] as? Int == 0)

            let stats = try await client.call(.get, "/api/v1/deployments/\(id)/stats?window=60", key: key)
            #expect(stats.status == .ok, "\(stats.json)")
            let combined = try #require(stats["combined"] as? [String: Any])
            #expect(combined["requests"] as? Int == 4)
            #expect((combined["p99_ms"] as? Double ?? 0) > 0)

            let log = try await client.call(.get, "/api/v1/teams/fraud/deployments/fraud/predictions", key: key)
            #expect(log.items.count == 4, "\(log.json)")
            #expect((log.items.first?["inputs"] as? String)?.contains("\"inputs\"") == true)
            // Logged outputs are the OIP v2 tensors the caller got back, as JSON.
            let logged = try #require(log.items.compactMap { $0["outputs"] as? String }.first { $0 != "[]" })
            let tensors = try #require(try JSONSerialization.jsonObject(with: Data(logged.utf8)) as? [[String: Any]])
            #expect(tensors.first?["shape"] as? [Int] == [3, 1], "\(logged)")
            #expect((tensors.first?["data"] as? [Double])?.map(Float.init) == (try Self.expected()), "\(logged)")

            let metrics = try await client.call(.get, "/metrics", key: server.adminKey)
            let text = String(buffer: metrics.body)
            #expect(text.contains("slipway_prediction_latency_seconds_bucket{"), "\(text.suffix(500))")
            #expect(text.contains("endpoint=\"fraud\",version=\"1\"} 12"), "rows counter")
        }
    }

    @Test("a redeploy under continuous load fails no request")
    func redeployUnderLoad() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Self.seed(server, client)
            let key = fixture.aliceKey
            #expect(try await Self.deploy(client, key: key, routes: [["version": 1]]).status == .created)
            let statuses = try await withThrowingTaskGroup(of: [HTTPResponse.Status].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var statuses: [HTTPResponse.Status] = []
                        for _ in 0..<25 {
                            statuses.append(
                                try await client.call(
                                    .post, "/v2/models/fraud/infer", key: key, json: Self.oipRequest(Self.rows),
                                    headers: Self.staging
                                ).status)
                        }
                        return statuses
                    }
                }
                group.addTask {
                    for round in 0..<6 {
                        let version = round % 2 == 0 ? 2 : 1
                        let reply = try await Self.deploy(client, key: key, routes: [["version": version]])
                        #expect(reply.status == .ok)
                    }
                    return []
                }
                var all: [HTTPResponse.Status] = []
                for try await statuses in group { all += statuses }
                return all
            }
            #expect(statuses.count == 100)
            #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses.filter { $0 != .ok })")
        }
    }
}

/// Usage survives a restart: counts flushed at shutdown are there when the server comes back.
@Suite("Serving across restarts")
struct ServingRestartTests {
    @Test("usage counted before a graceful restart equals the predictions made")
    func usageSurvivesRestart() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        var configuration = ServerConfiguration(home: home)
        configuration.port = 0
        configuration.meteringInterval = .seconds(3600)  // only the shutdown flush can save the counts
        let settings = configuration
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let log = logger

        let key: String = try await {
            let platform = try await SlipwayPlatform.open(settings, logger: log)
            return try await platform.database.withRunning {
                try await platform.database.migrate()
                let admin = try #require(try await platform.bootstrapAdmin(presetKey: nil))
                let app = buildApplication(platform: platform, configuration: settings, logger: log)
                return try await app.test(.live) { client in
                    let server = TestServer(
                        platform: platform, configuration: settings, adminKey: admin, clock: TestClock(), home: home)
                    let fixture = try await ServingAPITests.seed(server, client, versions: 1)
                    #expect(
                        try await ServingAPITests.deploy(client, key: fixture.aliceKey, routes: [["version": 1]]).status
                            == .created)
                    for count in 1...7 {
                        let rows = Array(repeating: ServingAPITests.rows[0], count: count)
                        let reply = try await client.call(
                            .post, "/v2/models/fraud/infer", key: fixture.aliceKey, json: ServingAPITests.oipRequest(rows),
                            headers: ServingAPITests.staging)
                        #expect(reply.status == .ok)
                    }
                    return fixture.aliceKey
                }
            }
        }()

        let platform = try await SlipwayPlatform.open(settings, logger: log)
        try await platform.database.withRunning {
            let app = buildApplication(platform: platform, configuration: settings, logger: log)
            try await app.test(.router) { client in
                let usage = try await client.call(.get, "/api/v1/usage?team=fraud", key: key)
                #expect(usage["requests"] as? Int == 7, "\(usage.json)")
                #expect(usage["rows"] as? Int == 28, "\(usage.json)")  // 1 + 2 + … + 7
                // The deployment is back too, loaded at start by the sync service (live) or on demand.
                let list = try await client.call(.get, "/api/v1/teams/fraud/deployments", key: key)
                #expect(list.items.count == 1)
            }
        }
    }
}

/// A deployment whose traffic goes to an external OIP v2 server.
@Suite("Serving from an upstream")
struct UpstreamServingTests {
    /// A real model server on loopback answering 0.25 for every row.
    static func withUpstream<R: Sendable>(
        delay: Duration = .zero, _ body: @Sendable (_ port: Int, _ stop: @escaping @Sendable () async -> Void) async throws -> R
    ) async throws -> R {
        let router = Router()
        router.post("/v2/models/{model}/infer") { request, _ -> Response in
            if delay > .zero { try await Task.sleep(for: delay) }
            let buffer = try await request.body.collect(upTo: 1 << 20)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any]
            let input = (json?["inputs"] as? [[String: Any]])?.first
            let rows = (input?["shape"] as? [Int])?.first ?? 0
            let body: [String: Any] = [
                "model_name": "upstream",
                "outputs": [["name": "probability", "datatype": "FP32", "shape": [rows, 1], "data": Array(repeating: 0.25, count: rows)]],
            ]
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))))
        }
        var logger = Logger(label: "upstream")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw SlipwayError.internal("upstream did not start") }
        // Stopping waits until the server is gone, so the next request meets a closed port.
        let stop: @Sendable () async -> Void = {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
        }
        do {
            let result = try await body(port, stop)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }

    @Test("routed traffic goes upstream; when the upstream stops, the local fallback version answers")
    func failover() async throws {
        try await Self.withUpstream { port, stop in
            try await TestServer.with { server, client in
                let fixture = try await ServingAPITests.seed(server, client)
                let key = fixture.aliceKey
                let deployed = try await ServingAPITests.deploy(
                    client, key: key, routes: [["version": 1]], fallback: 2,
                    settings: ["upstream": ["url": "http://127.0.0.1:\(port)", "model": "fraud", "timeout_ms": 2000]])
                #expect(deployed.status == .created, "\(deployed.json)")
                let request = ServingAPITests.oipRequest(ServingAPITests.rows)
                let upstream = try await client.call(
                    .post, "/v2/models/fraud/infer", key: key, json: request, headers: ServingAPITests.staging)
                #expect(upstream.status == .ok, "\(upstream.json)")
                #expect(upstream["model_version"] as? String == "1")
                let data = ((upstream["outputs"] as? [[String: Any]])?.first?["data"] as? [Double]) ?? []
                #expect(data == [0.25, 0.25, 0.25])

                await stop()
                let local = try await client.call(
                    .post, "/v2/models/fraud/infer", key: key, json: request, headers: ServingAPITests.staging)
                #expect(local.status == .ok, "\(local.json)")
                #expect(local["model_version"] as? String == "2")
                #expect((local["parameters"] as? [String: Any])?["slipway_fallback"] as? Bool == true)
                let localData = ((local["outputs"] as? [[String: Any]])?.first?["data"] as? [Double])?.map(Float.init)
                #expect(localData == (try ServingAPITests.expected()))

                let bad = try await ServingAPITests.deploy(
                    client, key: key, routes: [["version": 1]], settings: ["upstream": ["url": "ftp://x", "model": "m"]])
                #expect(bad.status == .badRequest, "\(bad.json)")
            }
        }
    }
}

@Suite("Shared endpoints and readiness")
struct SharingTests {
    @Test("an endpoint shared with another team answers its keys; unshared teams get 404")
    func sharing() async throws {
        try await TestServer.with { server, client in
            let owner = try await ServingAPITests.seed(server, client, versions: 1)
            let partner = try await Fixture.make(server, client, team: "payments", user: "paul")
            let stranger = try await Fixture.make(server, client, team: "marketing", user: "mia")
            let request = ServingAPITests.oipRequest([ServingAPITests.rows[0]])
            let refusedShare = try await ServingAPITests.deploy(
                client, key: owner.aliceKey, routes: [["version": 1]], settings: ["shared_with": ["nope"]])
            #expect(refusedShare.status == .badRequest)
            let deployed = try await ServingAPITests.deploy(
                client, key: owner.aliceKey, routes: [["version": 1]], settings: ["shared_with": ["payments"]])
            #expect(deployed.status == .created, "\(deployed.json)")
            #expect((deployed["settings"] as? [String: Any])?["shared_with"] as? [String] == ["payments"])
            let shared = try await client.call(
                .post, "/v2/models/fraud/infer", key: partner.aliceKey, json: request, headers: ServingAPITests.staging)
            #expect(shared.status == .ok, "\(shared.json)")
            let other = try await client.call(
                .post, "/v2/models/fraud/infer", key: stranger.aliceKey, json: request, headers: ServingAPITests.staging)
            #expect(other.status == .notFound)
            // Sharing does not open the owner's management API.
            #expect(try await client.call(.get, "/api/v1/teams/fraud/deployments", key: partner.aliceKey).status == .notFound)
            #expect(try await client.call(.get, "/v2/health/ready", key: nil).status == .ok)
        }
    }
}

@Suite("Overload")
struct OverloadTests {
    @Test("a full deployment answers 503 with Retry-After at once; a team over its rate gets 429 with Retry-After")
    func overloadAndRateLimit() async throws {
        try await UpstreamServingTests.withUpstream(delay: .milliseconds(400)) { port, _ in
            try await TestServer.with(configure: { $0.teamRequestsPerSecond = 0.2; $0.teamBurst = 6 }) { server, client in
                let fixture = try await ServingAPITests.seed(server, client, versions: 1)
                let key = fixture.aliceKey
                let deployed = try await ServingAPITests.deploy(
                    client, key: key, routes: [["version": 1]],
                    settings: [
                        "max_concurrent": 1, "max_queue": 0, "timeout_ms": 5000,
                        "upstream": ["url": "http://127.0.0.1:\(port)", "model": "slow", "timeout_ms": 3000],
                    ])
                #expect(deployed.status == .created, "\(deployed.json)")
                let request = ServingAPITests.oipRequest([ServingAPITests.rows[0]])
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            try await client.call(
                                .post, "/v2/models/fraud/infer", key: key,
                                json: ServingAPITests.oipRequest([ServingAPITests.rows[0]]), headers: ServingAPITests.staging)
                        }
                    }
                    var replies: [Reply] = []
                    for try await reply in group { replies.append(reply) }
                    return replies
                }
                #expect(replies.contains { $0.status == .ok })
                let overloaded = replies.filter { $0.status == .serviceUnavailable }
                #expect(!overloaded.isEmpty, "\(replies.map(\.status))")
                #expect(overloaded.allSatisfy { $0.headers[.retryAfter] == "1" })
                #expect(overloaded.allSatisfy { ($0["error"] as? String)?.contains("limit of concurrent") == true })

                // 3 requests used 3 of the burst of 6; the rest of the burst, then 429.
                var statuses: [HTTPResponse.Status] = []
                var limited: Reply?
                for _ in 0..<6 {
                    let reply = try await client.call(
                        .post, "/v2/models/fraud/infer", key: key, json: request, headers: ServingAPITests.staging)
                    statuses.append(reply.status)
                    if reply.status == .tooManyRequests { limited = reply }
                }
                let tooMany = try #require(limited, "\(statuses)")
                #expect(Int(tooMany.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
        }
    }
}

@Suite("Batching per core")
struct BatchingPerCoreTests {
    @Test("a version runs one batch per core at most, within the deployment's max_concurrent")
    func concurrentBatches() {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(LoadedVersion.concurrentBatches(ServingSettings(maxConcurrent: 1)) == 1)
        #expect(LoadedVersion.concurrentBatches(ServingSettings(maxConcurrent: 1000)) == cores)
        #expect(LoadedVersion.concurrentBatches(ServingSettings(maxConcurrent: 2)) == min(2, cores))
    }
}

@Suite("Deployment updates from stale reads")
struct DeploymentRevisionTests {
    @Test("a PUT naming the revision it read is refused with 409 once someone else changed the deployment")
    func staleRevision() async throws {
        try await TestServer.with { server, client in
            let fixture = try await ServingAPITests.seed(server, client)
            let key = fixture.aliceKey
            func put(_ routes: [[String: Int]], revision: Int?) async throws -> Reply {
                var body: [String: Any] = ["model": "fraud-detector", "environment": "staging", "routes": routes]
                if let revision { body["revision"] = revision }
                return try await client.call(.put, "/api/v1/teams/fraud/deployments/fraud", key: key, json: body)
            }
            #expect(try await put([["version": 1]], revision: 0).status == .created)
            // Two clients read revision 1 and each add a canary; the second must not silently undo the first.
            let first = try await put([["version": 1, "weight": 90], ["version": 2, "weight": 10]], revision: 1)
            #expect(first.status == .ok && first["revision"] as? Int == 2)
            let second = try await put([["version": 1, "weight": 50], ["version": 2, "weight": 50]], revision: 1)
            #expect(second.status == .conflict, "\(second.json)")
            #expect(second.errorCode == "deployment_changed")
            #expect(second.errorMessage.contains("is at revision 2, not revision 1"), "\(second.errorMessage)")
            let shown = try await client.call(.get, "/api/v1/teams/fraud/deployments/fraud?environment=staging", key: key)
            #expect((shown["routes"] as? [[String: Any]])?.compactMap { $0["weight"] as? Int } == [90, 10])
            #expect(try await put([["version": 1]], revision: -1).status == .badRequest)
            #expect(try await put([["version": 1]], revision: nil).status == .ok, "without a revision: last write wins")
        }
    }
}
