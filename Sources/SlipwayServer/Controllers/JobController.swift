import Foundation
import Hummingbird
import SlipwayCore
import SlipwayStore

/// Training jobs and retraining schedules of the team in the path.
struct JobController {
    let jobs: any JobStore
    let datasets: any DatasetStore
    let now: @Sendable () -> Date
    let maxJSONBytes: Int

    struct ScheduleIn: Decodable {
        let spec: TrainingSpec
        var cron: String?
        var onNewVersion: Bool?

        enum CodingKeys: String, CodingKey {
            case spec, cron
            case onNewVersion = "on_new_version"
        }
    }

    func register(on router: Router<SlipwayRequestContext>) {
        let base = "/api/v1/teams/{team}/jobs"
        router.post(RouterPath(base)) { request, context in
            let team = try context.requireTeam()
            let document = try await DatasetController.text(request, limit: maxJSONBytes)
            var spec = try DatasetController.decodeYAML(TrainingSpec.self, document, what: "spec", knownKeys: .spec)
            try spec.validate()
            spec.datasetVersion = try await usableVersion(team: team.id, spec: spec)
            let job = try await jobs.enqueue(
                team: team.id, spec: spec, specDigest: try SpecDigest.of(spec), maxAttempts: JobDefaults.maxAttempts,
                schedule: nil, audit: try context.audit(), at: now())
            return try Response.json(DTO.JobOut(job, teamName: team.name), status: .created)
        }
        router.get(RouterPath(base)) { request, context in
            let team = try context.requireTeam()
            let status = try request.uri.queryParameters.get("status").map { text in
                guard let status = JobStatus(rawValue: String(text)) else {
                    throw SlipwayError.badRequest(
                        "status must be one of " + JobStatus.allCases.map(\.rawValue).joined(separator: ", "),
                        code: "invalid_query")
                }
                return status
            }
            let limit = try request.integerQuery("limit") ?? 50
            guard (1...200).contains(limit) else {
                throw SlipwayError.badRequest("limit must be between 1 and 200", code: "invalid_limit")
            }
            let found = try await jobs.jobs(team: team.id, status: status, limit: limit)
            return try Response.json(ListResponse(items: found.map { DTO.JobOut($0, teamName: team.name) }))
        }
        router.get(RouterPath(base + "/{job}")) { _, context in
            let team = try context.requireTeam()
            return try Response.json(DTO.JobOut(try await requireJob(context), teamName: team.name))
        }
        router.get(RouterPath(base + "/{job}/logs")) { request, context in
            let job = try await requireJob(context)
            let after = try request.integerQuery("after") ?? 0
            let limit = try request.integerQuery("limit") ?? 500
            guard after >= 0, (1...5000).contains(limit) else {
                throw SlipwayError.badRequest("after must be ≥ 0 and limit 1-5000", code: "invalid_query")
            }
            let lines = try await jobs.logs(id: job.id, after: after, limit: limit)
            return try Response.json(DTO.JobLogOut(lines: lines, status: job.status.rawValue, progress: job.progress))
        }
        router.post(RouterPath(base + "/{job}/cancel")) { _, context in
            let team = try context.requireTeam()
            let job = try await requireJob(context)
            let cancelled = try await jobs.requestCancel(team: team.id, id: job.id, audit: try context.audit(), at: now())
            return try Response.json(DTO.JobOut(cancelled, teamName: team.name))
        }

        let schedules = "/api/v1/teams/{team}/schedules"
        router.get(RouterPath(schedules)) { _, context in
            let team = try context.requireTeam()
            return try Response.json(ListResponse(items: try await jobs.schedules(team: team.id).map(DTO.ScheduleOut.init)))
        }
        router.put(RouterPath(schedules + "/{schedule}")) { request, context in
            let team = try context.requireTeam()
            let name = try context.parameter("schedule")
            let document = try await DatasetController.text(request, limit: maxJSONBytes)
            let body = try DatasetController.decodeYAML(ScheduleIn.self, document, what: "schedule", knownKeys: .schedule)
            var spec = body.spec
            spec.datasetVersion = nil
            try spec.validate()
            guard try await datasets.dataset(team: team.id, name: spec.dataset) != nil else {
                throw SQLDatasetStore.notFound(spec.dataset)
            }
            let next = try body.cron.map { text in
                guard let next = try CronExpression(text).next(after: now()) else {
                    throw SlipwayError.badRequest("cron '\(text)' never fires", code: "invalid_cron")
                }
                return next
            }
            let schedule = try await jobs.putSchedule(
                team: team.id, name: name, spec: spec, cron: body.cron, onNewVersion: body.onNewVersion ?? false,
                nextRunAt: next, audit: try context.audit(), at: now())
            return try Response.json(DTO.ScheduleOut(schedule))
        }
        router.delete(RouterPath(schedules + "/{schedule}")) { _, context in
            let team = try context.requireTeam()
            try await jobs.deleteSchedule(
                team: team.id, name: try context.parameter("schedule"), audit: try context.audit(), at: now())
            return Response.noContent
        }
    }

    func requireJob(_ context: SlipwayRequestContext) async throws -> Job {
        let team = try context.requireTeam()
        let id = try JobID(validating: context.parameters.get("job") ?? "")
        guard let job = try await jobs.job(team: team.id, id: id) else { throw SQLJobStore.notFound(id) }
        return job
    }

    /// Pins the spec to a dataset version that may be trained on, refusing one that broke its contract
    /// with a report of the failed rules and rows.
    func usableVersion(team: TeamID, spec: TrainingSpec) async throws -> Int {
        guard let dataset = try await datasets.dataset(team: team, name: spec.dataset) else {
            throw SQLDatasetStore.notFound(spec.dataset)
        }
        if let pinned = spec.datasetVersion {
            guard let detail = try await datasets.version(dataset: dataset.id, version: pinned) else {
                throw SlipwayError.notFound(
                    "dataset '\(dataset.name)' has no version \(pinned)", code: "version_not_found")
            }
            try TrainingGate.check(detail, dataset: dataset.name)
            return pinned
        }
        guard dataset.latestVersion > 0,
            let latest = try await datasets.version(dataset: dataset.id, version: dataset.latestVersion)
        else {
            throw SlipwayError.unprocessable(
                "dataset '\(dataset.name)' has no versions yet; push data first", code: "no_versions")
        }
        try TrainingGate.check(latest, dataset: dataset.name)
        return latest.version.version
    }
}
