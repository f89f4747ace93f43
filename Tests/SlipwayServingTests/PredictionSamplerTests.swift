import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayServing

@Suite("Prediction sampler")
struct PredictionSamplerTests {
    static let t0 = ContinuousClock.now

    @Test("samples about the configured share, reproducibly for a seed")
    func rate() throws {
        func run() throws -> [Bool] {
            let sampler = try PredictionSampler(rate: 0.1, maxPerSecond: 1_000_000, random: SplitMix64(seed: 5))
            return (0..<50_000).map { _ in sampler.shouldSample(now: Self.t0) }
        }
        let first = try run()
        let share = Double(first.filter { $0 }.count) / Double(first.count)
        #expect(abs(share - 0.1) < 0.01)
        #expect(try run() == first)
    }

    @Test("rate 0 samples nothing, rate 1 everything up to the cap")
    func extremes() throws {
        let none = try PredictionSampler(rate: 0, maxPerSecond: 100, random: SplitMix64(seed: 1))
        #expect((0..<1_000).allSatisfy { _ in !none.shouldSample(now: Self.t0) })
        let all = try PredictionSampler(rate: 1, maxPerSecond: 100, random: SplitMix64(seed: 1))
        #expect((0..<100).allSatisfy { _ in all.shouldSample(now: Self.t0) })
        let capped = try PredictionSampler(rate: 1, maxPerSecond: 0, random: SplitMix64(seed: 1))
        #expect(!capped.shouldSample(now: Self.t0))
    }

    @Test("at most maxPerSecond are taken in a second; the next second starts afresh")
    func perSecondCap() throws {
        let sampler = try PredictionSampler(rate: 1, maxPerSecond: 5, random: SplitMix64(seed: 1))
        let first = (0..<20).filter { _ in sampler.shouldSample(now: Self.t0 + .milliseconds(100)) }
        #expect(first.count == 5)
        #expect(!sampler.shouldSample(now: Self.t0 + .milliseconds(1_099)))
        #expect(sampler.shouldSample(now: Self.t0 + .milliseconds(1_100)))

        try sampler.update(rate: 0, maxPerSecond: 5)
        #expect(!sampler.shouldSample(now: Self.t0 + .seconds(10)))
        #expect(sampler.rate == 0)
    }

    @Test("settings are validated")
    func validation() {
        #expect(throws: SlipwayError.self) { try PredictionSampler(rate: 1.5, maxPerSecond: 1) }
        #expect(throws: SlipwayError.self) { try PredictionSampler(rate: -0.1, maxPerSecond: 1) }
        #expect(throws: SlipwayError.self) { try PredictionSampler(rate: .nan, maxPerSecond: 1) }
        #expect(throws: SlipwayError.self) { try PredictionSampler(rate: 0.5, maxPerSecond: -1) }
    }
}
