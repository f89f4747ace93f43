import Foundation
import SlipwayCore

/// Top-k ranking metrics averaged over users (or queries); see
/// ``RankingMetrics/report(rankings:relevant:k:)`` for the conventions.
public struct RankingReport: Sendable, Codable, Equatable {
    /// The cut-off: only the first `k` items of each ranking count.
    public var k: Int
    /// Users averaged over: those with at least one relevant item.
    public var userCount: Int
    /// Users left out because they have no relevant item.
    public var skippedUserCount: Int
    /// Mean of `hits@k / k`.
    public var precisionAtK: Double
    /// Mean of `hits@k / |relevant|`.
    public var recallAtK: Double
    /// Mean NDCG@k (linear gains, `1 / log2(position + 1)` discount).
    public var ndcgAtK: Double
    /// Mean average precision at k, each user's sum divided by `min(k, |relevant|)`.
    public var mapAtK: Double

    public init(
        k: Int, userCount: Int, skippedUserCount: Int, precisionAtK: Double, recallAtK: Double, ndcgAtK: Double,
        mapAtK: Double
    ) {
        self.k = k
        self.userCount = userCount
        self.skippedUserCount = skippedUserCount
        self.precisionAtK = precisionAtK
        self.recallAtK = recallAtK
        self.ndcgAtK = ndcgAtK
        self.mapAtK = mapAtK
    }

    /// The metrics by the names the registry stores, with k in the name: `precision_at_10`,
    /// `recall_at_10`, `ndcg_at_10`, `map_at_10`.
    public var values: [String: Double] {
        [
            "precision_at_\(k)": precisionAtK, "recall_at_\(k)": recallAtK, "ndcg_at_\(k)": ndcgAtK,
            "map_at_\(k)": mapAtK,
        ]
    }
}

/// Ranking and recommendation metrics: precision@k, recall@k, NDCG@k and MAP@k.
///
/// Conventions, per user, for a ranked list `r` (best first), the relevant set `R` and cut-off `k`:
/// - `hits` counts the relevant items among the first `k` of `r`. A list shorter than `k` is scored
///   as if padded with irrelevant items, so precision@k is always `hits / k`.
/// - recall@k is `hits / |R|` (not `/ min(k, |R|)`), as in TorchMetrics, RecBole and most papers; it
///   cannot reach 1 when `|R| > k`.
/// - AP@k is `Σ_{i ≤ k, r_i ∈ R} precision@i / min(k, |R|)`, as `ml_metrics.apk` (the usual MAP@k);
///   MAP@k is its mean over users.
/// - NDCG@k uses linear gains and the discount `1 / log2(i + 1)` for position `i` (1-based), as
///   scikit-learn's `ndcg_score`; the ideal DCG ranks all of the user's relevant items, including any
///   missing from `r`. With a full ranking of the catalogue it equals `ndcg_score(…, k=k)` for that user.
/// - Users with no relevant item are skipped (every metric is 0/0 for them) and counted in
///   ``RankingReport/skippedUserCount``.
/// - A ranking must not list an item twice.
public enum RankingMetrics {
    /// Scores rankings against sets of relevant items (binary relevance).
    ///
    /// - Parameters:
    ///   - rankings: per user, recommended item ids, best first.
    ///   - relevant: per user (same order), the items that are relevant, e.g. held-out interactions.
    ///   - k: the cut-off, at least 1.
    /// - Throws: `SlipwayError.badRequest` when there are no users, the arrays differ in length, `k < 1`,
    ///   a ranking lists an item twice, or no user has a relevant item.
    ///
    /// ```swift
    /// let report = try RankingMetrics.report(rankings: [["a", "b", "c"]], relevant: [["b"]], k: 2)
    /// report.precisionAtK  // 0.5
    /// report.values["ndcg_at_2"]  // 1 / log2(3) ≈ 0.631
    /// ```
    public static func report<Item: Hashable>(
        rankings: [[Item]], relevant: [Set<Item>], k: Int
    ) throws(SlipwayError) -> RankingReport {
        let gains = relevant.map { items in Dictionary(uniqueKeysWithValues: items.map { ($0, 1.0) }) }
        return try report(rankings: rankings, gains: gains, k: k)
    }

    /// Scores rankings against graded relevance: NDCG@k uses the gains, while precision, recall and
    /// MAP treat an item as relevant when its gain is positive. Items absent from `gains` have gain 0.
    ///
    /// - Parameters:
    ///   - rankings: per user, recommended item ids, best first.
    ///   - gains: per user (same order), each item's non-negative, finite gain (e.g. a rating).
    ///   - k: the cut-off, at least 1.
    /// - Throws: as ``report(rankings:relevant:k:)``, and when a gain is negative or not finite.
    public static func report<Item: Hashable>(
        rankings: [[Item]], gains: [[Item: Double]], k: Int
    ) throws(SlipwayError) -> RankingReport {
        guard !rankings.isEmpty else { throw MetricInput.fail("no rankings to score") }
        guard rankings.count == gains.count else {
            throw MetricInput.fail(
                "\(rankings.count) rankings but \(gains.count) relevance entries; pass one per user, in the same order")
        }
        guard k >= 1 else { throw MetricInput.fail("k must be at least 1, got \(k)") }

        var totals = UserScores(precision: 0, recall: 0, ndcg: 0, averagePrecision: 0)
        var userCount = 0
        for (user, (ranking, userGains)) in zip(rankings, gains).enumerated() {
            guard Set(ranking).count == ranking.count else {
                throw MetricInput.fail("ranking \(user) lists an item more than once")
            }
            if let bad = userGains.values.first(where: { !($0 >= 0 && $0.isFinite) }) {
                throw MetricInput.fail("user \(user) has gain \(bad); gains must be finite and not negative")
            }
            guard let scores = UserScores(ranking: ranking, gains: userGains, k: k) else { continue }
            userCount += 1
            totals.precision += scores.precision
            totals.recall += scores.recall
            totals.ndcg += scores.ndcg
            totals.averagePrecision += scores.averagePrecision
        }
        guard userCount > 0 else {
            throw MetricInput.fail("none of the \(rankings.count) users has a relevant item, so nothing can be scored")
        }
        let users = Double(userCount)
        return RankingReport(
            k: k, userCount: userCount, skippedUserCount: rankings.count - userCount,
            precisionAtK: totals.precision / users, recallAtK: totals.recall / users, ndcgAtK: totals.ndcg / users,
            mapAtK: totals.averagePrecision / users)
    }

    /// NDCG of one query from per-document gains and scores, exactly as scikit-learn's
    /// `ndcg_score([gains], [scores], k=k)`: documents with tied scores share the average of their
    /// gains (`ignore_ties=False`), so the result does not depend on how ties are ordered.
    ///
    /// - Parameters:
    ///   - gains: the true, non-negative gain of each document.
    ///   - scores: the predicted score of each document; higher ranks first.
    ///   - k: only the first `k` positions count; nil for all.
    /// - Returns: NDCG in `[0, 1]`, or nil when every gain is 0 (scikit-learn returns 0 then).
    /// - Throws: `SlipwayError.badRequest` for empty or mismatched arrays, negative or non-finite gains,
    ///   non-finite scores, or `k < 1`.
    public static func ndcg(gains: [Double], scores: [Double], k: Int? = nil) throws(SlipwayError) -> Double? {
        guard !gains.isEmpty else { throw MetricInput.fail("no documents to score: gains are empty") }
        guard gains.count == scores.count else {
            throw MetricInput.fail("\(gains.count) gains but \(scores.count) scores; they must be the same length")
        }
        if let bad = gains.first(where: { !($0 >= 0 && $0.isFinite) }) {
            throw MetricInput.fail("gain \(bad) is negative or not finite")
        }
        try MetricInput.requireFinite(scores, name: "score")
        if let k, k < 1 { throw MetricInput.fail("k must be at least 1, got \(k)") }
        let cutoff = min(k ?? gains.count, gains.count)

        let ideal = discountedGain(gains.sorted(by: >).prefix(cutoff))
        guard ideal > 0 else { return nil }

        // Walk tie groups in decreasing score order; a group spreads its mean gain over its positions.
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var dcg = 0.0
        var start = 0
        while start < cutoff {
            var end = start + 1
            while end < order.count, scores[order[end]] == scores[order[start]] { end += 1 }
            let meanGain = order[start..<end].reduce(0) { $0 + gains[$1] } / Double(end - start)
            for position in start..<min(end, cutoff) { dcg += meanGain * discount(position) }
            start = end
        }
        return dcg / ideal
    }

    /// The discount at 0-based `position`: `1 / log2(position + 2)`.
    static func discount(_ position: Int) -> Double { 1 / Foundation.log2(Double(position + 2)) }

    static func discountedGain(_ gains: some Sequence<Double>) -> Double {
        gains.enumerated().reduce(0) { $0 + $1.element * discount($1.offset) }
    }
}

/// One user's metrics at k.
private struct UserScores {
    var precision: Double
    var recall: Double
    var ndcg: Double
    var averagePrecision: Double
}

extension UserScores {
    /// Nil when the user has no relevant item.
    init?<Item: Hashable>(ranking: [Item], gains: [Item: Double], k: Int) {
        let relevantCount = gains.values.count { $0 > 0 }
        guard relevantCount > 0 else { return nil }
        var hits = 0
        var precisionSum = 0.0
        var dcg = 0.0
        for (position, item) in ranking.prefix(k).enumerated() {
            let gain = gains[item] ?? 0
            guard gain > 0 else { continue }
            hits += 1
            precisionSum += Double(hits) / Double(position + 1)
            dcg += gain * RankingMetrics.discount(position)
        }
        let ideal = RankingMetrics.discountedGain(gains.values.filter { $0 > 0 }.sorted(by: >).prefix(k))
        precision = Double(hits) / Double(k)
        recall = Double(hits) / Double(relevantCount)
        ndcg = dcg / ideal
        averagePrecision = precisionSum / Double(min(k, relevantCount))
    }
}
