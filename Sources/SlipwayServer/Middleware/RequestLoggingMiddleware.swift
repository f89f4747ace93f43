import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Prometheus
import Synchronization

/// Assigns the request ID, logs one structured line per request and records metrics through
/// swift-metrics, into the platform's Prometheus registry.
///
/// Successful prediction and health-check requests log at `debug`: at tens of thousands of requests a
/// second an access line each costs more than the prediction (predictions are counted in `/metrics`, the
/// deployment stats and the sampled prediction log), and probes every few seconds are noise. Failures and
/// every other route log at `info`.
struct RequestLoggingMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let instrumentation: RequestInstrumentation

    static let requestIDHeader = HTTPField.Name("X-Request-Id")!

    static func isQuiet(_ route: String) -> Bool {
        route.hasPrefix("/v2/models/") || route.hasPrefix("/v1/models/") || route.hasPrefix("/mlflow/")
            || route == "/healthz" || route == "/readyz" || route.hasPrefix("/v2/health/")
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID = instrumentation.requestID(client: request.headers[Self.requestIDHeader])
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        let start = ContinuousClock.now
        var response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        response.headers[Self.requestIDHeader] = requestID
        let route = context.endpointPath ?? "NotFound"
        instrumentation.record(method: request.method.rawValue, route: route, status: response.status.code, elapsed: elapsed)
        let level: Logger.Level = response.status.code < 400 && Self.isQuiet(route) ? .debug : .info
        guard context.logger.logLevel <= level else { return response }
        context.logger.log(
            level: level, "request",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .stringConvertible(response.status.code), "duration_ms": .string(String(format: "%.3f", elapsed.milliseconds)),
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
}

/// Request IDs and per-route request metrics, shared by the router's middleware and the inference fast
/// path so both count the same series and hand out IDs from one sequence.
final class RequestInstrumentation: Sendable {
    let metrics: any MetricsFactory
    /// Counters and timers by method, route and status: the factory's lookups allocate on every call.
    private let instruments = Mutex<[InstrumentKey: (Metrics.Counter, Metrics.Timer)]>([:])
    /// Request IDs are a per-process random prefix and a sequence number: unique without a UUID each.
    private let sequence = Atomic<UInt64>(0)
    private let idPrefix = "req_" + String(UInt64.random(in: 0..<UInt64.max) >> 16, radix: 16) + "-"
    /// `slipway_inference_fast_path_total`: requests the inference fast path answered (they are also in
    /// `slipway_http_requests_total`).
    let fastPathAnswered: Metrics.Counter

    init(registry: PrometheusCollectorRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["slipway_http_request_duration_seconds"] = RequestLoggingMiddleware.buckets
        self.metrics = factory
        self.fastPathAnswered = Metrics.Counter(label: "slipway_inference_fast_path_total", factory: factory)
    }

    /// The client's `X-Request-Id` if it is short and plain, else a new ID.
    func requestID(client: String?) -> String {
        client.flatMap(RequestLoggingMiddleware.acceptedRequestID)
            ?? idPrefix + String(sequence.wrappingAdd(1, ordering: .relaxed).newValue, radix: 16)
    }

    /// Counts a request in `slipway_http_requests_total` and its duration in `slipway_http_request_duration_seconds`.
    func record(method: String, route: String, status: Int, elapsed: Duration) {
        let (counter, timer) = instruments(method: method, route: route, status: status)
        counter.increment()
        timer.recordNanoseconds(elapsed.nanoseconds)
    }

    private func instruments(method: String, route: String, status: Int) -> (Metrics.Counter, Metrics.Timer) {
        let key = InstrumentKey(method: method, route: route, status: status)
        if let found = instruments.withLock({ $0[key] }) { return found }
        let made = (
            Metrics.Counter(
                label: "slipway_http_requests_total",
                dimensions: [("method", method), ("route", route), ("status", String(status))], factory: metrics),
            Metrics.Timer(
                label: "slipway_http_request_duration_seconds", dimensions: [("route", route)],
                preferredDisplayUnit: .seconds, factory: metrics)
        )
        instruments.withLock { $0[key] = made }
        return made
    }
}

/// Hashed without building a string per request.
struct InstrumentKey: Hashable {
    var method: String
    var route: String
    var status: Int
}


extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    var milliseconds: Double { Double(nanoseconds) / 1_000_000 }
}
