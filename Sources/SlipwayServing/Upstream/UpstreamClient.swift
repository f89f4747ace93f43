import AsyncHTTPClient
import Logging
import NIOCore
import SlipwayCore
import SlipwayRuntime

/// Runs predictions on an external Open Inference Protocol v2 server (Seldon MLServer, Triton, KServe) with
/// per-attempt timeouts, bounded retries and a circuit breaker.
///
/// A call sends `POST {baseURL}/v2/models/{model}[/versions/{version}]/infer` with one FP32 input tensor of
/// shape `[count, features]` and returns the response's output tensors. What happens on failure:
///
/// | Upstream answer | Retried | Breaker | Error |
/// | --- | --- | --- | --- |
/// | connect error, reset, 502, 503 | yes | failure | `upstream_unavailable` (503) |
/// | per-attempt timeout, 408, 504 | yes | failure | `upstream_timeout` (503) |
/// | 500, other 5xx, 429 | no | failure | `upstream_unavailable` (503) |
/// | 401, 403, 404, 405 | no | failure | `upstream_misconfigured` (503): Slipway's settings are wrong, not the input |
/// | other 4xx | no | — | `upstream_rejected` (400) quoting the upstream's message |
/// | 2xx not matching the protocol, or too large | no | failure | `upstream_invalid_response` (503) |
/// | breaker open | — | — | `upstream_circuit_open` (503) without contacting the upstream |
///
/// Retries stop early when the next attempt could not start before the caller's deadline, and each attempt
/// is cut at the deadline. Every 503-class error carries `retryAfter` and names the upstream by host, never
/// its token, so a caller can fail over to a local model on `kind == .unavailable` and pass `.badRequest`
/// back to its client.
///
/// The client holds no connections itself: it uses the `HTTPClient` it is given, whose pool keeps
/// connections to the upstream alive between calls. Pass one client to every `UpstreamClient`; see
/// ``recommendedHTTPClientConfiguration`` for settings that fail fast when the upstream is down.
///
/// ```swift
/// let configuration = try UpstreamConfiguration(baseURL: "http://mlserver.fraud.svc:8080", model: "fraud-xgb")
/// let upstream = UpstreamClient(
///     configuration: configuration, httpClient: httpClient,
///     breaker: CircuitBreaker(name: configuration.upstreamName, configuration: try .init()))
/// do {
///     let outputs = try await upstream.infer(rows: input, count: 2, features: 3, deadline: .now + .seconds(2))
/// } catch let error as SlipwayError where error.kind == .unavailable {
///     // fall back to a local version
/// }
/// ```
public final class UpstreamClient: Sendable {
    /// Where the upstream is and how to call it.
    public let configuration: UpstreamConfiguration
    /// The breaker guarding the upstream; read its ``CircuitBreaker/statistics(now:)`` for metrics.
    public let breaker: CircuitBreaker
    private let httpClient: HTTPClient
    private let logger: Logger
    private let jitter: @Sendable () -> Double
    private let inferURL: String

    /// Settings for the `HTTPClient` given to upstream clients: a failed connect fails the attempt at once
    /// (instead of being retried by the pool until the attempt's timeout), redirects are not followed, and
    /// idle connections are kept for a minute.
    public static var recommendedHTTPClientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(2)),
            connectionPool: .init(idleTimeout: .seconds(60)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// - Parameters:
    ///   - configuration: the upstream and its limits.
    ///   - httpClient: the pooled client for all outgoing calls; one per process, shut down by its owner.
    ///   - breaker: the circuit breaker for this upstream; share one between clients of the same upstream.
    ///   - logger: where failed attempts and breaker changes are logged (never the token).
    ///   - jitter: a random number in `0...1` per retry; inject a constant in tests.
    public init(
        configuration: UpstreamConfiguration, httpClient: HTTPClient = .shared, breaker: CircuitBreaker,
        logger: Logger = Logger(label: "slipway.upstream"),
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.breaker = breaker
        self.logger = logger
        self.jitter = jitter
        self.inferURL = configuration.inferURL
    }

    /// Predicts a batch on the upstream model.
    ///
    /// - Parameters:
    ///   - rows: `count × features` floats, row-major; every value must be finite (JSON has no NaN).
    ///   - count: the number of rows.
    ///   - features: the number of columns, at least 1.
    ///   - deadline: when to give up; no attempt or retry runs past it.
    /// - Returns: the upstream's output tensors, in its order.
    /// - Throws: ``SlipwayError``: `invalid_input` (400) for a malformed batch, without contacting the upstream;
    ///   otherwise see the table in the type's documentation. `CancellationError` when the task is cancelled.
    public func infer(
        rows: [Float], count: Int, features: Int, deadline: ContinuousClock.Instant
    ) async throws -> [PredictionOutput] {
        try validate(rows: rows, count: count, features: features)
        var request = HTTPClientRequest(url: inferURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let token = configuration.bearerToken {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        // Bytes can be sent again, so every retry reuses the one encoded body.
        request.body = .bytes(
            OpenInferenceJSON.encodeRequest(
                inputName: configuration.inputName, rows: rows, count: count, features: features))

        var lastError: SlipwayError?
        for attempt in 0...configuration.maxRetries {
            let start = ContinuousClock.now
            guard start < deadline else { throw lastError ?? deadlinePassed() }
            let permit: CircuitBreaker.Permit
            do {
                permit = try breaker.acquire(now: start)
            } catch {
                // Mid-retry, the failure that opened the breaker says more than the breaker does.
                throw lastError ?? error
            }
            let outcome: Outcome
            do {
                outcome = try await self.attempt(request, until: min(start + configuration.timeout, deadline))
            } catch {
                breaker.record(.ignored, for: permit, now: .now)
                throw error
            }
            switch outcome {
            case .success(let outputs):
                if let changed = breaker.record(.success, for: permit, now: .now) { log(changed) }
                return outputs
            case .rejected(let error):
                breaker.record(.ignored, for: permit, now: .now)
                throw error
            case .failed(let error, let retryable, let detail):
                if let changed = breaker.record(.failure, for: permit, now: .now) { log(changed) }
                logger.warning(
                    "upstream attempt failed",
                    metadata: [
                        "upstream": "\(configuration.upstreamName)", "model": "\(configuration.model)",
                        "attempt": "\(attempt + 1)", "error.code": "\(error.code)", "error.detail": "\(detail)",
                    ])
                guard retryable, attempt < configuration.maxRetries else { throw error }
                lastError = error
                let pause = backoff(retry: attempt)
                // A retry that could not start before the deadline would only delay the error.
                guard ContinuousClock.now + pause < deadline else { throw error }
                try await Task.sleep(for: pause)
            }
        }
        throw lastError ?? deadlinePassed()  // unreachable: the last attempt returns or throws
    }

    // MARK: One attempt

    private enum Outcome {
        case success([PredictionOutput])
        /// The caller's fault; the upstream is healthy.
        case rejected(SlipwayError)
        /// The upstream's fault; `detail` is for the log only.
        case failed(SlipwayError, retryable: Bool, detail: String)
    }

    /// Sends one request and reads the whole response, within `deadline`. Throws only `CancellationError`.
    private func attempt(_ request: HTTPClientRequest, until deadline: ContinuousClock.Instant) async throws -> Outcome
    {
        let start = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            // Until the response head, the HTTP client's own deadline applies. When it passes while the request
            // still waits for a connection, the client reports why connecting failed (e.g. refused), which
            // tells a down upstream from a slow one.
            let remaining = max(.zero, deadline - start)
            response = try await httpClient.execute(
                request, deadline: .now() + .nanoseconds(remaining.nanoseconds), logger: nil)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            return classify(error, elapsed: ContinuousClock.now - start)
        }
        let status = Int(response.status.code)
        // Error bodies are only quoted, so a small limit is enough.
        let limit = (200..<300).contains(status) ? configuration.maxResponseBytes : 64 << 10
        let body = await Self.collect(response.body, upTo: limit, until: deadline)
        if Task.isCancelled { throw CancellationError() }
        switch body {
        case .complete(let buffer):
            return classify(status: status, body: buffer)
        case .tooLarge:
            return classify(status: status, body: nil)
        case .timedOut:
            return .failed(timedOut(after: ContinuousClock.now - start), retryable: true, detail: "body timed out")
        case .failed(let error):
            return classify(error, elapsed: ContinuousClock.now - start)
        }
    }

    private enum Body: Sendable {
        case complete(ByteBuffer)
        case tooLarge
        case timedOut
        case failed(any Error)
    }

    /// Reads a response body up to `limit` bytes, racing a timer: the HTTP client's deadline ends at the head.
    private static func collect(
        _ body: HTTPClientResponse.Body, upTo limit: Int, until deadline: ContinuousClock.Instant
    ) async -> Body {
        await withTaskGroup(of: Body?.self) { group in
            group.addTask {
                do {
                    return .complete(try await body.collect(upTo: limit))
                } catch is NIOTooManyBytesError {
                    return .tooLarge
                } catch {
                    return .failed(error)
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .timedOut
                } catch {
                    return nil  // cancelled: the body finished first, or the caller was cancelled
                }
            }
            // The first to finish wins; cancelling the read closes the connection.
            var winner: Body?
            while winner == nil, let next = await group.next() { winner = next }
            group.cancelAll()
            return winner ?? .failed(CancellationError())
        }
    }

    /// `body` is nil when it was larger than the limit.
    private func classify(status: Int, body: ByteBuffer?) -> Outcome {
        let name = configuration.upstreamName
        switch status {
        case 200..<300:
            guard let body else {
                return invalidResponse("its body is larger than \(configuration.maxResponseBytes) bytes")
            }
            do {
                return .success(try OpenInferenceJSON.decodeResponse(body))
            } catch {
                return invalidResponse(error.reason)
            }
        case 401, 403, 404, 405:
            let message = body.map { OpenInferenceJSON.errorMessage($0) } ?? ""
            let hint =
                status == 401 || status == 403
                ? "check the upstream's bearer token" : "check the upstream's base URL, model name and version"
            return .failed(
                SlipwayError(
                    .unavailable, code: "upstream_misconfigured",
                    "upstream \(name) answered HTTP \(status) for model \(configuration.model); \(hint) in the "
                        + "deployment's upstream settings",
                    retryAfter: 1),
                retryable: false, detail: message)
        case 408:
            return .failed(timedOut(status: status), retryable: true, detail: "HTTP 408")
        case 429:
            return .failed(unavailable("answered HTTP 429 (too many requests)"), retryable: false, detail: "HTTP 429")
        case 400..<500:
            let message = body.map { OpenInferenceJSON.errorMessage($0) } ?? ""
            let quoted = message.isEmpty ? "" : ": \(message)"
            return .rejected(
                SlipwayError(
                    .badRequest, code: "upstream_rejected",
                    "upstream \(name) rejected the input for model \(configuration.model) with HTTP \(status)\(quoted)"
                ))
        case 502, 503:
            return .failed(unavailable("answered HTTP \(status)"), retryable: true, detail: "HTTP \(status)")
        case 504:
            return .failed(timedOut(status: status), retryable: true, detail: "HTTP 504")
        case 500..<600:
            // The body may hold a stack trace: log it, do not show it to the caller.
            let message = body.map { OpenInferenceJSON.errorMessage($0) } ?? ""
            return .failed(unavailable("answered HTTP \(status)"), retryable: false, detail: message)
        default:
            return invalidResponse("it answered HTTP \(status)")
        }
    }

    private func classify(_ error: any Error, elapsed: Duration) -> Outcome {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout,
                .tlsHandshakeTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout:
                return .failed(timedOut(after: elapsed), retryable: true, detail: "\(error)")
            case .invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown, .shutdownUnsupported:
                return .failed(
                    unavailable("could not be called (\(error.shortDescription))"), retryable: false,
                    detail: "\(error)")
            default:
                break
            }
        }
        // Connection refused or reset, DNS and TLS failures: the upstream could not be reached.
        return .failed(unavailable("could not be reached"), retryable: true, detail: "\(error)")
    }

    // MARK: Errors and helpers

    private func invalidResponse(_ reason: String) -> Outcome {
        .failed(
            SlipwayError(
                .unavailable, code: "upstream_invalid_response",
                "upstream \(configuration.upstreamName) sent a response for model \(configuration.model) that is not "
                    + "a valid Open Inference Protocol v2 answer: \(reason)",
                retryAfter: 1),
            retryable: false, detail: reason)
    }

    private func unavailable(_ what: String) -> SlipwayError {
        SlipwayError(
            .unavailable, code: "upstream_unavailable",
            "upstream \(configuration.upstreamName) \(what) for model \(configuration.model); retry later, or check "
                + "the upstream model server",
            retryAfter: 1)
    }

    private func timedOut(after elapsed: Duration) -> SlipwayError {
        SlipwayError(
            .unavailable, code: "upstream_timeout",
            "upstream \(configuration.upstreamName) did not answer for model \(configuration.model) within "
                + "\(elapsed.formattedMilliseconds) (per-attempt timeout \(configuration.timeoutMilliseconds) ms, or "
                + "the request's deadline); retry later, or raise the timeout",
            retryAfter: 1)
    }

    private func deadlinePassed() -> SlipwayError {
        SlipwayError(
            .unavailable, code: "upstream_timeout",
            "the request's deadline passed before upstream \(configuration.upstreamName) could be called for model "
                + "\(configuration.model); raise the request timeout",
            retryAfter: 1)
    }

    private func timedOut(status: Int) -> SlipwayError {
        SlipwayError(
            .unavailable, code: "upstream_timeout",
            "upstream \(configuration.upstreamName) answered HTTP \(status) (timeout) for model "
                + "\(configuration.model); retry later, or check the upstream model server",
            retryAfter: 1)
    }

    /// The pause before retry `retry + 1`: the base doubled per retry, between half and all of it.
    private func backoff(retry: Int) -> Duration {
        let full = configuration.retryBackoff * (1 << min(retry, 4))
        return full * (0.5 + 0.5 * min(1, max(0, jitter())))
    }

    private func validate(rows: [Float], count: Int, features: Int) throws(SlipwayError) {
        guard features >= 1, count >= 0 else {
            throw .badRequest(
                "a batch needs at least 1 feature and 0 or more rows, got \(count) rows of \(features)",
                code: "invalid_input")
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: features)
        guard !overflow, rows.count == needed else {
            throw .badRequest(
                "the input has \(rows.count) values, but \(count) rows of \(features) features need \(count &* features)",
                code: "invalid_input")
        }
        if let index = rows.firstIndex(where: { !$0.isFinite }) {
            throw .badRequest(
                "row \(index / features), feature \(index % features) is \(rows[index]), which an upstream model "
                    + "server cannot receive as JSON; impute missing values before sending them to this deployment",
                code: "invalid_input")
        }
    }

    private func log(_ state: CircuitBreaker.State) {
        let metadata: Logger.Metadata = [
            "upstream": "\(configuration.upstreamName)", "circuit.state": "\(state.rawValue)",
        ]
        switch state {
        case .open: logger.error("upstream circuit breaker opened; calls fail fast", metadata: metadata)
        case .closed: logger.notice("upstream circuit breaker closed; the upstream recovered", metadata: metadata)
        case .halfOpen: logger.notice("upstream circuit breaker is probing the upstream", metadata: metadata)
        }
    }
}
