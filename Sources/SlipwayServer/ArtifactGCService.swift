import Foundation
import Logging
import ServiceLifecycle
import SlipwayStore

/// Runs artifact garbage collection at start and then periodically, until graceful shutdown.
struct ArtifactGCService: Service {
    let artifacts: ArtifactStore
    let interval: Duration
    let unreferencedRetention: TimeInterval
    let logger: Logger

    func run() async throws {
        // Sleeping must end on graceful shutdown, not only on cancellation.
        try? await cancelWhenGracefulShutdown { await self.loop() }
    }

    func loop() async {
        repeat {
            do {
                let report = try await artifacts.collectGarbage(now: Date(), unreferencedAge: unreferencedRetention)
                if report != ArtifactGCReport() {
                    logger.info(
                        "artifact garbage collected",
                        metadata: [
                            "temp_files": "\(report.staleTempFiles)", "orphans": "\(report.orphanBlobs)",
                            "unreferenced": "\(report.unreferencedArtifacts)",
                        ])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("artifact garbage collection failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        } while !Task.isCancelled
    }
}
