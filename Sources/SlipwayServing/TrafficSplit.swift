import SlipwayCore

/// How a deployment divides its requests among model versions, e.g. 90 % to version 3 and 10 % to a
/// canary version 4.
///
/// Weights are relative integers (90/10 and 9/1 split alike). ``pick(_:)`` maps a random 64-bit number
/// onto the cumulative weights, so the choice is a pure function of that number: inject a seeded
/// generator in tests, or hash a request or user id for sticky routing. On the hot path draw from a fast
/// seeded generator: `SystemRandomNumberGenerator` costs about 0.5 µs a draw on Linux.
///
/// ```swift
/// let split = try TrafficSplit([(version: 3, weight: 90), (version: 4, weight: 10)])
/// let version = split.pick(random.next())
/// ```
public struct TrafficSplit: Sendable, Equatable {
    /// One version and its share of the traffic.
    public struct Route: Sendable, Equatable {
        public let version: Int
        public let weight: Int
    }

    /// The versions in the order given, with their weights.
    public let routes: [Route]
    /// Running totals of the weights: `cumulative[i]` is the sum of `routes[0...i].weight`.
    private let cumulative: [UInt64]

    /// The sum of all weights.
    public var totalWeight: UInt64 { cumulative.last ?? 0 }

    /// - Parameter routes: versions (positive, each listed once) and weights (0 or more, not all 0).
    /// - Throws: ``SlipwayError`` (400, `invalid_traffic_split`) naming the offending entry.
    public init(_ routes: [(version: Int, weight: Int)]) throws(SlipwayError) {
        guard !routes.isEmpty else {
            throw .badRequest("a traffic split needs at least one version", code: "invalid_traffic_split")
        }
        var seen = Set<Int>()
        var cumulative: [UInt64] = []
        cumulative.reserveCapacity(routes.count)
        var total: UInt64 = 0
        for (version, weight) in routes {
            guard version >= 1 else {
                throw .badRequest(
                    "traffic split versions are positive version numbers, got \(version)", code: "invalid_traffic_split"
                )
            }
            guard seen.insert(version).inserted else {
                throw .badRequest(
                    "version \(version) appears twice in the traffic split; list each version once",
                    code: "invalid_traffic_split")
            }
            guard weight >= 0 else {
                throw .badRequest(
                    "version \(version) has weight \(weight); weights must be 0 or more", code: "invalid_traffic_split")
            }
            let (sum, overflow) = total.addingReportingOverflow(UInt64(weight))
            guard !overflow else {
                throw .badRequest("the traffic split's weights are too large", code: "invalid_traffic_split")
            }
            total = sum
            cumulative.append(total)
        }
        guard total > 0 else {
            throw .badRequest(
                "the traffic split's weights are all 0; give at least one version a positive weight",
                code: "invalid_traffic_split")
        }
        self.routes = routes.map { Route(version: $0.version, weight: $0.weight) }
        self.cumulative = cumulative
    }

    /// All traffic to one version.
    public static func single(version: Int) throws(SlipwayError) -> TrafficSplit {
        try TrafficSplit([(version: version, weight: 1)])
    }

    /// The versions that receive traffic (weight above 0), in the order given.
    public var activeVersions: [Int] { routes.filter { $0.weight > 0 }.map(\.version) }

    /// The version for one request.
    ///
    /// - Parameter random: a uniformly distributed number; the same number always picks the same version.
    /// - Returns: version `i` for a share of `weight(i) / totalWeight` of all possible numbers.
    public func pick(_ random: UInt64) -> Int {
        // Scale into 0 ..< total with a multiply-high instead of `%`: no division, and no bias beyond
        // total / 2^64.
        let point = random.multipliedFullWidth(by: totalWeight).high
        for index in cumulative.indices where point < cumulative[index] {
            return routes[index].version
        }
        return routes[routes.count - 1].version  // unreachable: point < total == cumulative.last
    }

    /// The version for one request, drawing from `generator`.
    public func pick(using generator: inout some RandomNumberGenerator) -> Int {
        pick(generator.next())
    }
}
