/// Every binary-classification metric for one set of predictions; see
/// ``ClassificationMetrics/binary(labels:probabilities:threshold:)`` for the conventions.
public struct BinaryClassificationReport: Sendable, Codable, Equatable {
    /// Rows scored.
    public var count: Int
    /// Rows labelled 1.
    public var positiveCount: Int
    /// A row is predicted positive when its probability is at least this.
    public var threshold: Double
    public var accuracy: Double
    /// `tp / (tp + fp)`; 0 when nothing is predicted positive.
    public var precision: Double
    /// `tp / (tp + fn)`; 0 when no row is labelled positive.
    public var recall: Double
    /// `2tp / (2tp + fp + fn)`; 0 when that is 0/0.
    public var f1: Double
    /// Area under the ROC curve; nil when only one class is present.
    public var rocAUC: Double?
    /// Average precision (the step-wise area under the precision–recall curve); nil with no positives.
    public var averagePrecision: Double?
    /// Mean negative log-likelihood, probabilities clipped to `[ε, 1 − ε]` with ε = `Double.ulpOfOne`.
    public var logLoss: Double
    /// Mean squared difference between probability and label.
    public var brierScore: Double
    /// `[[tn, fp], [fn, tp]]`.
    public var confusionMatrix: ConfusionMatrix

    public init(
        count: Int, positiveCount: Int, threshold: Double, accuracy: Double, precision: Double, recall: Double,
        f1: Double, rocAUC: Double?, averagePrecision: Double?, logLoss: Double, brierScore: Double,
        confusionMatrix: ConfusionMatrix
    ) {
        self.count = count
        self.positiveCount = positiveCount
        self.threshold = threshold
        self.accuracy = accuracy
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.rocAUC = rocAUC
        self.averagePrecision = averagePrecision
        self.logLoss = logLoss
        self.brierScore = brierScore
        self.confusionMatrix = confusionMatrix
    }

    /// The metrics by the names the registry stores (`accuracy`, `precision`, `recall`, `f1`, `roc_auc`,
    /// `average_precision`, `log_loss`, `brier_score`); undefined metrics are left out.
    public var values: [String: Double] {
        var values = [
            "accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1, "log_loss": logLoss,
            "brier_score": brierScore,
        ]
        values["roc_auc"] = rocAUC
        values["average_precision"] = averagePrecision
        return values
    }
}

/// Every multiclass metric for one set of predictions; see
/// ``ClassificationMetrics/multiclass(labels:probabilities:)`` for the conventions.
public struct MulticlassClassificationReport: Sendable, Codable, Equatable {
    /// Metrics for one class, treating it as the positive class against all others.
    public struct ClassReport: Sendable, Codable, Equatable {
        public var label: Int
        /// Rows labelled with this class.
        public var support: Int
        /// Rows predicted as this class.
        public var predictedCount: Int
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// One-vs-rest ROC AUC of this class's probability column; nil when no row, or every row, has this class.
        public var rocAUC: Double?
        /// One-vs-rest average precision of this class's column; nil when no row has this class.
        public var averagePrecision: Double?

        public init(
            label: Int, support: Int, predictedCount: Int, precision: Double, recall: Double, f1: Double,
            rocAUC: Double?, averagePrecision: Double?
        ) {
            self.label = label
            self.support = support
            self.predictedCount = predictedCount
            self.precision = precision
            self.recall = recall
            self.f1 = f1
            self.rocAUC = rocAUC
            self.averagePrecision = averagePrecision
        }
    }

    /// Rows scored.
    public var count: Int
    /// Probability columns, K.
    public var classCount: Int
    public var accuracy: Double
    /// Unweighted means over the classes that occur in the labels or the predictions.
    public var macroPrecision: Double
    public var macroRecall: Double
    public var macroF1: Double
    /// Means weighted by each class's support.
    public var weightedPrecision: Double
    public var weightedRecall: Double
    public var weightedF1: Double
    /// Macro mean of the one-vs-rest ROC AUCs; nil unless every class occurs in the labels.
    public var rocAUC: Double?
    /// Macro mean of the one-vs-rest average precisions; nil unless every class occurs in the labels.
    public var averagePrecision: Double?
    /// Mean `−log p[label]`, clipped to `[ε, 1 − ε]` with ε = `Double.ulpOfOne`.
    public var logLoss: Double
    /// Mean of `Σ_k (p_k − [label = k])²`, halved when K = 2 so it equals the binary Brier score.
    public var brierScore: Double
    /// One entry per class, `0..<classCount`.
    public var classes: [ClassReport]
    /// `counts[actual][predicted]`.
    public var confusionMatrix: ConfusionMatrix

    public init(
        count: Int, classCount: Int, accuracy: Double, macroPrecision: Double, macroRecall: Double, macroF1: Double,
        weightedPrecision: Double, weightedRecall: Double, weightedF1: Double, rocAUC: Double?,
        averagePrecision: Double?, logLoss: Double, brierScore: Double, classes: [ClassReport],
        confusionMatrix: ConfusionMatrix
    ) {
        self.count = count
        self.classCount = classCount
        self.accuracy = accuracy
        self.macroPrecision = macroPrecision
        self.macroRecall = macroRecall
        self.macroF1 = macroF1
        self.weightedPrecision = weightedPrecision
        self.weightedRecall = weightedRecall
        self.weightedF1 = weightedF1
        self.rocAUC = rocAUC
        self.averagePrecision = averagePrecision
        self.logLoss = logLoss
        self.brierScore = brierScore
        self.classes = classes
        self.confusionMatrix = confusionMatrix
    }

    /// The metrics by scikit-learn's scorer names (`accuracy`, `precision_macro`, `recall_macro`,
    /// `f1_macro`, `precision_weighted`, `recall_weighted`, `f1_weighted`, `roc_auc_ovr`,
    /// `average_precision`, `log_loss`, `brier_score`); undefined metrics are left out.
    public var values: [String: Double] {
        var values = [
            "accuracy": accuracy, "precision_macro": macroPrecision, "recall_macro": macroRecall,
            "f1_macro": macroF1, "precision_weighted": weightedPrecision, "recall_weighted": weightedRecall,
            "f1_weighted": weightedF1, "log_loss": logLoss, "brier_score": brierScore,
        ]
        values["roc_auc_ovr"] = rocAUC
        values["average_precision"] = averagePrecision
        return values
    }
}
