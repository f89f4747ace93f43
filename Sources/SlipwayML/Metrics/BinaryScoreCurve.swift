/// The threshold-free binary metrics (ROC AUC, average precision), computed from one pass over the rows
/// sorted by score, with tied scores treated as one threshold as scikit-learn does.
struct BinaryScoreCurve {
    /// One group of rows sharing a score, in decreasing score order.
    struct TieGroup {
        var positives: Int
        var negatives: Int
    }

    let groups: [TieGroup]
    let positives: Int
    let negatives: Int

    /// - Parameter isPositive: whether row `i` belongs to the positive class.
    init(isPositive: (Int) -> Bool, scores: [Double]) {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var groups: [TieGroup] = []
        var previous = Double.nan
        var positives = 0
        for row in order {
            if groups.isEmpty || scores[row] != previous {
                groups.append(TieGroup(positives: 0, negatives: 0))
                previous = scores[row]
            }
            if isPositive(row) {
                groups[groups.count - 1].positives += 1
                positives += 1
            } else {
                groups[groups.count - 1].negatives += 1
            }
        }
        self.groups = groups
        self.positives = positives
        self.negatives = scores.count - positives
    }

    /// The area under the ROC curve: the probability that a random positive scores above a random
    /// negative, counting a tie as one half (equal to the trapezoidal area scikit-learn computes).
    /// Nil when either class is absent.
    var rocAUC: Double? {
        guard positives > 0, negatives > 0 else { return nil }
        // Walking down the scores, each positive beats every negative in later (lower) groups.
        var wins = 0.0
        var negativesAbove = 0
        for group in groups {
            let pairsBelow = Double(negatives - negativesAbove - group.negatives)
            wins += Double(group.positives) * (pairsBelow + 0.5 * Double(group.negatives))
            negativesAbove += group.negatives
        }
        return wins / (Double(positives) * Double(negatives))
    }

    /// Average precision, `Σ (R_t − R_{t−1}) · P_t` over the distinct score thresholds (no
    /// interpolation), as scikit-learn's `average_precision_score`. Nil when there are no positives.
    var averagePrecision: Double? {
        guard positives > 0 else { return nil }
        var sum = 0.0
        var truePositives = 0
        var predictedPositives = 0
        for group in groups {
            truePositives += group.positives
            predictedPositives += group.positives + group.negatives
            guard group.positives > 0 else { continue }
            let precision = Double(truePositives) / Double(predictedPositives)
            sum += Double(group.positives) / Double(positives) * precision
        }
        return sum
    }
}
