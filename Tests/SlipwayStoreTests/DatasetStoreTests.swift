import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Dataset and job stores")
struct DatasetStoreTests {
    static let audit = StoreHarness.audit()
    static let now = StoreHarness.epoch

    static func newVersion(_ digest: String, contract: Int = 0, status: DatasetVersionStatus = .valid) -> NewDatasetVersion {
        let report = contract == 0 ? nil : ValidationReport(status: status, rules: [])
        return NewDatasetVersion(
            digest: digest, format: .csv, rowCount: 2, columns: ["a", "b"], contractVersion: contract,
            profile: DatasetProfile(rowCount: 2, columns: []), report: report, source: "upload")
    }

    @Test("datasets get contracts and numbered versions; a version needs the team's own upload", arguments: await Backend.all)
    func versions(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("data")
            let other = try await harness.makeTeam("other")
            let store = harness.datasets
            let dataset = try await harness.expectAudited("dataset.create") {
                try await store.createDataset(team: team.id, name: "customers", description: "", audit: Self.audit, at: Self.now)
            }
            await #expect(throws: SlipwayError.self) {
                try await store.createDataset(team: team.id, name: "customers", description: "", audit: Self.audit, at: Self.now)
            }
            let contract = DataContract(columns: [.init(name: "a", type: .integer)], freshness: "1h")
            let stored = try await harness.expectAudited("contract.create") {
                try await store.putContract(
                    team: team.id, dataset: "customers", contract: contract, document: "columns: [...]", audit: Self.audit,
                    at: Self.now)
            }
            #expect(stored.version == 1)
            #expect(try await store.contract(dataset: dataset.id, version: 1)?.contract == contract)

            let record = try await harness.upload(Array("a,b\n1,2\n3,4\n".utf8), team: team.id)
            let otherRecord = try await harness.upload(Array("a,b\n9,9\n".utf8), team: other.id)
            await #expect(throws: SlipwayError.self) {
                try await store.addVersion(
                    team: team.id, dataset: "customers", Self.newVersion(otherRecord.digest, contract: 1), audit: Self.audit,
                    at: Self.now)
            }
            // Validated against an older contract than the newest: refused, so no version skips the check.
            await #expect(throws: SlipwayError.self) {
                try await store.addVersion(
                    team: team.id, dataset: "customers", Self.newVersion(record.digest, contract: 0), audit: Self.audit,
                    at: Self.now)
            }
            let version = try await harness.expectAudited("dataset.version.create") {
                try await store.addVersion(
                    team: team.id, dataset: "customers", Self.newVersion(record.digest, contract: 1, status: .warning),
                    audit: Self.audit, at: Self.now)
            }
            #expect(version.version == 1 && version.status == .warning && version.size == record.size)
            let detail = try #require(try await store.version(dataset: dataset.id, version: 1))
            #expect(detail.version == version)
            #expect(detail.report?.status == .warning)
            #expect(try await store.versions(dataset: dataset.id).map(\.version) == [1])
            let reloaded = try #require(try await store.dataset(team: team.id, name: "customers"))
            #expect(reloaded.latestVersion == 1 && reloaded.contractVersion == 1 && reloaded.lastVersionAt == Self.now)
            #expect(try await store.dataset(team: other.id, name: "customers") == nil)
        }
    }

    @Test("grants: another team sees a dataset only once granted; revoke removes it", arguments: await Backend.all)
    func grants(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let owner = try await harness.makeTeam("owner")
            let reader = try await harness.makeTeam("reader")
            let store = harness.datasets
            let dataset = try await store.createDataset(
                team: owner.id, name: "events", description: "", audit: Self.audit, at: Self.now)
            #expect(try await store.sharedDatasets(grantee: reader.id).isEmpty)
            _ = try await harness.expectAudited("dataset.grant") {
                try await store.grant(team: owner.id, dataset: "events", grantee: reader.id, pii: false, audit: Self.audit, at: Self.now)
            }
            #expect(try await store.grant(dataset: dataset.id, grantee: reader.id)?.pii == false)
            _ = try await store.grant(team: owner.id, dataset: "events", grantee: reader.id, pii: true, audit: Self.audit, at: Self.now)
            #expect(try await store.grants(dataset: dataset.id).map(\.pii) == [true])
            #expect(try await store.sharedDatasets(grantee: reader.id).map(\.0.name) == ["events"])
            await #expect(throws: SlipwayError.self) {
                try await store.grant(team: owner.id, dataset: "events", grantee: owner.id, pii: false, audit: Self.audit, at: Self.now)
            }
            // The reader cannot grant what it does not own.
            await #expect(throws: SlipwayError.self) {
                try await store.grant(team: reader.id, dataset: "events", grantee: owner.id, pii: true, audit: Self.audit, at: Self.now)
            }
            _ = try await harness.expectAudited("dataset.read") {
                try await store.recordRead(
                    dataset: dataset, version: 1, reader: reader.id, piiUnmasked: true, purpose: "download",
                    audit: Self.audit, at: Self.now)
            }
            try await store.revoke(team: owner.id, dataset: "events", grantee: reader.id, audit: Self.audit, at: Self.now)
            #expect(try await store.grant(dataset: dataset.id, grantee: reader.id) == nil)
        }
    }

    @Test("freshness: a dataset past its SLA without a new version is marked stale once; a new version clears it", arguments: await Backend.all)
    func staleness(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("data")
            let store = harness.datasets
            _ = try await store.createDataset(team: team.id, name: "hourly", description: "", audit: Self.audit, at: Self.now)
            _ = try await store.createDataset(team: team.id, name: "nocontract", description: "", audit: Self.audit, at: Self.now)
            _ = try await store.putContract(
                team: team.id, dataset: "hourly", contract: DataContract(columns: [.init(name: "a")], freshness: "1h"),
                document: "", audit: Self.audit, at: Self.now)
            #expect(try await store.markStale(at: Self.now.addingTimeInterval(3500)).isEmpty)
            let marked = try await store.markStale(at: Self.now.addingTimeInterval(3700))
            #expect(marked.map(\.name) == ["hourly"])
            #expect(try await store.markStale(at: Self.now.addingTimeInterval(3800)).isEmpty)
            #expect(try await store.dataset(team: team.id, name: "hourly")?.stale == true)
            let record = try await harness.upload(Array("a\n1\n".utf8), team: team.id)
            _ = try await store.addVersion(
                team: team.id, dataset: "hourly", Self.newVersion(record.digest, contract: 1), audit: Self.audit,
                at: Self.now.addingTimeInterval(3900))
            #expect(try await store.dataset(team: team.id, name: "hourly")?.stale == false)
        }
    }

    static let spec = TrainingSpec(model: "churn", dataset: "customers", label: "y", task: .binary, algorithm: .gbdt)

    @Test("jobs: claimed oldest first with a lease, heartbeats carry progress and cancel requests, finish is final", arguments: await Backend.all)
    func jobLifecycle(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = harness.jobs
            let first = try await harness.expectAudited("job.create") {
                try await store.enqueue(
                    team: team.id, spec: Self.spec, specDigest: "sha256:x", maxAttempts: 2, schedule: nil,
                    audit: Self.audit, at: Self.now)
            }
            let second = try await store.enqueue(
                team: team.id, spec: Self.spec, specDigest: "sha256:x", maxAttempts: 2, schedule: nil, audit: Self.audit,
                at: Self.now.addingTimeInterval(1))
            let claimed = try #require(try await store.claimNext(leaseUntil: Self.now.addingTimeInterval(30), at: Self.now))
            #expect(claimed.id == first.id && claimed.status == .running && claimed.attempts == 1)
            let progress = JobProgress(percent: 50, iteration: 5, maxIterations: 10, etaSeconds: 3, metrics: ["loss": 0.5])
            #expect(try await store.heartbeat(id: first.id, attempt: 1, progress: progress, leaseUntil: Self.now.addingTimeInterval(60)) == false)
            #expect(try await store.job(team: team.id, id: first.id)?.progress == progress)
            _ = try await store.requestCancel(team: team.id, id: first.id, audit: Self.audit, at: Self.now)
            #expect(try await store.heartbeat(id: first.id, attempt: 1, progress: progress, leaseUntil: Self.now.addingTimeInterval(60)) == true)
            try await store.finish(id: first.id, attempt: 1, status: .cancelled, result: nil, error: nil, at: Self.now)
            #expect(try await store.job(team: team.id, id: first.id)?.status == .cancelled)
            await #expect(throws: SlipwayError.self) {
                try await store.requestCancel(team: team.id, id: first.id, audit: Self.audit, at: Self.now)
            }
            // A queued job is cancelled at once.
            let cancelled = try await store.requestCancel(team: team.id, id: second.id, audit: Self.audit, at: Self.now)
            #expect(cancelled.status == .cancelled)
            #expect(try await store.claimNext(leaseUntil: Self.now, at: Self.now) == nil)

            try await store.appendLog(id: first.id, ["one", "two"], at: Self.now)
            try await store.appendLog(id: first.id, ["three"], at: Self.now)
            #expect(try await store.logs(id: first.id, after: 1, limit: 10).map(\.message) == ["two", "three"])
            #expect(try await store.logs(id: first.id, after: 0, limit: 10).map(\.sequence) == [1, 2, 3])
            let other = try await harness.makeTeam("other")
            #expect(try await store.job(team: other.id, id: first.id) == nil)
            #expect(try await store.jobs(team: team.id, status: nil, limit: 10).count == 2)
        }
    }

    @Test("a running job whose lease expired is queued again, then failed after its last attempt", arguments: await Backend.all)
    func recovery(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = harness.jobs
            let job = try await store.enqueue(
                team: team.id, spec: Self.spec, specDigest: "sha256:x", maxAttempts: 2, schedule: nil, audit: Self.audit,
                at: Self.now)
            _ = try await store.claimNext(leaseUntil: Self.now.addingTimeInterval(30), at: Self.now)
            #expect(try await store.recoverExpired(at: Self.now.addingTimeInterval(10)).isEmpty)
            let requeued = try await store.recoverExpired(at: Self.now.addingTimeInterval(31))
            #expect(requeued.map(\.status) == [.queued])
            let again = try #require(try await store.claimNext(leaseUntil: Self.now.addingTimeInterval(60), at: Self.now))
            #expect(again.id == job.id && again.attempts == 2)
            // The first attempt's worker, back after its lease ran out, no longer holds the job.
            #expect(try await store.heartbeat(id: job.id, attempt: 1, progress: JobProgress(), leaseUntil: Self.now.addingTimeInterval(90)))
            try await store.finish(id: job.id, attempt: 1, status: .succeeded, result: nil, error: nil, at: Self.now)
            #expect(try await store.job(team: team.id, id: job.id)?.status == .running)
            let failed = try await store.recoverExpired(at: Self.now.addingTimeInterval(61))
            #expect(failed.map(\.status) == [.failed])
            let final = try #require(try await store.job(team: team.id, id: job.id))
            #expect(final.status == .failed && final.error?.contains("last allowed attempt") == true)
            #expect(try await store.logs(id: job.id, after: 0, limit: 10).count == 2)
        }
    }

    @Test("schedules: cron schedules come due; on-new-version schedules are found by dataset", arguments: await Backend.all)
    func schedules(_ backend: Backend) async throws {
        try await StoreHarness.with(backend) { harness in
            let team = try await harness.makeTeam("ml")
            let store = harness.jobs
            let hourly = try await store.putSchedule(
                team: team.id, name: "hourly", spec: Self.spec, cron: "0 * * * *", onNewVersion: false,
                nextRunAt: Self.now.addingTimeInterval(60), audit: Self.audit, at: Self.now)
            _ = try await store.putSchedule(
                team: team.id, name: "on-data", spec: Self.spec, cron: nil, onNewVersion: true, nextRunAt: nil,
                audit: Self.audit, at: Self.now)
            await #expect(throws: SlipwayError.self) {
                try await store.putSchedule(
                    team: team.id, name: "never", spec: Self.spec, cron: nil, onNewVersion: false, nextRunAt: nil,
                    audit: Self.audit, at: Self.now)
            }
            #expect(try await store.dueSchedules(at: Self.now).isEmpty)
            #expect(try await store.dueSchedules(at: Self.now.addingTimeInterval(61)).map(\.name) == ["hourly"])
            let due = Self.now.addingTimeInterval(60)
            #expect(try await store.markScheduleRun(id: hourly.id, due: due, at: Self.now, nextRunAt: due.addingTimeInterval(3600)))
            // A second replica marking the same cron time loses: one job per run.
            #expect(!(try await store.markScheduleRun(id: hourly.id, due: due, at: Self.now, nextRunAt: due.addingTimeInterval(3600))))
            #expect(try await store.dueSchedules(at: Self.now.addingTimeInterval(61)).isEmpty)
            #expect(try await store.schedules(team: team.id, onNewVersionOf: "customers").map(\.name) == ["on-data"])
            #expect(try await store.schedules(team: team.id, onNewVersionOf: "other").isEmpty)
            try await store.deleteSchedule(team: team.id, name: "on-data", audit: Self.audit, at: Self.now)
            #expect(try await store.schedules(team: team.id).map(\.name) == ["hourly"])
        }
    }
}
