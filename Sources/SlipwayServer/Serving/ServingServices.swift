import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayServing
import SlipwayStore

/// Keeps the live deployments in step with the database: loads them all at start, then polls for
/// changes made by other replicas (or lost while a load failed) every `interval`.
struct DeploymentSyncService: Service {
    let store: any DeploymentStore
    let serving: ServingRegistry
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await synchronize()
        for await _ in ticks(every: interval).cancelOnGracefulShutdown() {
            await synchronize()
        }
    }

    func synchronize() async {
        do {
            await serving.synchronize(with: try await store.allDeployments())
        } catch {
            logger.error("could not read deployments", metadata: ["error": "\(error)"])
        }
    }
}

/// Persists usage counters and sampled predictions every `interval` (and once more at shutdown, so an
/// orderly stop loses nothing), refreshes each team's rows this month for quotas, and prunes the
/// prediction log to its retention.
struct MeteringService: Service {
    let store: any DeploymentStore
    let service: PredictionService
    let interval: Duration
    let logRetention: (keepPerDeployment: Int, maxAge: TimeInterval)
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        for await _ in ticks(every: interval).cancelOnGracefulShutdown() {
            await flush()
            if ContinuousClock.now - lastPrune > .seconds(3600) {
                lastPrune = .now
                await prune()
            }
        }
        await flush()
    }

    /// Writes pending usage (restoring it on failure) and the prediction log buffer.
    func flush() async {
        let records = service.usage.drain()
        if !records.isEmpty {
            do {
                try await store.addUsage(records)
            } catch {
                service.usage.restore(records)
                logger.error("could not persist usage; will retry", metadata: ["error": "\(error)"])
            }
        }
        let entries = service.logBuffer.drain()
        if !entries.isEmpty {
            do {
                try await store.appendPredictionLog(entries)
            } catch {
                logger.warning("dropped \(entries.count) prediction log entries", metadata: ["error": "\(error)"])
            }
        }
        if service.quota.monthlyRows != nil {
            let today = UsageRecord.day(of: now())
            do {
                let month = try await store.usage(team: nil, from: String(today.prefix(7)) + "-01", to: today)
                var totals: [TeamID: Int64] = [:]
                for record in month { totals[record.team, default: 0] += record.rows }
                service.monthRows.withLock { $0 = totals }
            } catch {
                logger.warning("could not read this month's usage", metadata: ["error": "\(error)"])
            }
        }
    }

    func prune() async {
        do {
            let removed = try await store.prunePredictionLog(
                keepPerDeployment: logRetention.keepPerDeployment,
                before: now().addingTimeInterval(-logRetention.maxAge))
            if removed > 0 { logger.info("pruned prediction log", metadata: ["entries": "\(removed)"]) }
        } catch {
            logger.warning("could not prune the prediction log", metadata: ["error": "\(error)"])
        }
    }
}

/// A tick every `interval` until the consumer stops listening.
func ticks(every interval: Duration) -> AsyncStream<Void> {
    AsyncStream<Void> { continuation in
        let task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}
