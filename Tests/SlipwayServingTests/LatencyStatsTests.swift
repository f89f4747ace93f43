import Testing

@testable import SlipwayServing

@Suite("Latency statistics")
struct LatencyStatsTests {
    static let t0 = ContinuousClock.now

    static func stats() -> LatencyStats {
        LatencyStats(interval: .seconds(5), intervals: 12, origin: t0)
    }

    @Test("percentiles of known latencies are exact below 2 ms")
    func knownPercentiles() {
        let stats = Self.stats()
        for micros in 1...1_000 as ClosedRange<UInt64> {
            stats.record(endpoint: "fraud", version: 1, latencyMicros: micros, error: micros % 100 == 0, now: Self.t0)
        }
        let snapshot = stats.snapshot(endpoint: "fraud", window: .seconds(60), now: Self.t0 + .seconds(1))
        #expect(snapshot.combined.count == 1_000)
        #expect(snapshot.combined.errors == 10)
        #expect(snapshot.combined.errorRate == 0.01)
        #expect(snapshot.combined.p50Micros == 500)
        #expect(snapshot.combined.p95Micros == 950)
        #expect(snapshot.combined.p99Micros == 990)
        #expect(snapshot.combined.maxMicros == 1_000)
        #expect(snapshot.versions == [1: snapshot.combined])
    }

    @Test("large latencies are within 0.1 %, and those beyond 60 s count as 60 s")
    func largeValues() {
        let stats = Self.stats()
        stats.record(endpoint: "e", version: 1, latencyMicros: 1_234_567, error: false, now: Self.t0)
        stats.record(endpoint: "e", version: 1, latencyMicros: 90_000_000, error: true, now: Self.t0)
        let snapshot = stats.snapshot(endpoint: "e", window: .seconds(5), now: Self.t0).combined
        #expect(abs(Double(snapshot.p50Micros) - 1_234_567) / 1_234_567 < 0.001)
        #expect(snapshot.maxMicros == LatencyStats.highestTrackableMicros)
    }

    @Test("versions are reported apart and combined")
    func perVersion() {
        let stats = Self.stats()
        for _ in 0..<90 { stats.record(endpoint: "fraud", version: 3, latencyMicros: 100, error: false, now: Self.t0) }
        for _ in 0..<10 { stats.record(endpoint: "fraud", version: 4, latencyMicros: 900, error: true, now: Self.t0) }
        stats.record(endpoint: "other", version: 1, latencyMicros: 5, error: false, now: Self.t0)
        let snapshot = stats.snapshot(endpoint: "fraud", window: .seconds(60), now: Self.t0)
        #expect(snapshot.versions[3]?.count == 90)
        #expect(snapshot.versions[3]?.p99Micros == 100)
        #expect(snapshot.versions[4]?.errorRate == 1)
        #expect(snapshot.versions[4]?.p50Micros == 900)
        #expect(snapshot.combined.count == 100)
        #expect(snapshot.combined.errors == 10)
        #expect(snapshot.combined.p50Micros == 100)
        #expect(snapshot.combined.p95Micros == 900)
        #expect(snapshot.combined.maxMicros == 900)
        #expect(stats.snapshot(endpoint: "missing", window: .seconds(60), now: Self.t0).combined == .empty)
    }

    @Test("a snapshot covers only the intervals of its window")
    func windowSelection() {
        let stats = Self.stats()
        stats.record(endpoint: "e", version: 1, latencyMicros: 100, error: false, now: Self.t0 + .seconds(1))
        stats.record(endpoint: "e", version: 1, latencyMicros: 200, error: false, now: Self.t0 + .seconds(26))
        let now = Self.t0 + .seconds(27)
        let recent = stats.snapshot(endpoint: "e", window: .seconds(5), now: now)
        #expect(recent.combined.count == 1)
        #expect(recent.combined.maxMicros == 200)
        #expect(recent.window == .seconds(5))
        #expect(stats.snapshot(endpoint: "e", window: .seconds(30), now: now).combined.count == 2)
        #expect(stats.snapshot(endpoint: "e", window: .seconds(3_600), now: now).window == .seconds(60))
    }

    @Test("data older than the ring expires, and a reused interval starts empty")
    func expiry() {
        let stats = Self.stats()
        stats.record(endpoint: "e", version: 1, latencyMicros: 700, error: true, now: Self.t0)
        #expect(stats.snapshot(endpoint: "e", window: .seconds(60), now: Self.t0 + .seconds(59)).combined.count == 1)
        #expect(stats.snapshot(endpoint: "e", window: .seconds(60), now: Self.t0 + .seconds(61)).combined == .empty)

        // Interval 12 reuses interval 0's slot.
        stats.record(endpoint: "e", version: 1, latencyMicros: 50, error: false, now: Self.t0 + .seconds(60))
        let snapshot = stats.snapshot(endpoint: "e", window: .seconds(60), now: Self.t0 + .seconds(61)).combined
        #expect(snapshot.count == 1 && snapshot.errors == 0 && snapshot.maxMicros == 50)

        stats.prune(now: Self.t0 + .seconds(200))
        #expect(stats.snapshot(endpoint: "e", window: .seconds(60), now: Self.t0 + .seconds(200)).combined == .empty)
        #expect(stats.prometheusHistograms().first?.count == 2)  // counts since start survive pruning
    }

    @Test("Prometheus buckets are cumulative since start, per endpoint and version")
    func prometheus() {
        let stats = Self.stats()
        for (micros, error) in [(300, false), (700, false), (2_000, true), (20_000_000, false)] as [(UInt64, Bool)] {
            stats.record(endpoint: "fraud", version: 2, latencyMicros: micros, error: error, now: Self.t0)
        }
        stats.record(endpoint: "fraud", version: 1, latencyMicros: 500, error: false, now: Self.t0 + .seconds(600))
        stats.record(endpoint: "alpha", version: 1, latencyMicros: 1, error: false, now: Self.t0)

        let histograms = stats.prometheusHistograms()
        #expect(histograms.map { "\($0.endpoint)/\($0.version)" } == ["alpha/1", "fraud/1", "fraud/2"])
        let fraud2 = histograms[2]
        #expect(fraud2.upperBounds == LatencyStats.defaultBucketBounds)
        #expect(fraud2.cumulativeCounts == [1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3])
        #expect(fraud2.count == 4)
        #expect(fraud2.errors == 1)
        #expect(abs(fraud2.sum - 20.003) < 1e-9)
        #expect(histograms[1].cumulativeCounts.first == 1)  // 500 µs is ≤ 0.0005 s

        stats.remove(endpoint: "fraud")
        #expect(stats.prometheusHistograms().count == 1)
    }
}
