import Foundation
import SlipwayCore

/// Classification metrics that agree with scikit-learn, for validation splits, monitoring and reports.
///
/// Conventions (each matches scikit-learn's defaults unless noted):
/// - A binary row is predicted positive when its probability is `>= threshold`; a multiclass row is
///   predicted as its most probable class, the lowest index on a tie (`numpy.argmax`).
/// - Precision, recall and F1 with a zero denominator are 0 (`zero_division=0`, without the warning).
/// - ROC AUC is exact: tied scores count one half, equal to the trapezoidal area of `roc_auc_score`.
///   It is nil when it is undefined, i.e. when only one class is present (scikit-learn raises).
/// - Average precision is `average_precision_score`: the step-wise, uninterpolated area under the
///   precision–recall curve. It is nil with no positive rows (scikit-learn warns and returns 0).
/// - Log loss clips probabilities to `[ε, 1 − ε]` with ε = `Double.ulpOfOne` (2.2e-16), as
///   `log_loss` does for float64, so a confident mistake costs about 36 rather than infinity.
public enum ClassificationMetrics {
    /// Scores binary predictions given as the probability of class 1.
    ///
    /// - Parameters:
    ///   - labels: 0 or 1 per row.
    ///   - probabilities: the predicted probability of class 1 per row, in `[0, 1]`.
    ///   - threshold: rows with probability `>= threshold` count as predicted positive (for accuracy,
    ///     precision, recall, F1 and the confusion matrix).
    /// - Throws: `SlipwayError.badRequest` when the arrays are empty or differ in length, a label is not
    ///   0 or 1, a probability is NaN or outside `[0, 1]`, or the threshold is not in `[0, 1]`.
    ///
    /// ```swift
    /// let report = try ClassificationMetrics.binary(labels: [0, 1, 1], probabilities: [0.2, 0.7, 0.4])
    /// report.rocAUC  // 1.0
    /// report.values["accuracy"]  // 0.666…
    /// ```
    public static func binary(
        labels: [Int], probabilities: [Double], threshold: Double = 0.5
    ) throws(SlipwayError) -> BinaryClassificationReport {
        try MetricInput.requireSameCount(labels: labels.count, "probabilities", probabilities.count)
        try MetricInput.requireBinary(labels)
        try MetricInput.requireProbabilities(probabilities)
        guard threshold >= 0, threshold <= 1 else {
            throw MetricInput.fail("threshold \(threshold) is not in [0, 1]")
        }

        let predicted = probabilities.map { $0 >= threshold ? 1 : 0 }
        let matrix = ConfusionMatrix(classCount: 2, actual: labels, predicted: predicted)
        let tally = ClassTally(matrix, label: 1)
        let curve = BinaryScoreCurve(isPositive: { labels[$0] == 1 }, scores: probabilities)

        var logLoss = 0.0
        var brier = 0.0
        for (label, probability) in zip(labels, probabilities) {
            logLoss -= clippedLog(label == 1 ? probability : 1 - probability)
            brier += (probability - Double(label)) * (probability - Double(label))
        }
        let count = Double(labels.count)
        return BinaryClassificationReport(
            count: labels.count, positiveCount: curve.positives, threshold: threshold,
            accuracy: Double(matrix.correctCount) / count, precision: tally.precision, recall: tally.recall,
            f1: tally.f1, rocAUC: curve.rocAUC, averagePrecision: curve.averagePrecision, logLoss: logLoss / count,
            brierScore: brier / count, confusionMatrix: matrix)
    }

    /// Scores multiclass predictions given as one probability row per example.
    ///
    /// Macro precision, recall and F1 average over the classes that occur in the labels or the
    /// predictions (scikit-learn's default `labels=None`); a class that occurs in neither is reported in
    /// ``MulticlassClassificationReport/classes`` but left out of the averages. ROC AUC and average
    /// precision are one-vs-rest macro averages and are nil unless every class occurs in the labels
    /// (scikit-learn raises then).
    ///
    /// - Parameters:
    ///   - labels: the class of each row, in `0..<K`.
    ///   - probabilities: one row of K class probabilities per example; each row must sum to 1 (within
    ///     1e-4, which allows Float32 rounding).
    /// - Throws: `SlipwayError.badRequest` when the arrays are empty or differ in length, rows have fewer
    ///   than 2 or differing columns, a probability is NaN or outside `[0, 1]`, a row does not sum to 1, or
    ///   a label is outside `0..<K`.
    public static func multiclass(
        labels: [Int], probabilities: [[Double]]
    ) throws(SlipwayError) -> MulticlassClassificationReport {
        try MetricInput.requireSameCount(labels: labels.count, "probability rows", probabilities.count)
        let classCount = try MetricInput.requireProbabilityRows(probabilities)
        try MetricInput.requireClasses(labels, classCount: classCount)

        let predicted = probabilities.map(mostProbableClass)
        let matrix = ConfusionMatrix(classCount: classCount, actual: labels, predicted: predicted)
        let count = Double(labels.count)

        var classes: [MulticlassClassificationReport.ClassReport] = []
        for label in 0..<classCount {
            let tally = ClassTally(matrix, label: label)
            let curve = BinaryScoreCurve(isPositive: { labels[$0] == label }, scores: probabilities.map { $0[label] })
            classes.append(
                .init(
                    label: label, support: matrix.actualCount(of: label),
                    predictedCount: matrix.predictedCount(of: label), precision: tally.precision,
                    recall: tally.recall, f1: tally.f1, rocAUC: curve.rocAUC, averagePrecision: curve.averagePrecision))
        }

        let averaged = classes.filter { $0.support > 0 || $0.predictedCount > 0 }
        func macro(_ metric: (MulticlassClassificationReport.ClassReport) -> Double) -> Double {
            averaged.reduce(0) { $0 + metric($1) } / Double(averaged.count)
        }
        func weighted(_ metric: (MulticlassClassificationReport.ClassReport) -> Double) -> Double {
            classes.reduce(0) { $0 + metric($1) * Double($1.support) } / count
        }
        func oneVsRest(_ metric: (MulticlassClassificationReport.ClassReport) -> Double?) -> Double? {
            let perClass = classes.compactMap(metric)
            return perClass.count == classCount ? perClass.reduce(0, +) / Double(classCount) : nil
        }

        var logLoss = 0.0
        var brier = 0.0
        for (label, row) in zip(labels, probabilities) {
            logLoss -= clippedLog(row[label])
            for (column, probability) in row.enumerated() {
                let target = column == label ? 1.0 : 0.0
                brier += (probability - target) * (probability - target)
            }
        }
        // scikit-learn's `scale_by_half="auto"`: two columns describe one binary outcome twice.
        let brierScale = classCount == 2 ? 0.5 : 1.0

        return MulticlassClassificationReport(
            count: labels.count, classCount: classCount, accuracy: Double(matrix.correctCount) / count,
            macroPrecision: macro(\.precision), macroRecall: macro(\.recall), macroF1: macro(\.f1),
            weightedPrecision: weighted(\.precision), weightedRecall: weighted(\.recall), weightedF1: weighted(\.f1),
            rocAUC: oneVsRest(\.rocAUC), averagePrecision: oneVsRest(\.averagePrecision), logLoss: logLoss / count,
            brierScore: brierScale * brier / count, classes: classes, confusionMatrix: matrix)
    }

    /// The exact area under the ROC curve for arbitrary real scores (margins, probabilities, ranks);
    /// tied scores count one half.
    ///
    /// - Returns: the AUC, or nil when only one class is present.
    /// - Throws: `SlipwayError.badRequest` for empty or mismatched arrays, labels other than 0/1, or
    ///   non-finite scores.
    public static func rocAUC(labels: [Int], scores: [Double]) throws(SlipwayError) -> Double? {
        try MetricInput.requireSameCount(labels: labels.count, "scores", scores.count)
        try MetricInput.requireBinary(labels)
        try MetricInput.requireFinite(scores, name: "score")
        return BinaryScoreCurve(isPositive: { labels[$0] == 1 }, scores: scores).rocAUC
    }

    /// Average precision of arbitrary real scores, as scikit-learn's `average_precision_score`.
    ///
    /// - Returns: the average precision, or nil when no label is 1.
    /// - Throws: as ``rocAUC(labels:scores:)``.
    public static func averagePrecision(labels: [Int], scores: [Double]) throws(SlipwayError) -> Double? {
        try MetricInput.requireSameCount(labels: labels.count, "scores", scores.count)
        try MetricInput.requireBinary(labels)
        try MetricInput.requireFinite(scores, name: "score")
        return BinaryScoreCurve(isPositive: { labels[$0] == 1 }, scores: scores).averagePrecision
    }

    /// Mean binary log loss with probabilities clipped to `[ε, 1 − ε]`, ε = `Double.ulpOfOne`; cheaper
    /// than ``binary(labels:probabilities:threshold:)`` when a trainer only needs the loss each round.
    ///
    /// - Throws: as ``binary(labels:probabilities:threshold:)``.
    public static func logLoss(labels: [Int], probabilities: [Double]) throws(SlipwayError) -> Double {
        try MetricInput.requireSameCount(labels: labels.count, "probabilities", probabilities.count)
        try MetricInput.requireBinary(labels)
        try MetricInput.requireProbabilities(probabilities)
        var loss = 0.0
        for (label, probability) in zip(labels, probabilities) {
            loss -= clippedLog(label == 1 ? probability : 1 - probability)
        }
        return loss / Double(labels.count)
    }

    /// The probability below which log loss stops growing; scikit-learn's float64 `eps`.
    public static let logLossEpsilon = Double.ulpOfOne

    /// The first column holding the row's largest probability, as `numpy.argmax`.
    private static func mostProbableClass(_ row: [Double]) -> Int {
        var best = 0
        for column in row.indices.dropFirst() where row[column] > row[best] { best = column }
        return best
    }

    private static func clippedLog(_ probability: Double) -> Double {
        Foundation.log(min(max(probability, logLossEpsilon), 1 - logLossEpsilon))
    }
}
