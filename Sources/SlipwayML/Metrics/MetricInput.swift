import SlipwayCore

/// Input checks shared by the metric functions, so every metric rejects bad input with the same words.
enum MetricInput {
    /// The error code every metric uses for input it cannot score.
    static let errorCode = "invalid_metric_input"

    static func fail(_ message: String) -> SlipwayError {
        .badRequest(message, code: errorCode)
    }

    static func requireSameCount(
        labels: Int, _ otherName: String, _ other: Int
    ) throws(SlipwayError) {
        guard labels > 0 else { throw fail("no rows to score: labels are empty") }
        guard labels == other else {
            throw fail("\(labels) labels but \(other) \(otherName); they must be the same length, row for row")
        }
    }

    /// Binary labels must be 0 or 1.
    static func requireBinary(_ labels: [Int]) throws(SlipwayError) {
        if let row = labels.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw fail("label \(labels[row]) at row \(row) is not 0 or 1")
        }
    }

    /// Class labels must lie in `0..<classCount`.
    static func requireClasses(_ labels: [Int], classCount: Int) throws(SlipwayError) {
        if let row = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw fail(
                "label \(labels[row]) at row \(row) is outside 0..<\(classCount) (one probability column per class)")
        }
    }

    /// Probabilities must be numbers in `[0, 1]` (NaN fails both comparisons, so it is caught too).
    static func requireProbabilities(_ values: [Double], name: String = "probability") throws(SlipwayError) {
        if let row = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw fail("\(name) \(values[row]) at row \(row) is not in [0, 1]")
        }
    }

    /// Scores and regression values must be finite.
    static func requireFinite(_ values: [Double], name: String) throws(SlipwayError) {
        if let row = values.firstIndex(where: { !$0.isFinite }) {
            throw fail("\(name) \(values[row]) at row \(row) is not a finite number")
        }
    }

    /// The tolerance on `|Σ row − 1|` for multiclass probability rows. Loose enough for Float32 model
    /// outputs, tight enough to catch logits or unnormalised scores passed by mistake.
    static let rowSumTolerance = 1e-4

    /// Multiclass rows: at least two columns, all the same width, probabilities that sum to 1.
    /// Returns the class count.
    static func requireProbabilityRows(_ rows: [[Double]]) throws(SlipwayError) -> Int {
        let classCount = rows.first?.count ?? 0
        guard classCount >= 2 else {
            throw fail("each probability row needs one column per class (at least 2); the first row has \(classCount)")
        }
        for (row, values) in rows.enumerated() {
            guard values.count == classCount else {
                throw fail("probability row \(row) has \(values.count) columns, but the first row has \(classCount)")
            }
            if let column = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
                throw fail("probability \(values[column]) at row \(row), class \(column) is not in [0, 1]")
            }
            let sum = values.reduce(0, +)
            guard abs(sum - 1) <= rowSumTolerance else {
                throw fail("probability row \(row) sums to \(sum), not 1; pass probabilities (e.g. after softmax)")
            }
        }
        return classCount
    }
}
