import Foundation
import SlipwayCore
import SlipwayML
import Testing

@Suite("Classification metrics")
struct ClassificationMetricsTests {
    @Test("binary reports match scikit-learn on the fixtures")
    func binaryMatchesScikitLearn() throws {
        let fixture = try MetricFixtures.load("binary.json", as: MetricFixtures.Cases<MetricFixtures.Binary>.self)
        #expect(fixture.cases.count >= 5)
        for test in fixture.cases {
            let report = try ClassificationMetrics.binary(
                labels: test.labels, probabilities: test.probabilities, threshold: test.threshold)
            for (key, expected) in test.expected {
                expectClose(report.values[key], expected, "\(test.name) \(key)")
            }
            #expect(report.confusionMatrix.counts == test.confusionMatrix, "\(test.name)")
            #expect(report.count == test.labels.count)
            #expect(report.positiveCount == test.labels.count { $0 == 1 })
            expectClose(
                try ClassificationMetrics.rocAUC(labels: test.labels, scores: test.probabilities),
                test.expected["roc_auc"]!, "\(test.name) rocAUC(labels:scores:)")
            expectClose(
                try ClassificationMetrics.averagePrecision(labels: test.labels, scores: test.probabilities),
                test.expected["average_precision"]!, "\(test.name) averagePrecision(labels:scores:)")
            expectClose(
                try ClassificationMetrics.logLoss(labels: test.labels, probabilities: test.probabilities),
                test.expected["log_loss"]!, "\(test.name) logLoss(labels:probabilities:)")
        }
    }

    @Test("multiclass reports match scikit-learn on the fixtures")
    func multiclassMatchesScikitLearn() throws {
        let fixture = try MetricFixtures.load(
            "multiclass.json", as: MetricFixtures.Cases<MetricFixtures.Multiclass>.self)
        #expect(fixture.cases.count >= 4)
        for test in fixture.cases {
            let report = try ClassificationMetrics.multiclass(labels: test.labels, probabilities: test.probabilities)
            for (key, expected) in test.expected {
                expectClose(report.values[key], expected, "\(test.name) \(key)")
            }
            #expect(report.confusionMatrix.counts == test.confusionMatrix, "\(test.name)")
            for (label, expected) in test.classROCAUC.enumerated() {
                expectClose(report.classes[label].rocAUC, expected, "\(test.name) class \(label) roc_auc")
            }
            for (label, expected) in test.classAveragePrecision.enumerated() {
                expectClose(report.classes[label].averagePrecision, expected, "\(test.name) class \(label) ap")
            }
        }
    }

    @Test("a small binary example worked by hand")
    func binaryByHand() throws {
        // Sorted by score: 0.9(1) 0.8(0) 0.6(1) 0.6(0) 0.3(1) 0.1(0). Pairs won by positives: 3 + 1.5 + 1 of 9.
        let report = try ClassificationMetrics.binary(
            labels: [1, 0, 1, 0, 1, 0], probabilities: [0.9, 0.8, 0.6, 0.6, 0.3, 0.1])
        #expect(report.confusionMatrix.counts == [[1, 2], [1, 2]])
        #expect(report.accuracy == 0.5)
        #expect(report.precision == 0.5)
        #expect(abs(report.recall - 2.0 / 3) < 1e-15)
        #expect(abs(report.rocAUC! - 5.5 / 9) < 1e-15)
        // Thresholds 0.9, 0.8, 0.6, 0.3 add recall 1/3 at precisions 1, –, 2/4, 3/5.
        #expect(abs(report.averagePrecision! - (1.0 + 0.5 + 0.6) / 3) < 1e-15)
    }

    @Test("a confident mistake costs -log(ε), not infinity")
    func logLossIsClipped() throws {
        let loss = try ClassificationMetrics.logLoss(labels: [1, 0], probabilities: [0, 1])
        #expect(abs(loss - -Foundation.log(Double.ulpOfOne)) < 1e-12)
        #expect(loss.isFinite)
    }

    @Test("undefined metrics are nil, not a crash")
    func undefinedMetricsAreNil() throws {
        let negatives = try ClassificationMetrics.binary(labels: [0, 0, 0], probabilities: [0.1, 0.7, 0.2])
        #expect(negatives.rocAUC == nil)
        #expect(negatives.averagePrecision == nil)
        #expect(negatives.values["roc_auc"] == nil)
        #expect(negatives.values["log_loss"] != nil)
        #expect(negatives.precision == 0)  // one false positive
        let positives = try ClassificationMetrics.binary(labels: [1, 1], probabilities: [0.1, 0.7])
        #expect(positives.rocAUC == nil)
        #expect(positives.averagePrecision == 1)
        let missingClass = try ClassificationMetrics.multiclass(
            labels: [0, 1, 0], probabilities: [[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
        #expect(missingClass.rocAUC == nil)
        #expect(missingClass.classes[2].rocAUC == nil)
        #expect(missingClass.classes[0].rocAUC == 1)
        // Class 2 is predicted once, so it joins the macro average with precision 0.
        #expect(abs(missingClass.macroPrecision - (1.0 + 1.0 + 0.0) / 3) < 1e-15)
    }

    @Test("a multiclass tie goes to the lowest class, as numpy.argmax")
    func argmaxTies() throws {
        let report = try ClassificationMetrics.multiclass(
            labels: [1, 0], probabilities: [[0.25, 0.25, 0.5], [0.4, 0.4, 0.2]])
        #expect(report.confusionMatrix.counts == [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    }

    @Test("the report round-trips through JSON and flattens to the registry's names")
    func reportCoding() throws {
        let report = try ClassificationMetrics.binary(labels: [0, 1, 1, 0], probabilities: [0.2, 0.9, 0.4, 0.6])
        let decoded = try JSONDecoder().decode(
            BinaryClassificationReport.self, from: JSONEncoder().encode(report))
        #expect(decoded == report)
        #expect(
            Set(report.values.keys) == [
                "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "log_loss", "brier_score",
            ])
        let multiclass = try ClassificationMetrics.multiclass(
            labels: [0, 1, 2], probabilities: [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
        #expect(
            try JSONDecoder().decode(MulticlassClassificationReport.self, from: JSONEncoder().encode(multiclass))
                == multiclass)
        #expect(multiclass.values["f1_macro"] == 1)
        #expect(multiclass.values["roc_auc_ovr"] == 1)
    }

    @Test(
        "bad input throws badRequest saying what is wrong",
        arguments: [
            ([0, 1], [0.5], "2 labels but 1 probabilities"),
            ([], [], "labels are empty"),
            ([0, 2], [0.1, 0.2], "label 2 at row 1 is not 0 or 1"),
            ([0, 1], [0.1, 1.5], "probability 1.5 at row 1 is not in [0, 1]"),
            ([0, 1], [Double.nan, 0.5], "probability nan at row 0 is not in [0, 1]"),
            ([0, 1], [-0.1, 0.5], "probability -0.1 at row 0"),
        ] as [([Int], [Double], String)])
    func binaryRejects(labels: [Int], probabilities: [Double], message: String) {
        expectBadRequest(containing: message) {
            _ = try ClassificationMetrics.binary(labels: labels, probabilities: probabilities)
        }
    }

    @Test("bad thresholds and scores are rejected")
    func binaryRejectsThresholdAndScores() {
        expectBadRequest(containing: "threshold 1.5") {
            _ = try ClassificationMetrics.binary(labels: [0, 1], probabilities: [0.2, 0.8], threshold: 1.5)
        }
        expectBadRequest(containing: "score inf at row 1") {
            _ = try ClassificationMetrics.rocAUC(labels: [0, 1], scores: [0.2, .infinity])
        }
    }

    @Test(
        "bad multiclass input throws badRequest saying what is wrong",
        arguments: [
            ([0, 1], [[0.5, 0.5]], "2 labels but 1 probability rows"),
            ([0], [[1.0]], "at least 2"),
            ([0, 1], [[0.5, 0.5], [0.2, 0.3, 0.5]], "row 1 has 3 columns"),
            ([0, 3], [[0.5, 0.5, 0], [0.2, 0.3, 0.5]], "label 3 at row 1 is outside 0..<3"),
            ([0, -1], [[0.5, 0.5], [0.5, 0.5]], "label -1 at row 1"),
            ([0, 1], [[0.5, 0.5], [0.5, 0.6]], "row 1 sums to"),
            ([0, 1], [[0.5, 0.5], [1.5, -0.5]], "probability 1.5 at row 1, class 0"),
            ([0, 1], [[0.5, 0.5], [Double.nan, 0.5]], "probability nan at row 1"),
        ] as [([Int], [[Double]], String)])
    func multiclassRejects(labels: [Int], probabilities: [[Double]], message: String) {
        expectBadRequest(containing: message) {
            _ = try ClassificationMetrics.multiclass(labels: labels, probabilities: probabilities)
        }
    }
}

/// Expects `body` to throw a `SlipwayError.badRequest` whose message contains `text`.
func expectBadRequest(
    containing text: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected an error containing '\(text)'", sourceLocation: sourceLocation)
    } catch let error as SlipwayError {
        #expect(error.kind == .badRequest, sourceLocation: sourceLocation)
        #expect(error.code == "invalid_metric_input", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "message: \(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
