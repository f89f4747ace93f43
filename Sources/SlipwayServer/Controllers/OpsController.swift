import Foundation
import Hummingbird
import NIOCore
import Prometheus
import SQLKit
import SlipwayStore

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
struct OpsController {
    let database: SlipwayDatabase
    let metrics: PrometheusCollectorRegistry
    /// More exposition text appended to `/metrics` (serving histograms and usage).
    var extraMetrics: @Sendable () -> String = { "" }

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/healthz") { _, _ in try Response.json(["status": "ok"]) }
        router.get("/readyz") { _, context in
            do {
                _ = try await database.read { db in try await db.raw("SELECT 1 AS ok").first() }
                return try Response.json(["status": "ready"])
            } catch {
                context.logger.warning("readiness check failed", metadata: ["error": "\(error)"])
                return try Response.json(["status": "database unreachable"], status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { _, _ in
            var bytes = metrics.emitToBuffer()
            bytes += Array(extraMetrics().utf8)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let document = OpenAPIDocument.build()
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: document)))
        }
    }
}
