import SlipwayCore
import Synchronization

/// A sustained request rate with a burst allowance.
public struct RateLimit: Sendable, Equatable {
    /// Tokens added per second: the sustained rate.
    public let requestsPerSecond: Double
    /// The bucket's size: how many requests may arrive at once after a quiet spell.
    public let burst: Int

    /// - Throws: ``SlipwayError`` (400) unless the rate is positive and finite and the burst at least 1.
    public init(requestsPerSecond: Double, burst: Int) throws(SlipwayError) {
        guard requestsPerSecond.isFinite, requestsPerSecond > 0 else {
            throw .badRequest(
                "the rate limit must be a positive number of requests per second, got \(requestsPerSecond)",
                code: "invalid_rate_limit")
        }
        guard burst >= 1 else {
            throw .badRequest("the rate limit's burst must be at least 1, got \(burst)", code: "invalid_rate_limit")
        }
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }
}

/// Per-key token buckets: each key (a team id) may make ``RateLimit/burst`` requests at once and
/// ``RateLimit/requestsPerSecond`` sustained.
///
/// One lock guards a dictionary of buckets; an acquire is a lookup, a refill and a subtraction. Time is a
/// parameter so tests replay exactly. A bucket that has refilled completely is the same as no bucket, so
/// ``prune(now:)`` forgets those to bound memory.
///
/// ```swift
/// let limiter = RateLimiter(limit: try RateLimit(requestsPerSecond: 100, burst: 200))
/// try limiter.acquire(key: team.id.rawValue, now: .now)   // throws rate_limited with retryAfter
/// ```
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// The limit of the last acquire, so pruning judges the bucket by its own size and rate.
        var limit: RateLimit

        /// Refills to `now` and takes a token; returns the seconds until one is available if none is.
        mutating func take(limit: RateLimit, now: ContinuousClock.Instant) -> Double? {
            self.limit = limit
            let capacity = Double(limit.burst)
            if now > updated {
                tokens = min(capacity, tokens + (now - updated).seconds * limit.requestsPerSecond)
                updated = now
            } else {
                tokens = min(capacity, tokens)
            }
            guard tokens >= 1 else { return (1 - tokens) / limit.requestsPerSecond }
            tokens -= 1
            return nil
        }

        func isFull(at now: ContinuousClock.Instant) -> Bool {
            tokens + max(0, (now - updated).seconds) * limit.requestsPerSecond >= Double(limit.burst)
        }
    }

    private struct State {
        var defaultLimit: RateLimit
        var buckets: [String: Bucket] = [:]
    }

    private let state: Mutex<State>

    /// - Parameter limit: the limit for keys that do not pass their own to ``acquire(key:limit:now:)``.
    public init(limit: RateLimit) {
        state = Mutex(State(defaultLimit: limit))
    }

    /// The limit used when ``acquire(key:limit:now:)`` is not given one.
    public var defaultLimit: RateLimit {
        get { state.withLock { $0.defaultLimit } }
        set { state.withLock { $0.defaultLimit = newValue } }
    }

    /// Keys with a bucket that is not full.
    public var trackedKeys: Int { state.withLock { $0.buckets.count } }

    /// Takes one token from `key`'s bucket.
    ///
    /// - Parameters:
    ///   - key: whose bucket, usually a team id.
    ///   - limit: this key's limit, e.g. from its team's plan; nil for the default. A changed limit applies
    ///     from the next call, keeping the tokens already in the bucket (capped at the new burst).
    ///   - now: the current time.
    /// - Throws: ``SlipwayError`` `rate_limited` (429) with `retryAfter` = whole seconds until a token is
    ///   available, at least 1.
    public func acquire(key: String, limit: RateLimit? = nil, now: ContinuousClock.Instant) throws(SlipwayError) {
        let result = state.withLock { state -> (limit: RateLimit, wait: Double)? in
            let limit = limit ?? state.defaultLimit
            let fresh = Bucket(tokens: Double(limit.burst), updated: now, limit: limit)
            guard let wait = state.buckets[key, default: fresh].take(limit: limit, now: now) else { return nil }
            return (limit, wait)
        }
        guard let (limit, wait) = result else { return }
        let retryAfter = max(1, Int(min(wait, Double(Int32.max)).rounded(.up)))
        throw .rateLimited(
            "rate limit of \(limit.requestsPerSecond.formatted) requests per second (burst \(limit.burst)) reached; "
                + "retry after \(retryAfter) s, spread requests out or batch rows into fewer requests, "
                + "or ask a platform admin to raise the team's limit",
            retryAfter: retryAfter)
    }

    /// Forgets buckets that have refilled completely by `now`; call it now and then to bound memory.
    public func prune(now: ContinuousClock.Instant) {
        state.withLock { state in
            state.buckets = state.buckets.filter { _, bucket in !bucket.isFull(at: now) }
        }
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

extension Double {
    /// `2.5`, `100` — without a trailing `.0` for whole numbers.
    var formatted: String {
        self == rounded() && abs(self) < 1e15 ? String(Int64(self)) : String(self)
    }
}
