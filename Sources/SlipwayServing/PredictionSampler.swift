import SlipwayCore
import Synchronization

/// Decides which requests are written to the sampled prediction log.
///
/// Each request is drawn with probability ``rate``, and at most ``maxPerSecond`` are taken in any
/// one-second window, so a traffic spike cannot flood the log. The random source is injected so tests
/// replay exactly.
///
/// ```swift
/// let sampler = try PredictionSampler(rate: 0.01, maxPerSecond: 50)
/// if sampler.shouldSample(now: .now) { log.append(request, prediction) }
/// ```
public final class PredictionSampler: Sendable {
    private struct State {
        var random: any RandomNumberGenerator & Sendable
        /// A request is sampled when a draw is below this; `nil` means always (a rate of 1).
        var threshold: UInt64?
        var rate: Double
        var maxPerSecond: Int
        var windowStart: ContinuousClock.Instant?
        var takenInWindow = 0
    }

    private let state: Mutex<State>

    /// A sampler drawing from a fast generator seeded once from the system's.
    ///
    /// `SystemRandomNumberGenerator` asks the kernel on every draw (about 0.5 µs on Linux), too slow to pay
    /// on every request; sampling needs no cryptographic randomness.
    /// - Parameters:
    ///   - rate: the share of requests to sample, 0 (none) to 1 (all).
    ///   - maxPerSecond: the most requests sampled in one second.
    /// - Throws: ``SlipwayError`` (400) when `rate` is outside 0…1 or `maxPerSecond` is negative.
    public convenience init(rate: Double, maxPerSecond: Int) throws(SlipwayError) {
        var system = SystemRandomNumberGenerator()
        try self.init(rate: rate, maxPerSecond: maxPerSecond, random: SplitMixRandom(seed: system.next()))
    }

    /// - Parameters:
    ///   - rate: the share of requests to sample, 0 (none) to 1 (all).
    ///   - maxPerSecond: the most requests sampled in one second.
    ///   - random: the random source; a seeded generator in tests.
    /// - Throws: ``SlipwayError`` (400) when `rate` is outside 0…1 or `maxPerSecond` is negative.
    public init(rate: Double, maxPerSecond: Int, random: some RandomNumberGenerator & Sendable) throws(SlipwayError) {
        try Self.validate(rate: rate, maxPerSecond: maxPerSecond)
        state = Mutex(
            State(random: random, threshold: Self.threshold(rate), rate: rate, maxPerSecond: maxPerSecond))
    }

    /// The share of requests sampled.
    public var rate: Double { state.withLock { $0.rate } }

    /// The most requests sampled in one second.
    public var maxPerSecond: Int { state.withLock { $0.maxPerSecond } }

    /// Changes the rate and cap; the current second's count is kept.
    /// - Throws: ``SlipwayError`` (400) when `rate` is outside 0…1 or `maxPerSecond` is negative.
    public func update(rate: Double, maxPerSecond: Int) throws(SlipwayError) {
        try Self.validate(rate: rate, maxPerSecond: maxPerSecond)
        state.withLock { state in
            state.rate = rate
            state.threshold = Self.threshold(rate)
            state.maxPerSecond = maxPerSecond
        }
    }

    /// Whether to log this request.
    /// - Parameter now: the current time, for the per-second cap.
    public func shouldSample(now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard state.maxPerSecond > 0, state.threshold != 0 else { return false }
            if let threshold = state.threshold, state.random.next() >= threshold { return false }
            if let start = state.windowStart, now - start < .seconds(1) {
                guard state.takenInWindow < state.maxPerSecond else { return false }
                state.takenInWindow += 1
            } else {
                state.windowStart = now
                state.takenInWindow = 1
            }
            return true
        }
    }

    private static func validate(rate: Double, maxPerSecond: Int) throws(SlipwayError) {
        guard rate >= 0, rate <= 1 else {
            throw .badRequest("the sampling rate must be between 0 and 1, got \(rate)", code: "invalid_sampling")
        }
        guard maxPerSecond >= 0 else {
            throw .badRequest(
                "the sampling cap must be 0 or more per second, got \(maxPerSecond)", code: "invalid_sampling")
        }
    }

    /// `rate × 2^64`, or nil for a rate of 1, which no 64-bit threshold can express.
    private static func threshold(_ rate: Double) -> UInt64? {
        rate >= 1 ? nil : UInt64(rate * 0x1p64)
    }
}

/// Sampling decisions use the platform's seeded SplitMix64 (fast and statistically sound; not for secrets).
typealias SplitMixRandom = SeededGenerator
