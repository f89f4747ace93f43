import Foundation
import SQLKit
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Model registry store")
struct ModelRegistryStoreTests {
    static let audit = StoreHarness.audit()
    static let now = StoreHarness.epoch

    static func newVersion(_ record: ArtifactRecord, tags: [String: String] = [:]) -> NewModelVersion {
        NewModelVersion(artifactDigest: record.digest, format: .onnx, tags: tags)
    }

    @Test("models are created once per team; another team cannot see them", arguments: await Backend.all)
    func createAndIsolate(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let teamA = try await harness.makeTeam("team-a")
            let teamB = try await harness.makeTeam("team-b")
            let registry = harness.registry
            let model = try await harness.expectAudited("model.create") {
                try await registry.createModel(
                    team: teamA.id, name: "fraud-detector", description: "catches fraud", tags: ["owner": "risk"],
                    audit: Self.audit, at: Self.now)
            }
            #expect(model.latestVersion == 0)
            #expect(try await registry.model(team: teamA.id, name: "fraud-detector") == model)

            let audited = try await harness.auditCount()
            await expectSlipwayError(.conflict, code: "model_exists") {
                try await registry.createModel(
                    team: teamA.id, name: "fraud-detector", description: "", tags: [:], audit: Self.audit, at: Self.now)
            }
            #expect(try await harness.auditCount() == audited)
            await expectSlipwayError(.badRequest, code: "invalid_name") {
                try await registry.createModel(
                    team: teamA.id, name: "Fraud Detector", description: "", tags: [:], audit: Self.audit, at: Self.now)
            }

            // Team B sees nothing of team A's model, and may reuse the name.
            #expect(try await registry.model(team: teamB.id, name: "fraud-detector") == nil)
            #expect(
                try await registry.searchModels(team: teamB.id, filter: ModelFilter(), page: PageRequest()).items
                    .isEmpty)
            await expectSlipwayError(.notFound, code: "model_not_found") {
                try await registry.updateModel(
                    team: teamB.id, name: "fraud-detector", description: "mine now", audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.notFound, code: "model_not_found") {
                try await registry.versions(team: teamB.id, model: "fraud-detector", page: PageRequest())
            }
            let theirs = try await registry.createModel(
                team: teamB.id, name: "fraud-detector", description: "B's", tags: [:], audit: Self.audit, at: Self.now)
            #expect(theirs.id != model.id)
            #expect(try await registry.model(team: teamA.id, name: "fraud-detector")?.description == "catches fraud")

            let updated = try await harness.expectAudited("model.update") {
                try await registry.updateModel(
                    team: teamA.id, name: "fraud-detector", description: "v2 text", audit: Self.audit,
                    at: Self.now.addingTimeInterval(10))
            }
            #expect(updated.description == "v2 text")
            #expect(updated.updatedAt == Self.now.addingTimeInterval(10))
            #expect(updated.tags == ["owner": "risk"])
        }
    }

    @Test("search filters by name and tag and pages with a cursor", arguments: await Backend.all)
    func search(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("search")
            let other = try await harness.makeTeam("other")
            let registry = harness.registry
            let models: [(String, [String: String])] = [
                ("churn", ["stage": "prod"]), ("fraud-a", ["stage": "prod"]), ("fraud-b", ["stage": "dev"]),
                ("fraud_c", [:]), ("fraudxc", ["stage": "prod", "owner": "x"]),
            ]
            for (name, tags) in models.reversed() {
                _ = try await registry.createModel(
                    team: team.id, name: name, description: "", tags: tags, audit: Self.audit, at: Self.now)
            }
            _ = try await registry.createModel(
                team: other.id, name: "fraud-z", description: "", tags: ["stage": "prod"], audit: Self.audit,
                at: Self.now)

            func names(_ filter: ModelFilter, limit: Int = 50) async throws -> [String] {
                var all: [String] = []
                var cursor: String?
                repeat {
                    let page = try await registry.searchModels(
                        team: team.id, filter: filter, page: PageRequest(limit: limit, cursor: cursor))
                    #expect(page.items.count <= limit)
                    all += page.items.map(\.name)
                    cursor = page.nextCursor
                } while cursor != nil
                return all
            }

            #expect(try await names(ModelFilter()) == ["churn", "fraud-a", "fraud-b", "fraud_c", "fraudxc"])
            #expect(
                try await names(ModelFilter(nameContains: "fraud")) == ["fraud-a", "fraud-b", "fraud_c", "fraudxc"])
            // LIKE wildcards in the filter are literal.
            #expect(try await names(ModelFilter(nameContains: "_")) == ["fraud_c"])
            #expect(try await names(ModelFilter(nameContains: "%")) == [])
            #expect(try await names(ModelFilter(tag: ("stage", "prod"))) == ["churn", "fraud-a", "fraudxc"])
            #expect(
                try await names(ModelFilter(nameContains: "fraud", tag: ("stage", "prod"))) == ["fraud-a", "fraudxc"])
            #expect(try await names(ModelFilter(tag: ("stage", "staging"))) == [])

            // Five models, two per page: 2 + 2 + 1, and the last page has no cursor.
            let first = try await registry.searchModels(
                team: team.id, filter: ModelFilter(), page: PageRequest(limit: 2))
            #expect(first.items.map(\.name) == ["churn", "fraud-a"])
            let firstCursor = try #require(first.nextCursor)
            let secondRequest = try PageRequest(limit: 2, cursor: firstCursor)
            let second = try await registry.searchModels(team: team.id, filter: ModelFilter(), page: secondRequest)
            #expect(second.items.map(\.name) == ["fraud-b", "fraud_c"])
            let secondCursor = try #require(second.nextCursor)
            let thirdRequest = try PageRequest(limit: 2, cursor: secondCursor)
            let third = try await registry.searchModels(team: team.id, filter: ModelFilter(), page: thirdRequest)
            #expect(third.items.map(\.name) == ["fraudxc"])
            #expect(third.nextCursor == nil)
            #expect(try await names(ModelFilter(), limit: 1).count == 5)
            #expect(try await names(ModelFilter(), limit: 5).count == 5)
            #expect(try await names(ModelFilter(nameContains: "fraud", tag: ("stage", "prod")), limit: 1).count == 2)

            // Tags come back on search results.
            #expect(third.items.first?.tags == ["stage": "prod", "owner": "x"])
        }
    }

    @Test("a forged cursor gives a clear answer, never a database error", arguments: await Backend.all)
    func forgedCursor(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("cursors")
            _ = try await harness.registry.createModel(
                team: team.id, name: "m", description: "", tags: [:], audit: Self.audit, at: Self.now)
            for position in ["\u{0}", "a\u{0}b", "zzz", "é"] {
                do {
                    let page = try PageRequest(limit: 10, cursor: PageRequest.cursor(after: position))
                    let result = try await harness.registry.searchModels(
                        team: team.id, filter: ModelFilter(), page: page)
                    #expect(result.items.allSatisfy { $0.name > position })
                } catch let error as SlipwayError {
                    #expect(error.code == "invalid_cursor", "\(position.debugDescription): \(error)")
                }
            }
            await expectSlipwayError(.badRequest, code: "invalid_cursor") {
                try await harness.registry.versions(
                    team: team.id, model: "m", page: PageRequest(cursor: PageRequest.cursor(after: "one")))
            }
        }
    }

    @Test("versions are numbered 1, 2, 3 per model and keep their metadata", arguments: await Backend.all)
    func versionNumbering(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let registry = harness.registry
            let artifact = try await harness.upload(Array("model bytes".utf8), team: team.id)
            for name in ["ranker", "scorer"] {
                _ = try await registry.createModel(
                    team: team.id, name: name, description: "", tags: [:], audit: Self.audit, at: Self.now)
            }
            let signature = ModelSignature(
                inputs: [TensorSpec(name: "x", datatype: .fp32, shape: [-1, 4])],
                outputs: [TensorSpec(name: "y", datatype: .fp64, shape: [-1])])
            var rich = NewModelVersion(
                artifactDigest: artifact.digest, format: .xgboostJSON, signature: signature,
                parameters: ["eta": "0.1"], metrics: ["auc": 0.875, "loss": -1.5e-3],
                lineage: Lineage(datasetVersion: "tx@12", trainingJob: "job-7", sourceCode: "git+https://x@abc"),
                description: "first", modelCard: "# Ranker\n", tags: ["stage": "dev"])
            let one = try await harness.expectAudited("version.create") {
                try await registry.createVersion(team: team.id, model: "ranker", rich, audit: Self.audit, at: Self.now)
            }
            rich.tags = [:]
            let two = try await registry.createVersion(
                team: team.id, model: "ranker", rich, audit: Self.audit, at: Self.now)
            let three = try await registry.createVersion(
                team: team.id, model: "ranker", Self.newVersion(artifact), audit: Self.audit, at: Self.now)
            let otherOne = try await registry.createVersion(
                team: team.id, model: "scorer", Self.newVersion(artifact), audit: Self.audit, at: Self.now)
            #expect([one.version, two.version, three.version] == Array(1...3))
            #expect(otherOne.version == 1)
            #expect(try await registry.model(team: team.id, name: "ranker")?.latestVersion == 3)

            let stored = try #require(try await registry.version(team: team.id, model: "ranker", version: 1))
            #expect(stored == one)
            #expect(stored.artifactSize == artifact.size)
            #expect(stored.signature == signature)
            #expect(stored.metrics == ["auc": 0.875, "loss": -1.5e-3])
            #expect(stored.lineage.trainingJob == "job-7")
            #expect(stored.tags == ["stage": "dev"])
            #expect(stored.createdBy == "tester")
            #expect(try await registry.version(team: team.id, model: "ranker", version: 4) == nil)

            let firstPage = try await registry.versions(team: team.id, model: "ranker", page: PageRequest(limit: 2))
            #expect(firstPage.items.map(\.version) == [1, 2])
            let versionCursor = try #require(firstPage.nextCursor)
            let rest = try await registry.versions(
                team: team.id, model: "ranker", page: PageRequest(limit: 2, cursor: versionCursor))
            #expect(rest.items.map(\.version) == [3])
            #expect(rest.nextCursor == nil)

            let archived = try await harness.expectAudited("version.update") {
                try await registry.updateVersion(
                    team: team.id, model: "ranker", version: 2, description: "old", status: .archived,
                    audit: Self.audit, at: Self.now)
            }
            #expect(archived.status == .archived)
            #expect(archived.description == "old")
            await expectSlipwayError(.notFound, code: "version_not_found") {
                try await registry.updateVersion(
                    team: team.id, model: "ranker", version: 9, description: "x", status: nil, audit: Self.audit,
                    at: Self.now)
            }
        }
    }

    @Test("the version a training job registered is found by the job, in its team only", arguments: await Backend.all)
    func versionByTrainingJob(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let other = try await harness.makeTeam("other")
            let registry = harness.registry
            _ = try await registry.createModel(
                team: team.id, name: "churn", description: "", tags: [:], audit: Self.audit, at: Self.now)
            let record = try await harness.upload(Array("model".utf8), team: team.id)
            _ = try await registry.createVersion(
                team: team.id, model: "churn", Self.newVersion(record), audit: Self.audit, at: Self.now)
            var trained = Self.newVersion(record)
            trained.lineage = Lineage(datasetVersion: "customers@2", trainingJob: "job_1")
            _ = try await registry.createVersion(team: team.id, model: "churn", trained, audit: Self.audit, at: Self.now)
            #expect(try await registry.version(team: team.id, model: "churn", trainingJob: "job_1")?.version == 2)
            #expect(try await registry.version(team: team.id, model: "churn", trainingJob: "job_2") == nil)
            #expect(try await registry.version(team: other.id, model: "churn", trainingJob: "job_1") == nil)
        }
    }

    @Test("concurrent version creation hands out distinct numbers", arguments: await Backend.all)
    func concurrentVersions(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("busy")
            let artifact = try await harness.upload([1, 2, 3], team: team.id)
            let registry = harness.registry
            _ = try await registry.createModel(
                team: team.id, name: "hot", description: "", tags: [:], audit: Self.audit, at: Self.now)
            let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await registry.createVersion(
                            team: team.id, model: "hot", Self.newVersion(artifact), audit: Self.audit, at: Self.now
                        ).version
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(numbers.sorted() == Array(1...6))
            #expect(try await harness.auditLog.verify().ok)
        }
    }

    @Test("a version needs an artifact this team uploaded, and an existing model", arguments: await Backend.all)
    func versionArtifactChecks(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let teamA = try await harness.makeTeam("team-a")
            let teamB = try await harness.makeTeam("team-b")
            let registry = harness.registry
            let theirs = try await harness.upload(Array("B's weights".utf8), team: teamB.id)
            let mine = try await harness.upload(Array("A's weights".utf8), team: teamA.id)
            _ = try await registry.createModel(
                team: teamA.id, name: "m", description: "", tags: [:], audit: Self.audit, at: Self.now)
            let audited = try await harness.auditCount()

            await expectSlipwayError(.unprocessable, code: "artifact_not_found") {
                try await registry.createVersion(
                    team: teamA.id, model: "m", Self.newVersion(theirs), audit: Self.audit, at: Self.now)
            }
            let never = ArtifactRecord(digest: "sha256:" + String(repeating: "0", count: 64), size: 0)
            await expectSlipwayError(.unprocessable, code: "artifact_not_found") {
                try await registry.createVersion(
                    team: teamA.id, model: "m", Self.newVersion(never), audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.badRequest, code: "invalid_digest") {
                try await registry.createVersion(
                    team: teamA.id, model: "m", NewModelVersion(artifactDigest: "sha256:xyz", format: .onnx),
                    audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.notFound, code: "model_not_found") {
                try await registry.createVersion(
                    team: teamA.id, model: "missing", Self.newVersion(mine), audit: Self.audit, at: Self.now)
            }
            // Team B cannot add versions to team A's model, even with its own artifact.
            await expectSlipwayError(.notFound, code: "model_not_found") {
                try await registry.createVersion(
                    team: teamB.id, model: "m", Self.newVersion(theirs), audit: Self.audit, at: Self.now)
            }
            #expect(try await harness.auditCount() == audited)
            #expect(try await registry.model(team: teamA.id, name: "m")?.latestVersion == 0)
            #expect(try await harness.count("model_versions") == 0)
        }
    }

    @Test("aliases are set, moved and deleted; they must point at a version", arguments: await Backend.all)
    func aliases(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("serving")
            let other = try await harness.makeTeam("other")
            let registry = harness.registry
            let artifact = try await harness.upload([9], team: team.id)
            _ = try await registry.createModel(
                team: team.id, name: "m", description: "", tags: [:], audit: Self.audit, at: Self.now)
            for _ in 0..<2 {
                _ = try await registry.createVersion(
                    team: team.id, model: "m", Self.newVersion(artifact), audit: Self.audit, at: Self.now)
            }

            try await harness.expectAudited("alias.set") {
                try await registry.setAlias(
                    team: team.id, model: "m", alias: "champion", version: 1, audit: Self.audit, at: Self.now)
            }
            try await registry.setAlias(
                team: team.id, model: "m", alias: "challenger", version: 2, audit: Self.audit, at: Self.now)
            #expect(try await registry.model(team: team.id, name: "m")?.aliases == ["champion": 1, "challenger": 2])

            try await harness.expectAudited("alias.set") {
                try await registry.setAlias(
                    team: team.id, model: "m", alias: "champion", version: 2, audit: Self.audit, at: Self.now)
            }
            #expect(try await registry.model(team: team.id, name: "m")?.aliases["champion"] == 2)
            let moved = try await harness.auditLog.events(team: team.id, after: nil, limit: 100).last
            #expect(moved?.detail == #"{"previous":"1","version":"2"}"#)

            await expectSlipwayError(.notFound, code: "version_not_found") {
                try await registry.setAlias(
                    team: team.id, model: "m", alias: "broken", version: 3, audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.badRequest, code: "invalid_name") {
                try await registry.setAlias(
                    team: team.id, model: "m", alias: "2", version: 2, audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.badRequest, code: "invalid_name") {
                try await registry.setAlias(
                    team: team.id, model: "m", alias: "Champ", version: 2, audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.notFound, code: "model_not_found") {
                try await registry.setAlias(
                    team: other.id, model: "m", alias: "mine", version: 1, audit: Self.audit, at: Self.now)
            }

            try await harness.expectAudited("alias.delete") {
                try await registry.deleteAlias(
                    team: team.id, model: "m", alias: "challenger", audit: Self.audit, at: Self.now)
            }
            #expect(try await registry.model(team: team.id, name: "m")?.aliases == ["champion": 2])
            await expectSlipwayError(.notFound, code: "alias_not_found") {
                try await registry.deleteAlias(
                    team: team.id, model: "m", alias: "challenger", audit: Self.audit, at: Self.now)
            }
            await expectSlipwayError(.notFound, code: "model_not_found") {
                try await registry.deleteAlias(
                    team: other.id, model: "m", alias: "champion", audit: Self.audit, at: Self.now)
            }
            #expect(try await harness.auditLog.verify().ok)
        }
    }

    @Test("tags are set, replaced and deleted on models and on versions", arguments: await Backend.all)
    func tags(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("tags")
            let registry = harness.registry
            let artifact = try await harness.upload([7, 7], team: team.id)
            _ = try await registry.createModel(
                team: team.id, name: "m", description: "", tags: ["a": "1"], audit: Self.audit, at: Self.now)
            _ = try await registry.createVersion(
                team: team.id, model: "m", Self.newVersion(artifact, tags: ["v": "x"]), audit: Self.audit, at: Self.now)

            func set(_ key: String, _ value: String?, version: Int? = nil) async throws {
                try await registry.setTag(
                    team: team.id, model: "m", version: version, key: key, value: value, audit: Self.audit, at: Self.now
                )
            }
            try await harness.expectAudited("tag.set") { try await set("b", "2") }
            try await set("a", "one")
            #expect(try await registry.model(team: team.id, name: "m")?.tags == ["a": "one", "b": "2"])
            try await harness.expectAudited("tag.delete") { try await set("a", nil) }
            #expect(try await registry.model(team: team.id, name: "m")?.tags == ["b": "2"])
            await expectSlipwayError(.notFound, code: "tag_not_found") { try await set("a", nil) }

            try await harness.expectAudited("tag.set") { try await set("v", "y", version: 1) }
            try await set("w", "z", version: 1)
            #expect(try await registry.version(team: team.id, model: "m", version: 1)?.tags == ["v": "y", "w": "z"])
            try await set("v", nil, version: 1)
            #expect(try await registry.version(team: team.id, model: "m", version: 1)?.tags == ["w": "z"])
            await expectSlipwayError(.notFound, code: "tag_not_found") { try await set("v", nil, version: 1) }
            await expectSlipwayError(.notFound, code: "version_not_found") { try await set("v", "1", version: 2) }
            await expectSlipwayError(.badRequest, code: "invalid_name") { try await set("Bad Key", "1") }
            await expectSlipwayError(.badRequest, code: "too_long") {
                try await set("big", String(repeating: "x", count: 1025))
            }
            // Model tags and version tags are separate.
            #expect(try await registry.model(team: team.id, name: "m")?.tags == ["b": "2"])
            #expect(try await harness.auditLog.verify().ok)
        }
    }
}
