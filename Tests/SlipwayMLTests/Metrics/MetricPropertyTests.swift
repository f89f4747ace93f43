import SlipwayCore
import Foundation
import SlipwayML
import Testing

/// Invariants every metric must keep, checked on seeded random inputs (small, so each test is quick).
@Suite("Metric properties")
struct MetricPropertyTests {
    static let caseCount = 200

    /// Random binary labels and probabilities on a coarse grid, so ties are common.
    struct BinaryCase {
        var labels: [Int]
        var probabilities: [Double]

        init(_ random: inout SeededGenerator) {
            let count = Int.random(in: 2...40, using: &random)
            let grid = Double([4, 10, 100, 1000].randomElement(using: &random)!)
            probabilities = (0..<count).map { _ in (random.nextUnit() * grid).rounded() / grid }
            labels = probabilities.map { random.nextUnit() < 0.2 + 0.6 * $0 ? 1 : 0 }
            // Both classes present, so every metric is defined.
            labels[0] = 0
            labels[1] = 1
        }
    }

    struct MulticlassCase {
        var labels: [Int]
        var probabilities: [[Double]]

        init(_ random: inout SeededGenerator) {
            let classCount = Int.random(in: 2...5, using: &random)
            let count = Int.random(in: classCount...40, using: &random)
            probabilities = (0..<count).map { _ in
                let weights = (0..<classCount).map { _ in (random.nextUnit() * 4).rounded() + 0.5 }
                let total = weights.reduce(0, +)
                return weights.map { $0 / total }
            }
            labels = (0..<count).map { _ in Int.random(in: 0..<classCount, using: &random) }
        }
    }

    struct RegressionCase {
        var labels: [Double]
        var predictions: [Double]

        init(_ random: inout SeededGenerator) {
            let count = Int.random(in: 1...40, using: &random)
            labels = (0..<count).map { _ in (random.nextUnit() * 20 - 10).rounded() }
            predictions = labels.map { $0 + (random.nextUnit() - 0.5) * 6 }
        }
    }

    struct RankingCase {
        var rankings: [[Int]]
        var relevant: [Set<Int>]
        var k: Int

        init(_ random: inout SeededGenerator) {
            let catalogue = Int.random(in: 3...20, using: &random)
            let users = Int.random(in: 1...8, using: &random)
            rankings = (0..<users).map { _ in
                Array(
                    Array(0..<catalogue).shuffled(using: &random).prefix(Int.random(in: 1...catalogue, using: &random)))
            }
            relevant = (0..<users).map { _ in
                Set((0..<catalogue).filter { _ in random.nextUnit() < 0.3 })
            }
            relevant[0].insert(rankings[0].last!)  // at least one user counts
            k = Int.random(in: 1...catalogue + 2, using: &random)
        }
    }

    @Test("ROC AUC is unchanged by strictly increasing transforms of the scores")
    func aucMonotoneInvariance() throws {
        var random = SeededGenerator(seed: 1)
        for _ in 0..<Self.caseCount {
            let test = BinaryCase(&random)
            let auc = try #require(try ClassificationMetrics.rocAUC(labels: test.labels, scores: test.probabilities))
            let transforms: [(Double) -> Double] = [
                { 3 * $0 - 7 }, { exp(4 * $0) }, { $0 * $0 * $0 + $0 }, { log($0 + 0.01) },
            ]
            for transform in transforms {
                let moved = try ClassificationMetrics.rocAUC(
                    labels: test.labels, scores: test.probabilities.map(transform))
                expectClose(moved, auc, tolerance: 1e-12, "transformed AUC")
            }
            let ap = try ClassificationMetrics.averagePrecision(labels: test.labels, scores: test.probabilities)
            let movedAP = try ClassificationMetrics.averagePrecision(
                labels: test.labels, scores: test.probabilities.map { exp(4 * $0) })
            expectClose(movedAP, ap, tolerance: 1e-12, "transformed average precision")
        }
    }

    @Test("ROC AUC of 1 − p is 1 − AUC(p), and equals the pairwise win rate")
    func aucComplementAndPairwise() throws {
        var random = SeededGenerator(seed: 2)
        for _ in 0..<Self.caseCount {
            let test = BinaryCase(&random)
            let auc = try #require(try ClassificationMetrics.rocAUC(labels: test.labels, scores: test.probabilities))
            let flipped = try ClassificationMetrics.rocAUC(
                labels: test.labels, scores: test.probabilities.map { 1 - $0 })
            expectClose(flipped, 1 - auc, tolerance: 1e-12, "AUC(1 - p)")

            var wins = 0.0
            var pairs = 0.0
            for (i, positive) in test.probabilities.enumerated() where test.labels[i] == 1 {
                for (j, negative) in test.probabilities.enumerated() where test.labels[j] == 0 {
                    wins += positive > negative ? 1 : positive == negative ? 0.5 : 0
                    pairs += 1
                }
            }
            expectClose(auc, wins / pairs, tolerance: 1e-12, "AUC vs pairwise")
        }
    }

    @Test("binary metrics stay in range, F1 is the harmonic mean, the confusion matrix sums to n")
    func binaryRangesAndIdentities() throws {
        var random = SeededGenerator(seed: 3)
        for _ in 0..<Self.caseCount {
            let test = BinaryCase(&random)
            let threshold = random.nextUnit()
            let report = try ClassificationMetrics.binary(
                labels: test.labels, probabilities: test.probabilities, threshold: threshold)
            for (name, value) in report.values where name != "log_loss" {
                #expect((0...1).contains(value), "\(name) = \(value)")
            }
            #expect(report.logLoss >= 0)
            let p = report.precision
            let r = report.recall
            expectClose(report.f1, p + r > 0 ? 2 * p * r / (p + r) : 0, tolerance: 1e-12, "F1")
            #expect(report.confusionMatrix.total == test.labels.count)
            #expect(report.confusionMatrix.actualCount(of: 1) == report.positiveCount)
        }
    }

    @Test("multiclass metrics stay in range and agree with the binary report for two classes")
    func multiclassRangesAndBinaryAgreement() throws {
        var random = SeededGenerator(seed: 4)
        for _ in 0..<Self.caseCount {
            let test = MulticlassCase(&random)
            let report = try ClassificationMetrics.multiclass(labels: test.labels, probabilities: test.probabilities)
            for (name, value) in report.values where name != "log_loss" && name != "brier_score" {
                #expect((0...1).contains(value), "\(name) = \(value)")
            }
            #expect((0...2).contains(report.brierScore))
            #expect(report.logLoss >= 0)
            #expect(report.confusionMatrix.total == test.labels.count)
            for entry in report.classes {
                let p = entry.precision
                let r = entry.recall
                expectClose(entry.f1, p + r > 0 ? 2 * p * r / (p + r) : 0, tolerance: 1e-12, "class F1")
                #expect(entry.support == report.confusionMatrix.actualCount(of: entry.label))
            }

            guard report.classCount == 2 else { continue }
            // Two columns describe the same predictions as the probability of class 1.
            let binary = try ClassificationMetrics.binary(
                labels: test.labels, probabilities: test.probabilities.map { $0[1] })
            expectClose(report.rocAUC, binary.rocAUC, tolerance: 1e-12, "two-class AUC")
            expectClose(report.logLoss, binary.logLoss, tolerance: 1e-12, "two-class log loss")
            expectClose(report.brierScore, binary.brierScore, tolerance: 1e-12, "two-class Brier")
        }
    }

    @Test("perfect predictions score perfectly")
    func perfectPredictions() throws {
        var random = SeededGenerator(seed: 5)
        for _ in 0..<Self.caseCount {
            let binary = BinaryCase(&random)
            let labelsAsProbabilities = binary.labels.map(Double.init)
            let report = try ClassificationMetrics.binary(labels: binary.labels, probabilities: labelsAsProbabilities)
            #expect(report.rocAUC == 1)
            #expect(report.averagePrecision == 1)
            #expect(report.accuracy == 1)
            #expect(report.f1 == 1)
            #expect(report.logLoss < 1e-12)
            #expect(report.brierScore == 0)

            let multiclass = MulticlassCase(&random)
            let oneHot = multiclass.labels.map { label in
                (0..<multiclass.probabilities[0].count).map { $0 == label ? 1.0 : 0.0 }
            }
            let multiReport = try ClassificationMetrics.multiclass(labels: multiclass.labels, probabilities: oneHot)
            #expect(multiReport.accuracy == 1)
            #expect(multiReport.macroF1 == 1)
            #expect(multiReport.rocAUC == nil || multiReport.rocAUC == 1)
            #expect(multiReport.logLoss < 1e-12)

            let regression = RegressionCase(&random)
            let regressionReport = try RegressionMetrics.report(
                labels: regression.labels, predictions: regression.labels)
            #expect(regressionReport.rmse == 0)
            #expect(regressionReport.mae == 0)
            #expect(regressionReport.r2 == 1)

            // Each user's relevant items first, then the rest.
            let ranking = RankingCase(&random)
            let ideal = zip(ranking.rankings, ranking.relevant).map { items, relevant in
                relevant.sorted() + items.filter { !relevant.contains($0) }
            }
            let rankingReport = try RankingMetrics.report(rankings: ideal, relevant: ranking.relevant, k: ranking.k)
            expectClose(rankingReport.ndcgAtK, 1, tolerance: 1e-12, "ideal NDCG")
            expectClose(rankingReport.mapAtK, 1, tolerance: 1e-12, "ideal MAP")
        }
    }

    @Test("permuting rows (or users) leaves every metric unchanged")
    func permutationInvariance() throws {
        var random = SeededGenerator(seed: 6)
        for _ in 0..<Self.caseCount {
            let binary = BinaryCase(&random)
            var order = Array(binary.labels.indices).shuffled(using: &random)
            expectClose(
                try ClassificationMetrics.binary(
                    labels: order.map { binary.labels[$0] }, probabilities: order.map { binary.probabilities[$0] }
                ).values,
                try ClassificationMetrics.binary(labels: binary.labels, probabilities: binary.probabilities).values,
                tolerance: 1e-12, "binary")

            let multiclass = MulticlassCase(&random)
            order = Array(multiclass.labels.indices).shuffled(using: &random)
            let shuffled = try ClassificationMetrics.multiclass(
                labels: order.map { multiclass.labels[$0] }, probabilities: order.map { multiclass.probabilities[$0] })
            let original = try ClassificationMetrics.multiclass(
                labels: multiclass.labels, probabilities: multiclass.probabilities)
            expectClose(shuffled.values, original.values, tolerance: 1e-12, "multiclass")
            #expect(shuffled.confusionMatrix == original.confusionMatrix)

            let regression = RegressionCase(&random)
            order = Array(regression.labels.indices).shuffled(using: &random)
            expectClose(
                try RegressionMetrics.report(
                    labels: order.map { regression.labels[$0] }, predictions: order.map { regression.predictions[$0] }
                ).values,
                try RegressionMetrics.report(labels: regression.labels, predictions: regression.predictions).values,
                tolerance: 1e-9, "regression")

            let ranking = RankingCase(&random)
            order = Array(ranking.rankings.indices).shuffled(using: &random)
            expectClose(
                try RankingMetrics.report(
                    rankings: order.map { ranking.rankings[$0] }, relevant: order.map { ranking.relevant[$0] },
                    k: ranking.k
                ).values,
                try RankingMetrics.report(rankings: ranking.rankings, relevant: ranking.relevant, k: ranking.k).values,
                tolerance: 1e-12, "ranking")
        }
    }

    @Test("regression: MAE ≤ RMSE, R² ≤ 1, RMSE = √MSE")
    func regressionInequalities() throws {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<Self.caseCount {
            let test = RegressionCase(&random)
            let report = try RegressionMetrics.report(labels: test.labels, predictions: test.predictions)
            #expect(report.mae <= report.rmse + 1e-12)
            #expect(report.r2 <= 1)
            #expect(abs(report.rmse * report.rmse - report.mse) <= 1e-9 * max(1, report.mse))
        }
    }

    @Test("ranking metrics stay in [0, 1] and recall@k never falls as k grows")
    func rankingRanges() throws {
        var random = SeededGenerator(seed: 8)
        for _ in 0..<Self.caseCount {
            let test = RankingCase(&random)
            let report = try RankingMetrics.report(rankings: test.rankings, relevant: test.relevant, k: test.k)
            for (name, value) in report.values {
                #expect((0...1 + 1e-12).contains(value), "\(name) = \(value)")
            }
            #expect(report.userCount + report.skippedUserCount == test.rankings.count)
            // Larger k never lowers recall.
            let wider = try RankingMetrics.report(rankings: test.rankings, relevant: test.relevant, k: test.k + 1)
            #expect(wider.recallAtK >= report.recallAtK - 1e-12)
        }
    }

    @Test("single-query NDCG does not depend on how tied documents are ordered")
    func ndcgTieOrderInvariance() throws {
        var random = SeededGenerator(seed: 9)
        for _ in 0..<Self.caseCount {
            let count = Int.random(in: 2...30, using: &random)
            let gains = (0..<count).map { _ in Double(Int.random(in: 0...3, using: &random)) }
            let scores = (0..<count).map { _ in Double(Int.random(in: 0...4, using: &random)) }
            let k = Int.random(in: 1...count, using: &random)
            let order = Array(0..<count).shuffled(using: &random)
            let value = try RankingMetrics.ndcg(gains: gains, scores: scores, k: k)
            let shuffled = try RankingMetrics.ndcg(
                gains: order.map { gains[$0] }, scores: order.map { scores[$0] }, k: k)
            expectClose(shuffled, value, tolerance: 1e-12, "shuffled NDCG")
            if let value { #expect((0...1 + 1e-12).contains(value)) }
        }
    }
}
