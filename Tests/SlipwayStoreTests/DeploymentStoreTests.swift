import Foundation
import SQLKit
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Deployment store")
struct DeploymentStoreTests {
    static let audit = StoreHarness.audit()
    static let now = StoreHarness.epoch

    /// A team with model `fraud` holding `versions` versions.
    static func seed(_ harness: StoreHarness, team name: String = "risk", versions: Int = 2) async throws -> Team {
        let team = try await harness.makeTeam(name)
        _ = try await harness.registry.createModel(
            team: team.id, name: "fraud", description: "", tags: [:], audit: audit, at: now)
        for index in 0..<versions {
            let record = try await harness.upload(Array("model \(name) \(index)".utf8), team: team.id)
            _ = try await harness.registry.createVersion(
                team: team.id, model: "fraud", NewModelVersion(artifactDigest: record.digest, format: .slipway),
                audit: audit, at: now)
        }
        return team
    }

    @Test("a deployment is created, replaced with a new revision, listed and deleted, all audited", arguments: await Backend.all)
    func lifecycle(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await Self.seed(harness)
            let store = harness.deployments
            let created = try await harness.expectAudited("deployment.create") {
                try await store.putDeployment(
                    team: team.id, endpoint: "fraud", environment: .staging, model: "fraud",
                    routes: [TrafficRoute(version: 1, weight: 100)], fallbackVersion: nil, settings: ServingSettings(),
                    expectedRevision: 0, audit: Self.audit, at: Self.now)
            }
            #expect(created.revision == 1)
            #expect(try await store.deployment(team: team.id, endpoint: "fraud", environment: .staging) == created)

            var settings = ServingSettings()
            settings.maxBatchRows = 8
            let updated = try await harness.expectAudited("deployment.update") {
                try await store.putDeployment(
                    team: team.id, endpoint: "fraud", environment: .staging, model: "fraud",
                    routes: [TrafficRoute(version: 1, weight: 90), TrafficRoute(version: 2, weight: 10)],
                    fallbackVersion: 1, settings: settings, expectedRevision: 1, audit: Self.audit, at: Self.now)
            }
            #expect(updated.id == created.id && updated.revision == 2 && updated.fallbackVersion == 1)
            #expect(updated.versions == [1, 2])
            #expect(try await store.deployments(team: team.id) == [updated])
            #expect(try await store.allDeployments().map(\.id) == [created.id])

            try await harness.expectAudited("deployment.delete") {
                try await store.deleteDeployment(
                    team: team.id, endpoint: "fraud", environment: .staging, audit: Self.audit, at: Self.now)
            }
            #expect(try await store.deployment(team: team.id, endpoint: "fraud", environment: .staging) == nil)
            await expectSlipwayError(.notFound, code: "deployment_not_found") {
                try await store.deleteDeployment(
                    team: team.id, endpoint: "fraud", environment: .staging, audit: Self.audit, at: Self.now)
            }
        }
    }

    @Test("updates are compare-and-set on the revision: a stale or concurrent update gets 409 and changes nothing",
          arguments: await Backend.all)
    func optimisticConcurrency(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await Self.seed(harness)
            let store = harness.deployments
            func put(weight: Int, expecting revision: Int?) async throws -> Deployment {
                try await store.putDeployment(
                    team: team.id, endpoint: "fraud", environment: .staging, model: "fraud",
                    routes: [TrafficRoute(version: 1, weight: weight), TrafficRoute(version: 2, weight: 100 - weight)],
                    fallbackVersion: nil, settings: ServingSettings(), expectedRevision: revision, audit: Self.audit,
                    at: Self.now)
            }
            let first = try await put(weight: 90, expecting: 0)
            #expect(first.revision == 1)
            let created = await expectSlipwayError(.conflict, code: "deployment_changed") {
                try await put(weight: 50, expecting: 0)
            }
            #expect(created?.message.contains("is at revision 1, not revision 0") == true, "\(created?.message ?? "")")
            #expect(try await put(weight: 80, expecting: 1).revision == 2)
            let stale = await expectSlipwayError(.conflict, code: "deployment_changed") {
                try await put(weight: 10, expecting: 1)
            }
            #expect(stale?.message.contains("read it again") == true)
            let missing = await expectSlipwayError(.conflict, code: "deployment_changed") {
                try await store.putDeployment(
                    team: team.id, endpoint: "other", environment: .staging, model: "fraud",
                    routes: [TrafficRoute(version: 1, weight: 100)], fallbackVersion: nil, settings: ServingSettings(),
                    expectedRevision: 3, audit: Self.audit, at: Self.now)
            }
            #expect(missing?.message.contains("does not exist") == true)
            // Eight updates racing from the same revision: exactly one wins, the rest are refused.
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for weight in 1...8 {
                    group.addTask { (try? await put(weight: weight * 10, expecting: 2)) != nil }
                }
                var wins = 0
                for await won in group where won { wins += 1 }
                return wins
            }
            #expect(outcomes == 1)
            let now = try #require(try await store.deployment(team: team.id, endpoint: "fraud", environment: .staging))
            #expect(now.revision == 3)
        }
    }

    @Test("production needs versions allowed there; missing versions, bad weights and other teams are refused", arguments: await Backend.all)
    func refusals(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await Self.seed(harness)
            let other = try await Self.seed(harness, team: "other")
            let store = harness.deployments
            func put(_ team: TeamID, _ environment: DeploymentEnvironment, _ routes: [TrafficRoute], fallback: Int? = nil)
                async throws -> Deployment
            {
                try await store.putDeployment(
                    team: team, endpoint: "fraud", environment: environment, model: "fraud", routes: routes,
                    fallbackVersion: fallback, settings: ServingSettings(), expectedRevision: nil, audit: Self.audit,
                    at: Self.now)
            }
            let audited = try await harness.auditCount()
            let refused = await expectSlipwayError(.forbidden) { try await put(team.id, .production, [.init(version: 1, weight: 1)]) }
            #expect(refused?.message.contains("allow-production") == true)
            await expectSlipwayError(.notFound) { try await put(team.id, .staging, [.init(version: 3, weight: 1)]) }
            await expectSlipwayError(.notFound) { try await put(team.id, .staging, [.init(version: 1, weight: 1)], fallback: 9) }
            await expectSlipwayError(.badRequest, code: "invalid_routes") { try await put(team.id, .staging, [.init(version: 1, weight: 0)]) }
            await expectSlipwayError(.badRequest, code: "invalid_routes") { try await put(team.id, .staging, []) }
            #expect(try await harness.auditCount() == audited, "refusals write nothing")

            _ = try await harness.registry.setProductionAllowed(
                team: team.id, model: "fraud", version: 1, allowed: true, audit: Self.audit, at: Self.now)
            let production = try await put(team.id, .production, [.init(version: 1, weight: 1)])
            #expect(production.environment == .production)
            // Version 2 is not allowed, even as a fallback.
            await expectSlipwayError(.forbidden) { try await put(team.id, .production, [.init(version: 1, weight: 1)], fallback: 2) }
            // The other team's deployment of the same name is its own; neither sees the other's.
            #expect(try await store.deployment(team: other.id, endpoint: "fraud", environment: .production) == nil)
            #expect(try await store.deployments(team: other.id).isEmpty)
        }
    }

    @Test("usage adds up across flushes and is filtered by team and day", arguments: await Backend.all)
    func usage(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await Self.seed(harness)
            let other = try await Self.seed(harness, team: "other")
            let store = harness.deployments
            let record = UsageRecord(team: team.id, endpoint: "fraud", version: 1, day: "2026-11-25", requests: 3, rows: 30, errors: 1)
            try await store.addUsage([record])
            try await store.addUsage([record, UsageRecord(team: other.id, endpoint: "fraud", version: 2, day: "2026-11-26", requests: 1, rows: 1, errors: 0)])
            let mine = try await store.usage(team: team.id, from: "2026-11-01", to: "2026-11-30")
            #expect(mine == [UsageRecord(team: team.id, endpoint: "fraud", version: 1, day: "2026-11-25", requests: 6, rows: 60, errors: 2)])
            #expect(try await store.usage(team: nil, from: "2026-11-26", to: "2026-11-26").map(\.team) == [other.id])
            #expect(UsageRecord.day(of: Date(timeIntervalSince1970: 1_764_115_199)) == "2025-11-25")
        }
    }

    @Test("the prediction log keeps the newest entries per deployment", arguments: await Backend.all)
    func predictionLog(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await Self.seed(harness)
            let store = harness.deployments
            let deployment = DeploymentID.random()
            let entries = (0..<5).map { index in
                PredictionLogEntry(
                    deployment: deployment, team: team.id, endpoint: "fraud", version: 1, requestID: "r\(index)",
                    at: Self.now.addingTimeInterval(Double(index)), latencyMicros: 100 + Int64(index),
                    inputs: "[]", outputs: "[\(index)]")
            }
            try await store.appendPredictionLog(entries)
            let newest = try await store.predictionLog(deployment: deployment, limit: 2)
            #expect(newest.map(\.requestID) == ["r4", "r3"])
            #expect(try await store.prunePredictionLog(keepPerDeployment: 3, before: Self.now) == 2)
            #expect(try await store.predictionLog(deployment: deployment, limit: 10).map(\.requestID) == ["r4", "r3", "r2"])
            #expect(try await store.prunePredictionLog(keepPerDeployment: 10, before: Self.now.addingTimeInterval(4)) == 2)
        }
    }
}
