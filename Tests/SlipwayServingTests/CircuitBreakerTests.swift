import SlipwayCore
import Testing

@testable import SlipwayServing

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    static let t0 = ContinuousClock.now

    static func breaker(
        failureThreshold: Int = 3, failureRate: Double = 1, window: Int = 10, minimumCalls: Int = 10,
        openDuration: Duration = .seconds(10), halfOpenProbes: Int = 1
    ) throws -> CircuitBreaker {
        CircuitBreaker(
            name: "mlserver.test:8080",
            configuration: try .init(
                failureThreshold: failureThreshold, failureRate: failureRate, window: window,
                minimumCalls: minimumCalls, openDuration: openDuration, halfOpenProbes: halfOpenProbes))
    }

    /// Makes one call that ends with `outcome`, all at `now`.
    static func call(_ breaker: CircuitBreaker, _ outcome: CircuitBreaker.Outcome, at now: ContinuousClock.Instant)
        throws
    {
        let permit = try breaker.acquire(now: now)
        breaker.record(outcome, for: permit, now: now)
    }

    @Test("N consecutive failures open the breaker; a success in between resets the count")
    func consecutiveFailures() throws {
        let breaker = try Self.breaker(failureThreshold: 3)
        try Self.call(breaker, .failure, at: Self.t0)
        try Self.call(breaker, .failure, at: Self.t0)
        try Self.call(breaker, .success, at: Self.t0)
        try Self.call(breaker, .failure, at: Self.t0)
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .closed)
        #expect(breaker.statistics(now: Self.t0).consecutiveFailures == 2)
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .open)
        #expect(breaker.statistics(now: Self.t0).timesOpened == 1)
    }

    @Test("an open breaker refuses at once, naming the upstream and the seconds until it retries")
    func openRefuses() throws {
        let breaker = try Self.breaker(failureThreshold: 1, openDuration: .seconds(10))
        try Self.call(breaker, .failure, at: Self.t0)
        let error = #expect(throws: SlipwayError.self) { try breaker.acquire(now: Self.t0 + .milliseconds(2500)) }
        #expect(error?.kind == .unavailable)
        #expect(error?.code == "upstream_circuit_open")
        #expect(error?.retryAfter == 8)  // 7.5 s left, rounded up
        #expect(error?.message.contains("mlserver.test:8080") == true)
        #expect(error?.message.contains("8 s") == true)
        let statistics = breaker.statistics(now: Self.t0 + .seconds(1))
        #expect(statistics.rejected == 1)
        #expect(statistics.retryAt == Self.t0 + .seconds(10))
    }

    @Test("a failure rate over the window opens the breaker once the window has the minimum calls")
    func failureRate() throws {
        let breaker = try Self.breaker(failureThreshold: 100, failureRate: 0.5, window: 6, minimumCalls: 4)
        // Alternating outcomes never make 2 failures in a row, but half of them fail.
        try Self.call(breaker, .failure, at: Self.t0)
        try Self.call(breaker, .success, at: Self.t0)
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .closed, "3 calls are fewer than minimumCalls")
        try Self.call(breaker, .success, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .closed, "the rate is judged when a call fails")
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .open, "3 of 5 failed")
    }

    @Test("the rate is over a rolling window: old failures fall out of it")
    func rollingWindow() throws {
        let breaker = try Self.breaker(failureThreshold: 100, failureRate: 0.5, window: 4, minimumCalls: 4)
        try Self.call(breaker, .failure, at: Self.t0)
        for _ in 0..<3 { try Self.call(breaker, .success, at: Self.t0) }
        // Window: F S S S (25 %). Another success pushes the failure out.
        try Self.call(breaker, .success, at: Self.t0)
        #expect(breaker.statistics(now: Self.t0).windowFailures == 0)
        #expect(breaker.statistics(now: Self.t0).windowCalls == 4)
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .closed, "1 of 4")
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(breaker.state(now: Self.t0) == .open, "2 of 4 reaches 50 %")
    }

    @Test("after openDuration a probe goes through; its success closes the breaker with a clean history")
    func probeSuccessCloses() throws {
        let breaker = try Self.breaker(failureThreshold: 2, openDuration: .seconds(5))
        try Self.call(breaker, .failure, at: Self.t0)
        try Self.call(breaker, .failure, at: Self.t0)
        #expect(throws: SlipwayError.self) { try breaker.acquire(now: Self.t0 + .milliseconds(4999)) }
        let later = Self.t0 + .seconds(5)
        #expect(breaker.state(now: later) == .halfOpen)
        let probe = try breaker.acquire(now: later)
        #expect(probe.isProbe)
        // Only one probe at a time.
        let busy = #expect(throws: SlipwayError.self) { try breaker.acquire(now: later) }
        #expect(busy?.code == "upstream_circuit_open")
        #expect(breaker.record(.success, for: probe, now: later) == .closed)
        #expect(breaker.state(now: later) == .closed)
        #expect(breaker.statistics(now: later).consecutiveFailures == 0)
        // A single new failure does not re-open it: the old ones were forgotten.
        try Self.call(breaker, .failure, at: later)
        #expect(breaker.state(now: later) == .closed)
    }

    @Test("a failed probe re-opens the breaker for another openDuration")
    func probeFailureReopens() throws {
        let breaker = try Self.breaker(failureThreshold: 1, openDuration: .seconds(5))
        try Self.call(breaker, .failure, at: Self.t0)
        let later = Self.t0 + .seconds(6)
        let probe = try breaker.acquire(now: later)
        #expect(breaker.record(.failure, for: probe, now: later) == .open)
        let error = #expect(throws: SlipwayError.self) { try breaker.acquire(now: later + .seconds(1)) }
        #expect(error?.retryAfter == 4)
        #expect(breaker.statistics(now: later).timesOpened == 2)
        _ = try breaker.acquire(now: later + .seconds(5))
    }

    @Test("with K probes, K successes are needed to close; the K+1th call waits")
    func severalProbes() throws {
        let breaker = try Self.breaker(failureThreshold: 1, openDuration: .seconds(1), halfOpenProbes: 2)
        try Self.call(breaker, .failure, at: Self.t0)
        let later = Self.t0 + .seconds(1)
        let first = try breaker.acquire(now: later)
        let second = try breaker.acquire(now: later)
        #expect(throws: SlipwayError.self) { try breaker.acquire(now: later) }
        #expect(breaker.record(.success, for: first, now: later) == nil)
        #expect(breaker.state(now: later) == .halfOpen)
        #expect(breaker.record(.success, for: second, now: later) == .closed)
    }

    @Test("an ignored probe frees its slot without a verdict")
    func ignoredProbe() throws {
        let breaker = try Self.breaker(failureThreshold: 1, openDuration: .seconds(1))
        try Self.call(breaker, .failure, at: Self.t0)
        let later = Self.t0 + .seconds(1)
        let probe = try breaker.acquire(now: later)
        breaker.record(.ignored, for: probe, now: later)
        #expect(breaker.state(now: later) == .halfOpen)
        let next = try breaker.acquire(now: later)
        breaker.record(.success, for: next, now: later)
        #expect(breaker.state(now: later) == .closed)
    }

    @Test("outcomes of calls that started before a state change are ignored")
    func staleOutcomes() throws {
        let breaker = try Self.breaker(failureThreshold: 1, openDuration: .seconds(1))
        let slow = try breaker.acquire(now: Self.t0)
        try Self.call(breaker, .failure, at: Self.t0)  // opens
        // The slow call's success arrives while open and must not close it.
        #expect(breaker.record(.success, for: slow, now: Self.t0) == nil)
        #expect(breaker.state(now: Self.t0) == .open)
    }

    @Test("a probe that is never recorded does not wedge the breaker half-open")
    func lostProbe() throws {
        let breaker = try Self.breaker(failureThreshold: 1, openDuration: .seconds(2))
        try Self.call(breaker, .failure, at: Self.t0)
        _ = try breaker.acquire(now: Self.t0 + .seconds(2))  // lost
        #expect(throws: SlipwayError.self) { try breaker.acquire(now: Self.t0 + .seconds(3)) }
        let fresh = try breaker.acquire(now: Self.t0 + .seconds(4))
        #expect(breaker.record(.success, for: fresh, now: Self.t0 + .seconds(4)) == .closed)
    }

    @Test("invalid settings are refused with the setting's name")
    func invalidConfiguration() {
        let cases: [(String, () throws -> CircuitBreaker.Configuration)] = [
            ("failureThreshold", { try .init(failureThreshold: 0) }),
            ("failureRate", { try .init(failureRate: 1.5) }),
            ("window", { try .init(window: 0) }),
            ("minimumCalls", { try .init(window: 5, minimumCalls: 6) }),
            ("openDuration", { try .init(openDuration: .zero) }),
            ("halfOpenProbes", { try .init(halfOpenProbes: 0) }),
        ]
        for (setting, make) in cases {
            let error = #expect(throws: SlipwayError.self) { try make() }
            #expect(error?.code == "invalid_circuit_breaker")
            #expect(error?.message.contains(setting) == true, "\(setting)")
        }
    }
}
