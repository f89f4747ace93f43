/// Counts of rows by actual and predicted class, laid out like scikit-learn's `confusion_matrix`:
/// `counts[actual][predicted]`, so for binary labels `[[tn, fp], [fn, tp]]`.
public struct ConfusionMatrix: Sendable, Codable, Equatable {
    /// `classCount × classCount` counts, indexed `[actual][predicted]`.
    public var counts: [[Int]]

    public init(counts: [[Int]]) {
        self.counts = counts
    }

    /// Tallies `actual` against `predicted`; both must hold classes in `0..<classCount`.
    init(classCount: Int, actual: [Int], predicted: [Int]) {
        var counts = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
        for (truth, guess) in zip(actual, predicted) { counts[truth][guess] += 1 }
        self.counts = counts
    }

    /// The number of classes (rows and columns).
    public var classCount: Int { counts.count }

    /// The number of rows with class `actual` that were predicted as `predicted`.
    public subscript(actual actual: Int, predicted predicted: Int) -> Int { counts[actual][predicted] }

    /// All rows counted.
    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }

    /// Rows whose class is `label` (its row sum, the support).
    public func actualCount(of label: Int) -> Int { counts[label].reduce(0, +) }

    /// Rows predicted as `label` (its column sum).
    public func predictedCount(of label: Int) -> Int { counts.reduce(0) { $0 + $1[label] } }

    /// Rows predicted correctly (the diagonal).
    public var correctCount: Int { counts.indices.reduce(0) { $0 + counts[$1][$1] } }
}

/// Precision, recall and F1 for one class, from its confusion-matrix counts.
///
/// A ratio with a zero denominator is 0, scikit-learn's `zero_division` default (it also warns).
struct ClassTally {
    var truePositives: Int
    var falsePositives: Int
    var falseNegatives: Int

    init(_ matrix: ConfusionMatrix, label: Int) {
        truePositives = matrix[actual: label, predicted: label]
        falsePositives = matrix.predictedCount(of: label) - truePositives
        falseNegatives = matrix.actualCount(of: label) - truePositives
    }

    var precision: Double { ratio(truePositives, truePositives + falsePositives) }
    var recall: Double { ratio(truePositives, truePositives + falseNegatives) }
    /// `2tp / (2tp + fp + fn)`, the harmonic mean of precision and recall when both are defined.
    var f1: Double { ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives) }

    private func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}
