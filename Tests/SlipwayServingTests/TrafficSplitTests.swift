import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayServing

@Suite("Traffic split")
struct TrafficSplitTests {
    @Test("a 90/10 split sends about 90 % and 10 % of seeded draws")
    func ninetyTen() throws {
        let split = try TrafficSplit([(version: 3, weight: 90), (version: 4, weight: 10)])
        var random = SplitMix64(seed: 7)
        var counts: [Int: Int] = [:]
        let draws = 100_000
        for _ in 0..<draws { counts[split.pick(using: &random), default: 0] += 1 }
        #expect(Set(counts.keys) == [3, 4])
        let canaryShare = Double(counts[4]!) / Double(draws)
        #expect(abs(canaryShare - 0.10) < 0.005)
    }

    @Test("the choice is a pure function of the number drawn")
    func deterministic() throws {
        let split = try TrafficSplit([(version: 1, weight: 1), (version: 2, weight: 1), (version: 5, weight: 2)])
        #expect(split.pick(0) == 1)
        #expect(split.pick(UInt64.max / 4) == 1)
        #expect(split.pick(UInt64.max / 4 + 1) == 2)
        #expect(split.pick(UInt64.max / 2 + 1) == 5)
        #expect(split.pick(.max) == 5)
        var first = SplitMix64(seed: 99)
        var second = SplitMix64(seed: 99)
        let a = (0..<100).map { _ in split.pick(using: &first) }
        let b = (0..<100).map { _ in split.pick(using: &second) }
        #expect(a == b)
        #expect(split.totalWeight == 4)
    }

    @Test("a version with weight 0 is never picked")
    func zeroWeight() throws {
        let split = try TrafficSplit([(version: 1, weight: 0), (version: 2, weight: 5), (version: 3, weight: 0)])
        var random = SplitMix64(seed: 1)
        #expect((0..<10_000).allSatisfy { _ in split.pick(using: &random) == 2 })
        #expect(split.pick(0) == 2 && split.pick(.max) == 2)
        #expect(split.activeVersions == [2])
        #expect(try TrafficSplit.single(version: 8).pick(12_345) == 8)
    }

    @Test(
        "invalid splits are refused with a reason",
        arguments: [
            ([], "at least one version"),
            ([(version: 1, weight: -1)], "weights must be 0 or more"),
            ([(version: 1, weight: 0), (version: 2, weight: 0)], "all 0"),
            ([(version: 1, weight: 1), (version: 1, weight: 2)], "appears twice"),
            ([(version: 0, weight: 1)], "positive version numbers"),
            ([(version: 1, weight: Int.max), (version: 2, weight: Int.max), (version: 3, weight: 2)], "too large"),
        ] as [([(version: Int, weight: Int)], String)])
    func invalid(routes: [(version: Int, weight: Int)], reason: String) {
        let error = #expect(throws: SlipwayError.self) { try TrafficSplit(routes) }
        #expect(error?.code == "invalid_traffic_split")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }
}
