import Foundation
import SlipwayML
import Testing

@Suite("Regression metrics")
struct RegressionMetricsTests {
    @Test("reports match scikit-learn on the fixtures")
    func matchesScikitLearn() throws {
        let fixture = try MetricFixtures.load(
            "regression.json", as: MetricFixtures.Cases<MetricFixtures.Regression>.self)
        #expect(fixture.cases.count >= 4)
        for test in fixture.cases {
            let report = try RegressionMetrics.report(labels: test.labels, predictions: test.predictions)
            expectClose(report.values, test.expected, test.name)
            #expect(report.count == test.labels.count)
        }
    }

    @Test("R² for a constant target is 1 when exact and 0 otherwise, even if the mean rounds")
    func constantTargetConvention() throws {
        // 0.1 × 3 / 3 is not exactly 0.1, so SS_tot would be a tiny positive number, not 0.
        let labels = [0.1, 0.1, 0.1]
        #expect(try RegressionMetrics.report(labels: labels, predictions: labels).r2 == 1)
        #expect(try RegressionMetrics.report(labels: labels, predictions: [0.1, 0.1, 0.2]).r2 == 0)
        #expect(try RegressionMetrics.report(labels: [5], predictions: [4]).r2 == 0)
    }

    @Test("bad input throws badRequest saying what is wrong")
    func rejectsBadInput() {
        expectBadRequest(containing: "2 labels but 1 predictions") {
            _ = try RegressionMetrics.report(labels: [1, 2], predictions: [1])
        }
        expectBadRequest(containing: "labels are empty") {
            _ = try RegressionMetrics.report(labels: [], predictions: [])
        }
        expectBadRequest(containing: "prediction nan at row 1") {
            _ = try RegressionMetrics.report(labels: [1, 2], predictions: [1, .nan])
        }
        expectBadRequest(containing: "label inf at row 0") {
            _ = try RegressionMetrics.report(labels: [.infinity, 2], predictions: [1, 2])
        }
    }

    @Test("the report round-trips through JSON")
    func coding() throws {
        let report = try RegressionMetrics.report(labels: [1, 2, 4], predictions: [1.5, 2, 3])
        #expect(try JSONDecoder().decode(RegressionReport.self, from: JSONEncoder().encode(report)) == report)
        #expect(Set(report.values.keys) == ["mse", "rmse", "mae", "r2"])
    }
}
