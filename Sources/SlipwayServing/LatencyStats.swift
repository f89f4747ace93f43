import Histogram
import Synchronization

/// Latency, request and error statistics of one endpoint (or one of its versions) over a recent window.
public struct StatsSnapshot: Sendable, Equatable {
    /// Requests recorded in the window.
    public var count: Int
    /// How many of them failed.
    public var errors: Int
    /// `errors / count`, 0 when there were no requests.
    public var errorRate: Double { count == 0 ? 0 : Double(errors) / Double(count) }
    /// Latency percentiles and maximum in microseconds (0 when there were no requests). Values below
    /// 2,048 µs are exact; above, within 0.1 %.
    public var p50Micros: UInt64
    public var p95Micros: UInt64
    public var p99Micros: UInt64
    public var maxMicros: UInt64

    /// No requests.
    public static let empty = StatsSnapshot(count: 0, errors: 0, p50Micros: 0, p95Micros: 0, p99Micros: 0, maxMicros: 0)

    public init(count: Int, errors: Int, p50Micros: UInt64, p95Micros: UInt64, p99Micros: UInt64, maxMicros: UInt64) {
        self.count = count
        self.errors = errors
        self.p50Micros = p50Micros
        self.p95Micros = p95Micros
        self.p99Micros = p99Micros
        self.maxMicros = maxMicros
    }
}

/// One endpoint's statistics over a window: all versions together and each version apart.
public struct EndpointStats: Sendable, Equatable {
    public var endpoint: String
    /// The window actually covered: whole intervals, the newest of which is still filling.
    public var window: Duration
    public var combined: StatsSnapshot
    public var versions: [Int: StatsSnapshot]
}

/// Cumulative latency buckets of one (endpoint, version) since start, in Prometheus' histogram shape.
public struct PrometheusHistogram: Sendable, Equatable {
    public var endpoint: String
    public var version: Int
    /// The buckets' upper bounds (`le`) in seconds, ascending; `+Inf` is implied and equals ``count``.
    public var upperBounds: [Double]
    /// Observations at or below each bound; non-decreasing.
    public var cumulativeCounts: [UInt64]
    /// All observations (the `+Inf` bucket and `_count`).
    public var count: UInt64
    /// The sum of all observations in seconds (`_sum`).
    public var sum: Double
    /// How many of the observations were errors.
    public var errors: UInt64
}

/// Latency histograms per (endpoint, version) over a sliding window, plus cumulative Prometheus buckets.
///
/// The window is a ring of per-interval HdrHistograms (by default 12 × 5 s = 1 min), each covering 1 µs to
/// 60 s at 3 significant digits; recording goes to the current interval's histogram, which is cleared
/// when the ring comes round to it again, and a snapshot merges the intervals it needs. Time is a
/// parameter, counted in intervals from `origin`, so tests replay exactly.
///
/// A histogram is allocated on an interval's first request (about 70 kB), so idle series cost little;
/// ``prune(now:)`` frees the histograms of intervals that left the window, and ``remove(endpoint:)``
/// forgets an undeployed endpoint.
///
/// ```swift
/// stats.record(endpoint: "fraud", version: 3, latencyMicros: 840, error: false, now: .now)
/// let lastMinute = stats.snapshot(endpoint: "fraud", window: .seconds(60), now: .now)
/// ```
public final class LatencyStats: Sendable {
    /// Prometheus bucket bounds in seconds: 0.5 ms to 10 s.
    public static let defaultBucketBounds: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    /// The largest latency a histogram holds; longer ones are recorded as this.
    public static let highestTrackableMicros: UInt64 = 60_000_000

    private struct Slot {
        var index = Int64.min
        var histogram: Histogram<UInt32>?
        var requests = 0
        var errors = 0
    }

    private struct Series {
        var slots: [Slot]
        /// Observations per Prometheus bucket (not cumulative); the last entry counts those above every bound.
        var bucketCounts: [UInt64]
        var requests: UInt64 = 0
        var errors: UInt64 = 0
        var sumMicros: UInt64 = 0

        init(slots: Int, buckets: Int) {
            self.slots = Array(repeating: Slot(), count: slots)
            self.bucketCounts = Array(repeating: 0, count: buckets + 1)
        }

        mutating func record(latencyMicros: UInt64, error: Bool, interval: Int64, bucket: Int) {
            let position = Int(interval.modulo(Int64(slots.count)))
            slots.withUnsafeMutableBufferPointer { slots in
                if interval > slots[position].index {
                    // The ring came round: this slot's old interval has left the window.
                    slots[position].index = interval
                    slots[position].histogram?.reset()
                    slots[position].requests = 0
                    slots[position].errors = 0
                }
                // A late record for an interval whose slot was reused lands in the newer interval.
                if slots[position].histogram == nil {
                    slots[position].histogram = LatencyStats.makeHistogram()
                }
                slots[position].histogram!.record(min(latencyMicros, LatencyStats.highestTrackableMicros))
                slots[position].requests += 1
                if error { slots[position].errors += 1 }
            }
            bucketCounts[bucket] &+= 1
            requests &+= 1
            if error { errors &+= 1 }
            sumMicros &+= latencyMicros
        }

        mutating func prune(before oldest: Int64) {
            for position in slots.indices where slots[position].index < oldest {
                slots[position] = Slot()
            }
        }
    }

    private struct Window {
        var histograms: [Histogram<UInt32>] = []
        var requests = 0
        var errors = 0
    }

    private let state = Mutex<[String: [Int: Series]]>([:])
    private let origin: ContinuousClock.Instant
    private let intervalNanoseconds: Int64
    private let intervalCount: Int
    private let bucketBounds: [Double]
    private let bucketBoundsMicros: [UInt64]

    /// - Parameters:
    ///   - interval: how long each histogram in the ring covers; the window's granularity. At least 1 ms.
    ///   - intervals: how many intervals the ring holds; the longest window is `interval × intervals`.
    ///   - bucketBounds: Prometheus bucket upper bounds in seconds, ascending.
    ///   - origin: the time intervals are counted from.
    public init(
        interval: Duration = .seconds(5), intervals: Int = 12,
        bucketBounds: [Double] = LatencyStats.defaultBucketBounds,
        origin: ContinuousClock.Instant = .now
    ) {
        precondition(interval >= .milliseconds(1), "the interval must be at least 1 ms")
        precondition(intervals >= 1, "the ring needs at least one interval")
        precondition(zip(bucketBounds, bucketBounds.dropFirst()).allSatisfy(<), "bucket bounds must ascend")
        self.origin = origin
        self.intervalNanoseconds = interval.nanoseconds
        self.intervalCount = intervals
        self.bucketBounds = bucketBounds
        self.bucketBoundsMicros = bucketBounds.map { UInt64(max(0, ($0 * 1e6).rounded())) }
    }

    /// The longest window a snapshot can cover.
    public var maximumWindow: Duration { .nanoseconds(intervalNanoseconds * Int64(intervalCount)) }

    /// Records one request.
    ///
    /// - Parameters:
    ///   - endpoint: the deployment's endpoint name.
    ///   - version: the model version that served it.
    ///   - latencyMicros: how long it took, in microseconds.
    ///   - error: whether it failed; failed requests' latencies are recorded too.
    ///   - now: when it finished.
    public func record(endpoint: String, version: Int, latencyMicros: UInt64, error: Bool, now: ContinuousClock.Instant)
    {
        let interval = intervalIndex(now)
        let bucket = bucketBoundsMicros.firstIndex { latencyMicros <= $0 } ?? bucketBoundsMicros.count
        let slots = intervalCount
        let buckets = bucketBoundsMicros.count
        state.withLock { series in
            series[endpoint, default: [:]][version, default: Series(slots: slots, buckets: buckets)].record(
                latencyMicros: latencyMicros, error: error, interval: interval, bucket: bucket)
        }
    }

    /// An endpoint's statistics over the most recent `window`, per version and combined.
    ///
    /// - Parameters:
    ///   - window: how far back to look; rounded up to whole intervals (the newest one still filling) and
    ///     capped at ``maximumWindow``.
    ///   - now: the current time.
    /// - Returns: ``StatsSnapshot/empty`` figures when nothing was recorded in the window.
    public func snapshot(endpoint: String, window: Duration, now: ContinuousClock.Instant) -> EndpointStats {
        let current = intervalIndex(now)
        let window = min(window, maximumWindow)
        let windowIntervals = max(1, Int((window.nanoseconds + intervalNanoseconds - 1) / intervalNanoseconds))
        let oldest = current - Int64(windowIntervals) + 1
        // Copy the histograms out under the lock (copy-on-write makes that cheap) and merge them outside
        // it, so recorders are not held up by a merge.
        let windows: [Int: Window] = state.withLock { series in
            guard let versions = series[endpoint] else { return [:] }
            return versions.mapValues { series in
                var window = Window()
                for slot in series.slots where slot.index >= oldest && slot.index <= current {
                    if let histogram = slot.histogram { window.histograms.append(histogram) }
                    window.requests += slot.requests
                    window.errors += slot.errors
                }
                return window
            }
        }
        var combined = Self.makeHistogram()
        var combinedRequests = 0
        var combinedErrors = 0
        var versions: [Int: StatsSnapshot] = [:]
        for (version, window) in windows where window.requests > 0 {
            var merged = Self.makeHistogram()
            for histogram in window.histograms { merged.add(histogram) }
            versions[version] = Self.summary(merged, requests: window.requests, errors: window.errors)
            combined.add(merged)
            combinedRequests += window.requests
            combinedErrors += window.errors
        }
        return EndpointStats(
            endpoint: endpoint, window: .nanoseconds(intervalNanoseconds * Int64(windowIntervals)),
            combined: Self.summary(combined, requests: combinedRequests, errors: combinedErrors), versions: versions)
    }

    /// Cumulative bucket counts of every (endpoint, version) since start, sorted by endpoint then version.
    public func prometheusHistograms() -> [PrometheusHistogram] {
        let bounds = bucketBounds
        let histograms = state.withLock { series in
            series.flatMap { endpoint, versions in
                versions.map { version, series in
                    var running: UInt64 = 0
                    let cumulative = series.bucketCounts.dropLast().map { count in
                        running &+= count
                        return running
                    }
                    return PrometheusHistogram(
                        endpoint: endpoint, version: version, upperBounds: bounds, cumulativeCounts: cumulative,
                        count: series.requests, sum: Double(series.sumMicros) / 1e6, errors: series.errors)
                }
            }
        }
        return histograms.sorted { ($0.endpoint, $0.version) < ($1.endpoint, $1.version) }
    }

    /// Frees the histograms of intervals that have left the window; counts since start are kept.
    public func prune(now: ContinuousClock.Instant) {
        let oldest = intervalIndex(now) - Int64(intervalCount) + 1
        state.withLock { series in
            for endpoint in series.indices {
                for version in series.values[endpoint].indices {
                    series.values[endpoint].values[version].prune(before: oldest)
                }
            }
        }
    }

    /// Forgets everything about `endpoint`, e.g. when it is undeployed.
    public func remove(endpoint: String) {
        _ = state.withLock { $0.removeValue(forKey: endpoint) }
    }

    private func intervalIndex(_ now: ContinuousClock.Instant) -> Int64 {
        (now - origin).nanoseconds.floorDivided(by: intervalNanoseconds)
    }

    private static func makeHistogram() -> Histogram<UInt32> {
        Histogram(
            lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableMicros,
            numberOfSignificantValueDigits: .three)
    }

    private static func summary(_ histogram: Histogram<UInt32>, requests: Int, errors: Int) -> StatsSnapshot {
        guard requests > 0 else { return .empty }
        return StatsSnapshot(
            count: requests, errors: errors, p50Micros: histogram.valueAtPercentile(50),
            p95Micros: histogram.valueAtPercentile(95), p99Micros: histogram.valueAtPercentile(99),
            maxMicros: histogram.maxRecorded)
    }
}

extension Duration {
    /// Whole nanoseconds, rounded toward zero.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension Int64 {
    /// Division rounding toward negative infinity, so times before the origin fall in negative intervals.
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    /// The remainder with the divisor's sign: always in `0 ..< divisor` for a positive divisor.
    func modulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
