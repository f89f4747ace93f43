import SlipwayCore
import Testing

@testable import SlipwayServing

@Suite("Rate limiter")
struct RateLimiterTests {
    static let t0 = ContinuousClock.now

    @Test("a burst is allowed, then requests are refused with the seconds until a token")
    func burstThenRefusal() throws {
        let limiter = RateLimiter(limit: try RateLimit(requestsPerSecond: 2, burst: 3))
        for _ in 0..<3 { try limiter.acquire(key: "team-a", now: Self.t0) }
        let error = #expect(throws: SlipwayError.self) { try limiter.acquire(key: "team-a", now: Self.t0) }
        #expect(error?.kind == .tooManyRequests)
        #expect(error?.code == "rate_limited")
        #expect(error?.retryAfter == 1)  // 0.5 s, rounded up
        #expect(error?.message.contains("2 requests per second") == true)
    }

    @Test("tokens refill at the sustained rate and never beyond the burst")
    func refill() throws {
        let limiter = RateLimiter(limit: try RateLimit(requestsPerSecond: 10, burst: 2))
        try limiter.acquire(key: "k", now: Self.t0)
        try limiter.acquire(key: "k", now: Self.t0)
        #expect(throws: SlipwayError.self) { try limiter.acquire(key: "k", now: Self.t0 + .milliseconds(50)) }
        try limiter.acquire(key: "k", now: Self.t0 + .milliseconds(100))
        #expect(throws: SlipwayError.self) { try limiter.acquire(key: "k", now: Self.t0 + .milliseconds(100)) }

        // A long pause refills to the burst, not more.
        let later = Self.t0 + .seconds(60)
        try limiter.acquire(key: "k", now: later)
        try limiter.acquire(key: "k", now: later)
        #expect(throws: SlipwayError.self) { try limiter.acquire(key: "k", now: later) }
    }

    @Test("retryAfter rounds the wait up to whole seconds")
    func retryAfterRoundsUp() throws {
        let limiter = RateLimiter(limit: try RateLimit(requestsPerSecond: 0.1, burst: 1))
        try limiter.acquire(key: "slow", now: Self.t0)
        let error = #expect(throws: SlipwayError.self) {
            try limiter.acquire(key: "slow", now: Self.t0 + .seconds(2.5))
        }
        #expect(error?.retryAfter == 8)  // 7.5 s left
    }

    @Test("keys have separate buckets and may carry their own limit")
    func perKey() throws {
        let limiter = RateLimiter(limit: try RateLimit(requestsPerSecond: 1, burst: 1))
        try limiter.acquire(key: "a", now: Self.t0)
        try limiter.acquire(key: "b", now: Self.t0)
        #expect(throws: SlipwayError.self) { try limiter.acquire(key: "a", now: Self.t0) }
        let generous = try RateLimit(requestsPerSecond: 100, burst: 5)
        for _ in 0..<5 { try limiter.acquire(key: "c", limit: generous, now: Self.t0) }
        #expect(throws: SlipwayError.self) { try limiter.acquire(key: "c", limit: generous, now: Self.t0) }
    }

    @Test("pruning forgets only buckets that have refilled")
    func prune() throws {
        let limiter = RateLimiter(limit: try RateLimit(requestsPerSecond: 1, burst: 2))
        try limiter.acquire(key: "old", now: Self.t0)
        try limiter.acquire(key: "big", limit: try RateLimit(requestsPerSecond: 0.01, burst: 100), now: Self.t0)
        try limiter.acquire(key: "new", now: Self.t0 + .seconds(10))
        #expect(limiter.trackedKeys == 3)
        limiter.prune(now: Self.t0 + .milliseconds(10_500))
        // "old" refilled long ago; "big" still misses a token of its own burst; "new" too.
        #expect(limiter.trackedKeys == 2)
    }

    @Test("limits are validated")
    func validation() {
        #expect(throws: SlipwayError.self) { try RateLimit(requestsPerSecond: 0, burst: 1) }
        #expect(throws: SlipwayError.self) { try RateLimit(requestsPerSecond: .infinity, burst: 1) }
        #expect(throws: SlipwayError.self) { try RateLimit(requestsPerSecond: 1, burst: 0) }
    }
}
