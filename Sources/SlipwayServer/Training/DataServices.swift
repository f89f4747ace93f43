import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayStore

/// Marks datasets stale when their contract's freshness SLA passes without a new version.
struct FreshnessService: Service {
    let datasets: any DatasetStore
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    func run() async throws {
        repeat {
            do {
                for dataset in try await datasets.markStale(at: now()) {
                    logger.warning(
                        "dataset is stale: no new version within its freshness SLA",
                        metadata: ["dataset": "\(dataset.name)", "team": "\(dataset.team)"])
                }
            } catch {
                logger.error("freshness check failed", metadata: ["error": "\(error)"])
            }
        } while await TrainingService.sleep(interval)
    }
}

/// Queues the jobs of cron schedules that have come due.
struct ScheduleService: Service {
    let jobs: any JobStore
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    func run() async throws {
        repeat { await tick() } while await TrainingService.sleep(interval)
    }

    func tick() async {
        do {
            let time = now()
            for schedule in try await jobs.dueSchedules(at: time) {
                let next = try schedule.cron.flatMap { try CronExpression($0).next(after: time) }
                // Mark first, conditionally: one replica wins each cron time, and a failed enqueue skips the
                // run rather than repeating it in a loop.
                guard try await jobs.markScheduleRun(id: schedule.id, due: schedule.nextRunAt, at: time, nextRunAt: next)
                else { continue }
                var spec = schedule.spec
                spec.datasetVersion = nil
                let job = try await jobs.enqueue(
                    team: schedule.team, spec: spec, specDigest: try SpecDigest.of(spec),
                    maxAttempts: JobDefaults.maxAttempts, schedule: schedule.id,
                    audit: .system("schedule:\(schedule.name)"), at: time)
                logger.info("queued scheduled training", metadata: ["schedule": "\(schedule.name)", "job": "\(job.id)"])
            }
        } catch {
            logger.error("schedule check failed", metadata: ["error": "\(error)"])
        }
    }
}
