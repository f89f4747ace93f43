import Foundation
import SlipwayML
import Testing

@Suite("Ranking metrics")
struct RankingMetricsTests {
    @Test("reports match scikit-learn's ndcg_score and the ml_metrics definitions on the fixtures")
    func reportsMatchReference() throws {
        let fixture = try MetricFixtures.load("ranking.json", as: MetricFixtures.Ranking.self)
        #expect(fixture.reports.count >= 4)
        for test in fixture.reports {
            let report: RankingReport
            if test.graded {
                report = try RankingMetrics.report(rankings: test.rankings, gains: test.gains, k: test.k)
            } else {
                let relevant = test.gains.map { Set($0.keys) }
                report = try RankingMetrics.report(rankings: test.rankings, relevant: relevant, k: test.k)
            }
            #expect(Double(report.userCount) == test.expected["user_count"], "\(test.name)")
            #expect(Double(report.skippedUserCount) == test.expected["skipped_user_count"], "\(test.name)")
            expectClose(report.precisionAtK, test.expected["precision_at_k"], "\(test.name) precision")
            expectClose(report.recallAtK, test.expected["recall_at_k"], "\(test.name) recall")
            expectClose(report.ndcgAtK, test.expected["ndcg_at_k"], "\(test.name) ndcg")
            expectClose(report.mapAtK, test.expected["map_at_k"], "\(test.name) map")
        }
    }

    @Test("single-query NDCG matches scikit-learn's ndcg_score, tied scores included")
    func singleQueryMatchesScikitLearn() throws {
        let fixture = try MetricFixtures.load("ranking.json", as: MetricFixtures.Ranking.self)
        #expect(fixture.queries.count >= 5)
        for test in fixture.queries {
            expectClose(
                try RankingMetrics.ndcg(gains: test.gains, scores: test.scores, k: test.k), test.expected, test.name)
        }
    }

    @Test("a small example worked by hand")
    func byHand() throws {
        // Relevant b and d of a b c d e; at k = 3 only b (position 2) is a hit.
        let report = try RankingMetrics.report(
            rankings: [["a", "b", "c", "d", "e"]], relevant: [["b", "d"]], k: 3)
        #expect(abs(report.precisionAtK - 1.0 / 3) < 1e-15)
        #expect(report.recallAtK == 0.5)
        #expect(abs(report.mapAtK - 0.5 / 2) < 1e-15)
        #expect(abs(report.ndcgAtK - (1 / log2(3.0)) / (1 + 1 / log2(3.0))) < 1e-15)
        #expect(report.values.keys.sorted() == ["map_at_3", "ndcg_at_3", "precision_at_3", "recall_at_3"])
    }

    @Test("a list shorter than k counts the missing places as misses; relevant items never ranked still count")
    func shortListsAndUnrankedItems() throws {
        let report = try RankingMetrics.report(rankings: [[1, 2]], relevant: [[1, 9]], k: 5)
        #expect(report.precisionAtK == 1.0 / 5)
        #expect(report.recallAtK == 0.5)
        #expect(report.mapAtK == 0.5)  // (1/1) / min(5, 2)
        #expect(abs(report.ndcgAtK - 1 / (1 + 1 / log2(3.0))) < 1e-15)
    }

    @Test("users without relevant items are skipped and counted")
    func skipsUsersWithoutRelevantItems() throws {
        let report = try RankingMetrics.report(rankings: [["a"], ["a"], ["b"]], relevant: [["a"], [], ["a"]], k: 1)
        #expect(report.userCount == 2)
        #expect(report.skippedUserCount == 1)
        #expect(report.precisionAtK == 0.5)
        #expect(try RankingMetrics.ndcg(gains: [0, 0], scores: [1, 2]) == nil)
    }

    @Test("bad input throws badRequest saying what is wrong")
    func rejectsBadInput() {
        expectBadRequest(containing: "no rankings") {
            _ = try RankingMetrics.report(rankings: [[String]](), relevant: [], k: 3)
        }
        expectBadRequest(containing: "2 rankings but 1 relevance") {
            _ = try RankingMetrics.report(rankings: [["a"], ["b"]], relevant: [["a"]], k: 3)
        }
        expectBadRequest(containing: "k must be at least 1") {
            _ = try RankingMetrics.report(rankings: [["a"]], relevant: [["a"]], k: 0)
        }
        expectBadRequest(containing: "ranking 1 lists an item more than once") {
            _ = try RankingMetrics.report(rankings: [["a"], ["b", "a", "b"]], relevant: [["a"], ["a"]], k: 3)
        }
        expectBadRequest(containing: "none of the 2 users") {
            _ = try RankingMetrics.report(rankings: [["a"], ["b"]], relevant: [[], []], k: 3)
        }
        expectBadRequest(containing: "gain -1.0") {
            _ = try RankingMetrics.report(rankings: [["a"]], gains: [["a": -1]], k: 3)
        }
        expectBadRequest(containing: "3 gains but 2 scores") {
            _ = try RankingMetrics.ndcg(gains: [1, 0, 1], scores: [1, 2])
        }
        expectBadRequest(containing: "score nan") {
            _ = try RankingMetrics.ndcg(gains: [1, 0], scores: [.nan, 2])
        }
    }

    @Test("the report round-trips through JSON")
    func coding() throws {
        let report = try RankingMetrics.report(rankings: [["a", "b"]], relevant: [["b"]], k: 10)
        #expect(try JSONDecoder().decode(RankingReport.self, from: JSONEncoder().encode(report)) == report)
        #expect(report.values["ndcg_at_10"] != nil)
    }
}
