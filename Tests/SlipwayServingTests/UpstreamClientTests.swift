import AsyncHTTPClient
import Logging
import SlipwayCore
import SlipwayRuntime
import Synchronization
import Testing

@testable import SlipwayServing

/// ``UpstreamClient`` against a real server on loopback that the tests fault at will.
///
/// Serialized so timeouts stay meaningful on a loaded machine; no test asserts a tight wall-clock bound.
@Suite("Upstream client", .serialized)
struct UpstreamClientTests {
    /// Two rows of three features; the fake server answers their sums.
    static let rows: [Float] = [1, 2, 3, 0.5, 0.25, -1]
    static let sums: [Float] = [6, -0.25]

    /// A running fake server, the HTTP client to reach it, and the log lines upstream clients wrote.
    struct Upstream: Sendable {
        let server: FakeInferenceServer
        let httpClient: HTTPClient
        let logs = LogSink()

        func client(
            httpClient: HTTPClient? = nil, version: String? = nil, timeoutMilliseconds: Int = 3000, maxRetries: Int = 1,
            failureThreshold: Int = 3, openDuration: Duration = .seconds(30), maxResponseBytes: Int = 1 << 20
        ) throws -> UpstreamClient {
            let configuration = try UpstreamConfiguration(
                baseURL: "http://127.0.0.1:\(server.port)", model: "fraud", version: version,
                timeoutMilliseconds: timeoutMilliseconds, maxRetries: maxRetries, retryBackoffMilliseconds: 10,
                maxResponseBytes: maxResponseBytes, bearerToken: UpstreamClientTests.token)
            let breaker = CircuitBreaker(
                name: configuration.upstreamName,
                configuration: try .init(
                    failureThreshold: failureThreshold, minimumCalls: 10, openDuration: openDuration))
            return UpstreamClient(
                configuration: configuration, httpClient: httpClient ?? self.httpClient, breaker: breaker,
                logger: Logger(label: "upstream-test") { _ in CapturingLogHandler(sink: logs) }, jitter: { 0.5 })
        }
    }

    static let token = "upstream-token-123"

    /// Runs `body` with a fresh server and an HTTP client set up as production would, then checks that no log
    /// line carried the token.
    static func withUpstream(_ body: @Sendable (Upstream) async throws -> Void) async throws {
        try await HTTPClient.withHTTPClient(configuration: UpstreamClient.recommendedHTTPClientConfiguration) {
            httpClient in
            try await FakeInferenceServer.with { server in
                let upstream = Upstream(server: server, httpClient: httpClient)
                try await body(upstream)
                #expect(!upstream.logs.lines.contains { $0.contains(token) })
            }
        }
    }

    static func infer(_ client: UpstreamClient, within: Duration = .seconds(8)) async throws -> [PredictionOutput] {
        try await client.infer(rows: rows, count: 2, features: 3, deadline: .now + within)
    }

    static func expectError(
        _ client: UpstreamClient, within: Duration = .seconds(8), sourceLocation: SourceLocation = #_sourceLocation
    ) async -> SlipwayError? {
        await #expect(throws: SlipwayError.self, sourceLocation: sourceLocation) {
            _ = try await infer(client, within: within)
        }
    }

    @Test("a normal answer is parsed: row sums, nested data, every output, with the token sent")
    func normal() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client()
            let outputs = try await Self.infer(client)
            #expect(
                outputs == [
                    PredictionOutput(name: "sum", shape: [2, 1], data: .floats(Self.sums)),
                    PredictionOutput(name: "count", shape: [1], data: .int64s([2])),
                ])
            // A second call reuses the pooled connection and gets the same answer.
            #expect(try await Self.infer(client) == outputs)
            #expect(server.seen.requests == 2)
            #expect(server.seen.paths.first == "/v2/models/fraud/infer")
            #expect(server.seen.authorization.first == "Bearer \(Self.token)")
            #expect(client.breaker.state() == .closed)
        }
    }

    @Test("a 503 is retried and the retry succeeds")
    func retriesUnavailable() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(maxRetries: 2)
            server.fault = .failNext(1, status: 503)
            let outputs = try await Self.infer(client)
            #expect(outputs.first?.data == .floats(Self.sums))
            #expect(server.requests == 2)
            #expect(client.breaker.statistics().windowFailures == 1)

            // Retries are bounded: with 502 on every attempt, 1 + maxRetries requests, then the error.
            server.fault = .status(502, body: "")
            let error = await Self.expectError(client)
            #expect(error?.code == "upstream_unavailable")
            #expect(error?.retryAfter == 1)
            #expect(error?.message.contains("127.0.0.1:\(server.port)") == true)
            #expect(error?.message.contains("upstream-token") == false)
            #expect(server.requests == 2 + 3)
        }
    }

    @Test("a slow upstream times out per attempt, and the deadline cuts a longer timeout short")
    func slowUpstream() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            server.fault = .slow
            let client = try upstream.client(timeoutMilliseconds: 300, maxRetries: 1)
            let clock = ContinuousClock()
            let start = clock.now
            let error = await Self.expectError(client)
            #expect(error?.code == "upstream_timeout")
            #expect(error?.kind == .unavailable)
            #expect(clock.now - start < .seconds(5))
            // Each timed-out attempt counts for the breaker (the server may not have seen both if connecting was slow).
            #expect(client.breaker.statistics().windowFailures == 2, "a timeout is retried")

            // The server holds requests for up to 4 s, then answers; a 10 s attempt would succeed. The
            // 500 ms deadline must end the call with a timeout instead.
            let patient = try upstream.client(timeoutMilliseconds: 10_000, maxRetries: 3)
            let cut = await Self.expectError(patient, within: .milliseconds(500))
            #expect(cut?.code == "upstream_timeout")
        }
    }

    @Test("repeated failures open the breaker; then calls fail fast; after openDuration a probe closes it")
    func breakerOpensAndRecovers() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(
                maxRetries: 0, failureThreshold: 2, openDuration: .seconds(1))
            server.fault = .status(500, body: #"{"error":"Traceback: secret internals"}"#)
            for _ in 0..<2 {
                let error = await Self.expectError(client)
                #expect(error?.code == "upstream_unavailable")
                #expect(error?.message.contains("HTTP 500") == true)
                #expect(error?.message.contains("secret internals") == false, "5xx bodies are logged, not shown")
            }
            #expect(client.breaker.state() == .open)
            #expect(server.requests == 2)

            server.fault = .normal
            let open = await Self.expectError(client)
            #expect(open?.code == "upstream_circuit_open")
            #expect(open?.retryAfter == 1)
            #expect(open?.message.contains("127.0.0.1:\(server.port)") == true)
            #expect(server.requests == 2, "an open breaker does not contact the upstream")

            try await Task.sleep(for: .milliseconds(1100))
            #expect(client.breaker.state() == .halfOpen)
            let outputs = try await Self.infer(client)
            #expect(outputs.first?.data == .floats(Self.sums))
            #expect(client.breaker.state() == .closed)
            #expect(server.requests == 3)
            #expect(upstream.logs.lines.contains { $0.contains("secret internals") }, "the 5xx body is in the log")
            #expect(upstream.logs.lines.contains { $0.contains("circuit breaker opened") })
        }
    }

    @Test("a failed probe re-opens the breaker")
    func failedProbeReopens() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(
                maxRetries: 2, failureThreshold: 1, openDuration: .seconds(1))
            server.fault = .status(503, body: "")
            let first = await Self.expectError(client)
            #expect(first?.code == "upstream_unavailable", "the retry hits the open breaker; the cause is reported")
            #expect(server.requests == 1)
            try await Task.sleep(for: .milliseconds(1100))
            _ = await Self.expectError(client)
            #expect(server.requests == 2, "one probe, no retries past the re-opened breaker")
            #expect(client.breaker.state() == .open)
            #expect(client.breaker.statistics().timesOpened == 2)
        }
    }

    @Test("a stopped upstream refuses connections: upstream_unavailable")
    func refused() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(maxRetries: 1)
            _ = try await Self.infer(client)
            await server.stop()
            let error = await Self.expectError(client)
            #expect(error?.code == "upstream_unavailable")
            #expect(error?.message.contains("could not be reached") == true)

            // With the shared client, whose pool retries failed connects until the attempt's deadline, a refused
            // port is still reported as unreachable rather than as slow.
            let shared = try upstream.client(httpClient: .shared, timeoutMilliseconds: 500, maxRetries: 0)
            let sharedError = await Self.expectError(shared)
            #expect(sharedError?.code == "upstream_unavailable")
        }
    }

    @Test("a 4xx is the caller's error: the message passes through, no retry, the breaker stays closed")
    func clientErrors() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(maxRetries: 3, failureThreshold: 1)
            server.fault = .status(
                400, body: #"{"error":"unexpected shape for input 'input': [2, 3], expected [-1, 4]"}"#)
            for _ in 0..<3 {
                let error = await Self.expectError(client)
                #expect(error?.kind == .badRequest)
                #expect(error?.code == "upstream_rejected")
                #expect(error?.message.contains("expected [-1, 4]") == true)
            }
            #expect(server.requests == 3)
            #expect(client.breaker.state() == .closed)
            #expect(client.breaker.statistics().windowCalls == 0)
        }
    }

    @Test("an unknown model or version upstream is a misconfiguration, not the caller's error")
    func misconfigured() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(version: "9")
            let error = await Self.expectError(client)
            #expect(error?.kind == .unavailable)
            #expect(error?.code == "upstream_misconfigured")
            #expect(error?.message.contains("HTTP 404") == true)
            #expect(server.requests == 0, "the fake server has no versioned route; the router answered")
            #expect(client.breaker.statistics().windowFailures == 1)
        }
    }

    @Test("malformed or oversized answers are invalid responses and are not retried")
    func invalidResponses() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client(maxRetries: 2, maxResponseBytes: 2048)
            server.fault = .malformed
            let malformed = await Self.expectError(client)
            #expect(malformed?.code == "upstream_invalid_response")
            #expect(malformed?.message.contains("not valid JSON") == true)
            #expect(server.requests == 1)

            server.fault = .huge(bytes: 4096)
            let huge = await Self.expectError(client)
            #expect(huge?.code == "upstream_invalid_response")
            #expect(huge?.message.contains("2048 bytes") == true)
            #expect(server.requests == 2)
        }
    }

    @Test("malformed batches are refused before contacting the upstream")
    func invalidInput() async throws {
        try await Self.withUpstream { upstream in
            let server = upstream.server
            let client = try upstream.client()
            let deadline = ContinuousClock.now + .seconds(5)
            let shape = await #expect(throws: SlipwayError.self) {
                try await client.infer(rows: [1, 2], count: 2, features: 3, deadline: deadline)
            }
            #expect(shape?.code == "invalid_input")
            let missing = await #expect(throws: SlipwayError.self) {
                try await client.infer(rows: [1, .nan, 3], count: 1, features: 3, deadline: deadline)
            }
            #expect(missing?.message.contains("row 0, feature 1") == true)
            let late = await #expect(throws: SlipwayError.self) {
                try await client.infer(rows: Self.rows, count: 2, features: 3, deadline: .now - .seconds(1))
            }
            #expect(late?.code == "upstream_timeout")
            #expect(server.requests == 0)
        }
    }
}

/// Keeps every log line, so tests can check what was logged.
final class LogSink: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}

struct CapturingLogHandler: LogHandler {
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.append("\(event.level) \(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 })")
    }
}
