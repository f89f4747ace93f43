import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@testable import SlipwayServer

@Suite("Data and training API")
struct DataAndTrainingAPITests {
    static let contract = """
        columns:
          - {name: id, type: integer, nullable: false, unique: true}
          - {name: x1, type: number, min: 0, max: 1}
          - {name: x2, type: number}
          - {name: email, type: string, regex: "[a-z0-9]+@example[.]com", pii: true}
          - {name: gender, allowed: [f, m]}
          - {name: y, type: integer, nullable: false, allowed: ["0", "1"]}
        rows: {min: 20}
        freshness: 1h
        """

    /// A learnable CSV: y = 1 when x1 + x2 > 1 (with a little noise), `rows` rows.
    static func csv(rows: Int, seed: UInt64 = 7, breakRows: Bool = false) -> String {
        var generator = SplitMix64(seed: seed)
        var lines = ["id,x1,x2,email,gender,y"]
        for index in 0..<rows {
            let x1 = Double(generator.next() % 1000) / 1000
            let x2 = Double(generator.next() % 1000) / 1000
            let noise = generator.next() % 20 == 0
            var y = (x1 + x2 > 1) != noise ? "1" : "0"
            var x1Text = String(x1)
            if breakRows, index == 3 { x1Text = "5" }
            if breakRows, index == 7 { y = "" }
            lines.append("\(index),\(x1Text),\(x2),user\(index)@example.com,\(index % 2 == 0 ? "f" : "m"),\(y)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func setUpDataset(_ client: any TestClientProtocol, key: String, team: String = "fraud") async throws {
        let created = try await client.call(
            .post, "/api/v1/teams/\(team)/datasets", key: key, json: ["name": "customers", "description": "CRM export"])
        #expect(created.status == .created)
        let contract = try await client.call(
            .put, "/api/v1/teams/\(team)/datasets/customers/contract", key: key,
            raw: ByteBuffer(string: Self.contract), headers: [.contentType: "application/yaml"])
        #expect(contract.status == .created, "\(contract.errorMessage)")
        #expect(contract["version"] as? Int == 1)
    }

    static func push(
        _ client: any TestClientProtocol, key: String, _ text: String, team: String = "fraud", dataset: String = "customers"
    ) async throws -> Reply {
        try await client.call(
            .post, "/api/v1/teams/\(team)/datasets/\(dataset)/versions?format=csv", key: key, raw: ByteBuffer(string: text))
    }

    /// Router tests run the app's services too: without training workers, ``runQueuedJobs(_:)`` alone runs
    /// the jobs a test queues.
    static func manualJobs(_ configuration: inout ServerConfiguration) { configuration.trainingWorkers = 0 }

    /// Runs every queued job to its end, as a worker would.
    static func runQueuedJobs(_ server: TestServer) async throws {
        let platform = server.platform
        let runner = TrainingRunner(
            jobs: platform.jobs, datasets: platform.datasets, artifacts: platform.artifacts, registry: platform.registry,
            heartbeat: .milliseconds(20), logger: Logger(label: "test"), now: { server.clock.now })
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        while let job = try await platform.jobs.claimNext(
            leaseUntil: server.clock.now.addingTimeInterval(30), at: server.clock.now)
        {
            await runner.run(job, pool: pool, lease: .seconds(30))
        }
        try await pool.shutdownGracefully()
    }

    static func submit(_ client: any TestClientProtocol, key: String, _ spec: String, team: String = "fraud") async throws -> Reply {
        try await client.call(
            .post, "/api/v1/teams/\(team)/jobs", key: key, raw: ByteBuffer(string: spec),
            headers: [.contentType: "application/yaml"])
    }

    @Test("a CSV that breaks its contract is refused for training with the rules and rows; a valid one trains into a version whose lineage points back to it, and serves")
    func contractToModel() async throws {
        try await TestServer.with(configure: Self.manualJobs) { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            try await Self.setUpDataset(client, key: key)

            let broken = try await Self.push(client, key: key, Self.csv(rows: 60, breakRows: true))
            #expect(broken.status == .created, "\(broken.errorMessage)")
            #expect(broken["status"] as? String == "invalid")
            let rules = (broken["validation"] as? [String: Any])?["rules"] as? [[String: Any]] ?? []
            let failed = rules.filter { $0["passed"] as? Bool == false }
            #expect(Set(failed.compactMap { $0["rule"] as? String }) == ["x1: range", "y: nullable"])
            let range = try #require(failed.first { $0["rule"] as? String == "x1: range" })
            #expect((range["examples"] as? [[String: Any]])?.first?["row"] as? Int == 4)

            let refused = try await Self.submit(
                client, key: key, "{model: churn, dataset: customers, dataset_version: 1, label: y, task: binary, algorithm: gbdt}")
            #expect(refused.status == .unprocessableContent)
            #expect(refused.errorCode == "contract_violation")
            #expect(refused.errorMessage.contains("x1: range (1 failing, rows 4)"))
            #expect(refused.errorMessage.contains("y: nullable"))
            // Without a pinned version the newest is used, and it is the broken one.
            let refusedLatest = try await Self.submit(
                client, key: key, "{model: churn, dataset: customers, label: y, task: binary, algorithm: gbdt}")
            #expect(refusedLatest.errorCode == "contract_violation")

            let valid = try await Self.push(client, key: key, Self.csv(rows: 300))
            #expect(valid["status"] as? String == "valid")
            #expect(valid["version"] as? Int == 2)
            let profile = try #require(valid["profile"] as? [String: Any])
            #expect(profile["row_count"] as? Int == 300)
            let email = (profile["columns"] as? [[String: Any]])?.first { $0["name"] as? String == "email" }
            #expect(email?["pii"] as? Bool == true && email?["top_values"] == nil)

            let spec = """
                model: churn
                dataset: customers
                label: y
                exclude: [id, email]
                task: binary
                algorithm: gbdt
                hyperparameters: {trees: 30, max_leaves: 8, min_data_in_leaf: 5}
                sensitive_attributes: [gender]
                seed: 3
                """
            let submitted = try await Self.submit(client, key: key, spec)
            #expect(submitted.status == .created, "\(submitted.errorMessage)")
            let jobID = try #require(submitted["id"] as? String)
            #expect((submitted["spec"] as? [String: Any])?["dataset_version"] as? Int == 2)
            #expect(submitted["status"] as? String == "queued")

            try await Self.runQueuedJobs(server)
            let job = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(jobID)", key: key)
            #expect(job["status"] as? String == "succeeded", "\(job["error"] ?? "")")
            let result = try #require(job["result"] as? [String: Any])
            #expect(result["model"] as? String == "churn" && result["version"] as? Int == 1)

            let version = try await client.call(.get, "/api/v1/teams/fraud/models/churn/versions/1", key: key)
            #expect(version["format"] as? String == "slipway")
            let lineage = try #require(version["lineage"] as? [String: Any])
            #expect(lineage["dataset_version"] as? String == "customers@2")
            #expect(lineage["training_job"] as? String == jobID)
            let metrics = try #require(version["metrics"] as? [String: Double])
            #expect((metrics["roc_auc"] ?? 0) > 0.85)
            #expect(metrics["fairness.gender.f.count"] != nil && metrics["fairness.gender.accuracy_gap"] != nil)
            let parameters = try #require(version["parameters"] as? [String: String])
            #expect(parameters["contract_version"] == "1" && parameters["features"] == "2")
            #expect((version["model_card"] as? String)?.contains("Training data profile") == true)

            let logs = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(jobID)/logs", key: key)
            let lines = (logs["lines"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
            #expect(lines.contains { $0.contains("loaded 300 rows, 2 features") })
            #expect(lines.last == "registered churn version 1")

            // The trained version deploys and answers predictions.
            let deployed = try await client.call(
                .put, "/api/v1/teams/fraud/deployments/churn", key: key,
                json: ["model": "churn", "environment": "staging", "routes": [["version": 1, "weight": 100]]])
            #expect(deployed.status == .ok || deployed.status == .created, "\(deployed.errorMessage)")
            let inferred = try await client.call(
                .post, "/v2/models/churn/infer", key: key,
                json: ["inputs": [["name": "input", "datatype": "FP32", "shape": [2, 2], "data": [0.9, 0.9, 0.1, 0.1]]]],
                headers: [HTTPField.Name("X-Slipway-Environment")!: "staging"])
            #expect(inferred.status == .ok, "\(inferred.errorMessage)")
            let outputs = inferred["outputs"] as? [[String: Any]] ?? []
            let probabilities = outputs.first?["data"] as? [Double] ?? []
            #expect(probabilities.count == 2 && probabilities[0] > 0.5 && probabilities[1] < 0.5)
        }
    }

    @Test("another team reads a dataset only with a grant; a plain grant masks PII, a pii grant shows it; every read is audited")
    func grantsAndMasking() async throws {
        try await TestServer.with(configure: Self.manualJobs) { server, client in
            let owner = try await Fixture.make(server, client)
            let reader = try await Fixture.make(server, client, team: "growth", user: "bob")
            // Pushed before any contract tagged email as PII: masking follows the newest contract anyway.
            #expect(
                try await client.call(.post, "/api/v1/teams/fraud/datasets", key: owner.aliceKey, json: ["name": "customers"])
                    .status == .created)
            _ = try await Self.push(client, key: owner.aliceKey, Self.csv(rows: 30))
            #expect(
                try await client.call(
                    .put, "/api/v1/teams/fraud/datasets/customers/contract", key: owner.aliceKey,
                    raw: ByteBuffer(string: Self.contract)
                ).status == .created)

            let path = "/api/v1/teams/growth/shared-datasets/fraud/customers/versions/1/rows?limit=2"
            #expect(try await client.call(.get, path, key: reader.aliceKey).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/teams/fraud/datasets/customers", key: reader.aliceKey).status == .notFound)
            // Granting takes a team admin.
            #expect(
                try await client.call(.put, "/api/v1/teams/fraud/datasets/customers/grants/growth", key: owner.aliceKey, json: [:])
                    .status == .forbidden)
            let granted = try await client.call(
                .put, "/api/v1/teams/fraud/datasets/customers/grants/growth", key: owner.adminKey, json: ["pii": false])
            #expect(granted.status == .ok, "\(granted.errorMessage)")
            let shared = try await client.call(.get, "/api/v1/teams/growth/shared-datasets", key: reader.aliceKey)
            #expect(shared.items.map { $0["name"] as? String } == ["customers"])

            let sharedVersion = try await client.call(
                .get, "/api/v1/teams/growth/shared-datasets/fraud/customers/versions/1", key: reader.aliceKey)
            let emailProfile = ((sharedVersion["profile"] as? [String: Any])?["columns"] as? [[String: Any]])?
                .first { $0["name"] as? String == "email" }
            #expect(emailProfile?["pii"] as? Bool == true && emailProfile?["top_values"] == nil)
            let sharedVersions = try await client.call(
                .get, "/api/v1/teams/growth/shared-datasets/fraud/customers/versions", key: reader.aliceKey)
            #expect(sharedVersions.items.map { $0["version"] as? Int } == [1])
            let masked = try await client.call(.get, path, key: reader.aliceKey)
            #expect(masked.status == .ok)
            #expect(masked["masked"] as? [String] == ["email"])
            let rows = masked["rows"] as? [[Any]] ?? []
            #expect(rows.count == 2 && rows[0][3] as? String == "u***" && rows[0][0] as? String == "0")

            _ = try await client.call(
                .put, "/api/v1/teams/fraud/datasets/customers/grants/growth", key: owner.adminKey, json: ["pii": true])
            let unmasked = try await client.call(.get, path, key: reader.aliceKey)
            #expect((unmasked["rows"] as? [[Any]])?.first?[3] as? String == "user0@example.com")
            #expect((unmasked["masked"] as? [String]) == [])

            let audit = try await client.call(.get, "/api/v1/audit?team=fraud&limit=100", key: owner.adminKey)
            let reads = audit.items.filter { $0["action"] as? String == "dataset.read" }
            #expect(reads.count == 2)

            #expect(
                try await client.call(.delete, "/api/v1/teams/fraud/datasets/customers/grants/growth", key: owner.adminKey)
                    .status == .noContent)
            #expect(try await client.call(.get, path, key: reader.aliceKey).status == .notFound)
        }
    }

    @Test("bad input gets a 4xx that says what to fix")
    func badInput() async throws {
        try await TestServer.with(configure: Self.manualJobs) { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            try await Self.setUpDataset(client, key: key)
            let badContract = try await client.call(
                .put, "/api/v1/teams/fraud/datasets/customers/contract", key: key,
                raw: ByteBuffer(string: "columns: [{name: a, min: 5, max: 1}]"))
            #expect(badContract.status == .badRequest && badContract.errorMessage.contains("min 5 is greater than max 1"))
            let notYAML = try await client.call(
                .put, "/api/v1/teams/fraud/datasets/customers/contract", key: key, raw: ByteBuffer(string: "columns: ["))
            #expect(notYAML.status == .badRequest && notYAML.errorCode == "invalid_contract")
            let ragged = try await Self.push(client, key: key, "id,x1\n1,2,3\n")
            #expect(ragged.status == .badRequest && ragged.errorMessage.contains("line 2"))
            let badFormat = try await client.call(
                .post, "/api/v1/teams/fraud/datasets/customers/versions?format=xlsx", key: key, raw: ByteBuffer(string: "a\n"))
            #expect(badFormat.status == .badRequest)
            #expect(try await Self.push(client, key: key, "a\n1\n", dataset: "nope").status == .notFound)

            _ = try await Self.push(client, key: key, Self.csv(rows: 40))
            let unknownHyper = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: y, task: binary, algorithm: gbdt, hyperparameters: {depth: 3}}")
            #expect(unknownHyper.status == .badRequest && unknownHyper.errorMessage.contains("no hyperparameter 'depth'"))
            let mismatch = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: y, task: regression, algorithm: logistic_regression}")
            #expect(mismatch.status == .badRequest && mismatch.errorMessage.contains("trains binary or multiclass"))
            let huge = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: y, task: binary, algorithm: gbdt, hyperparameters: {trees: 1e19}}")
            #expect(huge.status == .badRequest && huge.errorMessage.contains("'trees' must be a whole number from 1 to 100000"))
            let zeroC = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: y, task: binary, algorithm: logistic_regression, hyperparameters: {c: 0}}")
            #expect(zeroC.status == .badRequest && zeroC.errorMessage.contains("'c' must be a number above 0"))
            let typo = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: y, task: binary, algorithm: gbdt, hyperparams: {trees: 3}}")
            #expect(typo.status == .badRequest && typo.errorMessage.contains("unknown key 'hyperparams'"))
            let contractTypo = try await client.call(
                .put, "/api/v1/teams/fraud/datasets/customers/contract", key: key,
                raw: ByteBuffer(string: "columns: [{name: a, nulable: false}]"))
            #expect(contractTypo.status == .badRequest && contractTypo.errorMessage.contains("unknown key 'columns.nulable'"))
            let wrongType = try await Self.submit(client, key: key, "{model: m, dataset: customers, task: 3}")
            #expect(wrongType.status == .badRequest)
            let noDataset = try await Self.submit(
                client, key: key, "{model: m, dataset: ghost, label: y, task: binary, algorithm: gbdt}")
            #expect(noDataset.status == .notFound)

            // A spec naming a column the data lacks fails the job with a message naming it.
            let missing = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: churned, task: binary, algorithm: gbdt}")
            let id = try #require(missing["id"] as? String)
            try await Self.runQueuedJobs(server)
            let failed = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(id)", key: key)
            #expect(failed["status"] as? String == "failed")
            #expect((failed["error"] as? String)?.contains("label column 'churned' is not in the dataset") == true)
            #expect(try await client.call(.get, "/api/v1/teams/fraud/jobs/job_0", key: key).status == .badRequest)

            // A queued job is cancelled at once; an ended one cannot be.
            let queued = try await Self.submit(
                client, key: key, "{model: m, dataset: customers, label: y, task: binary, algorithm: logistic_regression}")
            let queuedID = try #require(queued["id"] as? String)
            let cancelled = try await client.call(.post, "/api/v1/teams/fraud/jobs/\(queuedID)/cancel", key: key)
            #expect(cancelled["status"] as? String == "cancelled")
            #expect(try await client.call(.post, "/api/v1/teams/fraud/jobs/\(queuedID)/cancel", key: key).status == .conflict)
        }
    }

    @Test("every algorithm trains its task: ridge regression, multinomial logistic regression, ALS recommendations")
    func algorithms() async throws {
        try await TestServer.with(configure: Self.manualJobs) { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            var generator = SplitMix64(seed: 11)
            var table = ["a,b,target,kind"]
            for _ in 0..<120 {
                let a = Double(generator.next() % 1000) / 100
                let b = Double(generator.next() % 1000) / 100
                let kind = a > 6 ? "high" : a > 3 ? "mid" : "low"
                table.append("\(a),\(b),\(2 * a - b + 1),\(kind)")
            }
            #expect(try await client.call(.post, "/api/v1/teams/fraud/datasets", key: key, json: ["name": "numbers"]).status == .created)
            #expect(try await Self.push(client, key: key, table.joined(separator: "\n"), dataset: "numbers").status == .created)
            var interactions = ["user,item,count"]
            for user in 0..<20 {
                for item in 0..<10 where (user < 10) == (item < 5) && (user + item) % 4 != 0 {
                    interactions.append("u\(user),i\(item),\(1 + (user * item) % 3)")
                }
            }
            #expect(try await client.call(.post, "/api/v1/teams/fraud/datasets", key: key, json: ["name": "plays"]).status == .created)
            #expect(try await Self.push(client, key: key, interactions.joined(separator: "\n"), dataset: "plays").status == .created)

            let specs = [
                "{model: price, dataset: numbers, label: target, features: [a, b], task: regression, algorithm: linear_regression, hyperparameters: {alpha: 0.001}}",
                "{model: kind, dataset: numbers, label: kind, features: [a, b], task: multiclass, algorithm: logistic_regression, hyperparameters: {c: 100}}",
                "{model: recs, dataset: plays, task: ranking, algorithm: als, interactions: {user: user, item: item, weight: count}, hyperparameters: {factors: 4, iterations: 5, k: 3}, seed: 1}",
            ]
            var ids: [String] = []
            for spec in specs {
                let reply = try await Self.submit(client, key: key, spec)
                #expect(reply.status == .created, "\(reply.errorMessage)")
                ids.append(reply["id"] as? String ?? "")
            }
            try await Self.runQueuedJobs(server)
            for id in ids {
                let job = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(id)", key: key)
                let logs = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(id)/logs", key: key)
                #expect(job["status"] as? String == "succeeded", "\(job["error"] ?? "") \(logs["lines"] ?? "")")
            }
            let price = try await client.call(.get, "/api/v1/teams/fraud/models/price/versions/1", key: key)
            #expect(((price["metrics"] as? [String: Double])?["r2"] ?? 0) > 0.99)
            let kind = try await client.call(.get, "/api/v1/teams/fraud/models/kind/versions/1", key: key)
            #expect(((kind["metrics"] as? [String: Double])?["accuracy"] ?? 0) > 0.8)
            let recs = try await client.call(.get, "/api/v1/teams/fraud/models/recs/versions/1", key: key)
            #expect((recs["metrics"] as? [String: Double])?["precision_at_3"] != nil)
        }
    }

    @Test("a job left running by a server that died is queued again and finishes when a server runs; a new dataset version triggers its schedule")
    func recoveryAndSchedules() async throws {
        try await TestServer.with(.live, configure: { configuration in
            // This server runs no jobs (only the recovery loop), so the simulated crash below is not raced
            // by its own worker; the "restarted" worker starts afterwards.
            configuration.trainingWorkers = 0
            configuration.jobHeartbeat = .milliseconds(50)
            configuration.jobLease = .seconds(3)
        }) { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            try await Self.setUpDataset(client, key: key)
            _ = try await Self.push(client, key: key, Self.csv(rows: 60))
            let schedule = try await client.call(
                .put, "/api/v1/teams/fraud/schedules/nightly", key: key,
                raw: ByteBuffer(
                    string: "{on_new_version: true, cron: '0 3 * * *', spec: {model: churn, dataset: customers, label: y, exclude: [id, email, gender], task: binary, algorithm: logistic_regression}}"))
            #expect(schedule.status == .ok, "\(schedule.errorMessage)")
            #expect(schedule["next_run_at"] != nil)

            // Simulate a crash: a job claimed by a worker whose lease has already run out.
            let team = try #require(try await server.platform.identity.team(named: "fraud"))
            let spec = TrainingSpec(
                model: "orphan", dataset: "customers", datasetVersion: 1, label: "y", exclude: ["id", "email", "gender"],
                task: .binary, algorithm: .logisticRegression)
            let orphan = try await server.platform.jobs.enqueue(
                team: team.id, spec: spec, specDigest: try SpecDigest.of(spec), maxAttempts: 2, schedule: nil,
                audit: .system(), at: server.clock.now)
            _ = try await server.platform.jobs.claimNext(
                leaseUntil: server.clock.now.addingTimeInterval(-1), at: server.clock.now.addingTimeInterval(-60))

            _ = try await Self.push(client, key: key, Self.csv(rows: 80, seed: 9))
            // A server with a worker comes back: the expired job is queued again and run, with the
            // job the new version triggered.
            let platform = server.platform
            let worker = TrainingService(
                runner: TrainingRunner(
                    jobs: platform.jobs, datasets: platform.datasets, artifacts: platform.artifacts,
                    registry: platform.registry, heartbeat: .milliseconds(50), logger: Logger(label: "test"),
                    now: { server.clock.now }),
                jobs: platform.jobs, workers: 1, lease: .seconds(3), pollInterval: .milliseconds(50),
                logger: Logger(label: "test"), now: { server.clock.now })
            let restarted = Task { try await worker.run() }
            defer { restarted.cancel() }
            var statuses: [String] = []
            var errors: [String] = []
            for _ in 0..<600 {
                let jobs = try await client.call(.get, "/api/v1/teams/fraud/jobs", key: key)
                statuses = jobs.items.compactMap { $0["status"] as? String }
                errors = jobs.items.compactMap { $0["error"] as? String }
                if statuses.count == 2, statuses.allSatisfy({ $0 == "succeeded" || $0 == "failed" }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(statuses == ["succeeded", "succeeded"], "\(errors)")
            let recovered = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(orphan.id)", key: key)
            #expect(recovered["attempts"] as? Int == 2)
            let logs = try await client.call(.get, "/api/v1/teams/fraud/jobs/\(orphan.id)/logs", key: key)
            #expect((logs["lines"] as? [[String: Any]])?.first?["message"] as? String
                == "the worker running attempt 1 stopped (server restart or crash); queued again")
            let triggered = try await client.call(.get, "/api/v1/teams/fraud/jobs?limit=5", key: key).items.first {
                $0["schedule"] as? String != nil
            }
            #expect((triggered?["spec"] as? [String: Any])?["dataset_version"] as? Int == 2)
        }
    }
}

@Suite("SQL snapshots through the API")
struct SnapshotAPITests {
    @Test("a team snapshots a query on a configured source into a validated version; other teams cannot use it")
    func snapshot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-crm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("crm.db").path
        let crm = try await SlipwayDatabase.open(.sqlite(path: path), logger: Logger(label: "test"))
        try await crm.withRunning {
            try await crm.transaction { db in
                try await db.raw("CREATE TABLE customers (id INTEGER, x1 REAL, y INTEGER)").run()
                for id in 0..<30 {
                    try await db.raw("INSERT INTO customers VALUES (\(bind: id), \(bind: Double(id) / 30), \(bind: id % 2))").run()
                }
            }
        }
        try await TestServer.with(configure: { $0.dataSources = [try! DataSource(parsing: "crm@fraud=sqlite://\(path)")] }) {
            server, client in
            let fixture = try await Fixture.make(server, client)
            let other = try await Fixture.make(server, client, team: "growth", user: "bob")
            let key = fixture.aliceKey
            #expect(try await client.call(.post, "/api/v1/teams/fraud/datasets", key: key, json: ["name": "customers"]).status == .created)
            let sources = try await client.call(.get, "/api/v1/teams/fraud/data-sources", key: key)
            #expect(sources.items.map { $0["name"] as? String } == ["crm"])
            let snapshot = try await client.call(
                .post, "/api/v1/teams/fraud/datasets/customers/snapshots", key: key,
                json: ["source": "crm", "query": "SELECT id, x1, y FROM customers WHERE id < 20"])
            #expect(snapshot.status == .created, "\(snapshot.errorMessage)")
            #expect(snapshot["row_count"] as? Int == 20 && snapshot["source"] as? String == "sql:crm")
            #expect(snapshot["format"] as? String == "jsonl" && snapshot["columns"] as? [String] == ["id", "x1", "y"])
            let audit = try await client.call(.get, "/api/v1/audit?team=fraud&limit=200", key: server.adminKey)
            let created = audit.items.last { $0["action"] as? String == "dataset.version.create" }
            let detail = (created?["detail"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
            #expect((detail as? [String: Any])?["query"] as? String == "SELECT id, x1, y FROM customers WHERE id < 20")
            let broken = try await client.call(
                .post, "/api/v1/teams/fraud/datasets/customers/snapshots", key: key,
                json: ["source": "crm", "query": "SELECT nope FROM customers"])
            #expect(broken.status == .unprocessableContent && broken.errorCode == "query_failed")
            #expect(try await client.call(.post, "/api/v1/teams/growth/datasets", key: other.aliceKey, json: ["name": "c"]).status == .created)
            let refused = try await client.call(
                .post, "/api/v1/teams/growth/datasets/c/snapshots", key: other.aliceKey,
                json: ["source": "crm", "query": "SELECT 1"])
            #expect(refused.status == .notFound && refused.errorCode == "data_source_not_found")
        }
    }
}
