import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus

/// Assigns the request ID, logs one structured line per request and records metrics through
/// swift-metrics, into the platform's Prometheus registry.
struct RequestLoggingMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let metrics: any MetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["slipway_http_request_duration_seconds"] = Self.buckets
        self.metrics = factory
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID = request.headers[.init("X-Request-Id")!].flatMap(Self.acceptedRequestID) ?? Self.newRequestID()
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        let start = ContinuousClock.now
        var response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        response.headers[.init("X-Request-Id")!] = requestID
        let route = context.endpointPath ?? "NotFound"
        let status = String(response.status.code)
        Counter(
            label: "slipway_http_requests_total",
            dimensions: [("method", request.method.rawValue), ("route", route), ("status", status)], factory: metrics
        ).increment()
        Metrics.Timer(
            label: "slipway_http_request_duration_seconds", dimensions: [("route", route)],
            preferredDisplayUnit: .seconds, factory: metrics
        ).recordNanoseconds(elapsed.nanoseconds)
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .string(status), "duration_ms": .string(String(format: "%.3f", elapsed.milliseconds)),
                "principal": .string(context.shared.principal ?? "-"),
            ])
        return response
    }

    static let buckets: [Duration] = [
        .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
        .milliseconds(500), .seconds(1), .seconds(5),
    ]

    /// Client IDs are accepted only if short and plain, so they are safe to log and echo.
    static func acceptedRequestID(_ text: String) -> String? {
        guard (1...128).contains(text.utf8.count),
            text.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else { return nil }
        return text
    }

    static func newRequestID() -> String {
        "req_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    var milliseconds: Double { Double(nanoseconds) / 1_000_000 }
}
