import Foundation
import SlipwayCore

/// A dense matrix of numeric features stored column by column; `NaN` marks a missing value.
///
/// Column-major storage suits every trainer here: histogram binning and per-feature statistics walk a
/// column contiguously, and a linear model's `X·w` is a sum of scaled columns.
public struct FeatureMatrix: Sendable, Equatable {
    /// The number of rows (examples).
    public let rowCount: Int
    /// One name per column, in column order.
    public let featureNames: [String]
    /// One array of `rowCount` values per feature, in ``featureNames`` order.
    public private(set) var columns: [[Double]]

    /// The number of columns (features).
    public var columnCount: Int { columns.count }

    /// Creates a matrix from whole columns.
    ///
    /// - Throws: `SlipwayError.badRequest` when names and columns disagree in number, or the columns
    ///   differ in length.
    public init(featureNames: [String], columns: [[Double]]) throws(SlipwayError) {
        guard featureNames.count == columns.count else {
            throw .badRequest("\(featureNames.count) feature names for \(columns.count) columns")
        }
        let rows = columns.first?.count ?? 0
        if let bad = columns.firstIndex(where: { $0.count != rows }) {
            throw .badRequest(
                "column '\(featureNames[bad])' has \(columns[bad].count) values, but the first has \(rows)")
        }
        self.rowCount = rows
        self.featureNames = featureNames
        self.columns = columns
    }

    /// Creates a matrix from rows (convenient in tests); every row must have `featureNames.count` values.
    public init(featureNames: [String], rows: [[Double]]) throws(SlipwayError) {
        var columns = Array(repeating: [Double](), count: featureNames.count)
        for (index, row) in rows.enumerated() {
            guard row.count == featureNames.count else {
                throw .badRequest("row \(index) has \(row.count) values, but there are \(featureNames.count) features")
            }
            for (column, value) in row.enumerated() { columns[column].append(value) }
        }
        try self.init(featureNames: featureNames, columns: columns)
    }

    /// The value at `row`, `column`.
    @inlinable
    public subscript(row: Int, column: Int) -> Double { columns[column][row] }

    /// One row's values, in column order.
    public func row(_ index: Int) -> [Double] { columns.map { $0[index] } }

    /// The rows at `indices`, in that order (for train/validation splits).
    public func selecting(rows indices: [Int]) -> FeatureMatrix {
        let selected = columns.map { column in indices.map { column[$0] } }
        // Same names, equal lengths: cannot fail.
        return try! FeatureMatrix(featureNames: featureNames, columns: selected)
    }
}

/// What a trainer reports while it runs; the job runner turns it into progress, ETA and log lines.
public struct TrainingProgress: Sendable, Equatable {
    /// The iteration just finished (1-based): a boosting round, an optimiser step, an ALS sweep.
    public var iteration: Int
    /// The most iterations this run can take (it may stop earlier, e.g. by early stopping).
    public var maxIterations: Int
    /// Metric values at this iteration, e.g. `["train_logloss": 0.41, "validation_auc": 0.88]`.
    public var metrics: [String: Double]

    public init(iteration: Int, maxIterations: Int, metrics: [String: Double] = [:]) {
        self.iteration = iteration
        self.maxIterations = maxIterations
        self.metrics = metrics
    }
}

/// Called by a trainer after each iteration. Throwing stops training at once and the trainer rethrows
/// the error; the job runner throws `CancellationError` when a job is cancelled.
public typealias TrainingObserver = @Sendable (TrainingProgress) throws -> Void

/// The learning task, which fixes the loss and the output link.
public enum LearningTask: String, Sendable, Codable, CaseIterable {
    /// Labels 0/1; one output, the probability of class 1.
    case binary
    /// Labels 0..<K; K outputs, class probabilities.
    case multiclass
    /// Real-valued labels; one output.
    case regression
}

/// How a model's margins become outputs.
public enum OutputLink: String, Sendable, Codable {
    case identity
    case logistic
    case softmax

    /// Applies the link to one row's margins in place.
    public func apply(_ margins: inout [Double]) {
        switch self {
        case .identity:
            return
        case .logistic:
            for index in margins.indices { margins[index] = 1 / (1 + Foundation.exp(-margins[index])) }
        case .softmax:
            let top = margins.max() ?? 0
            var sum = 0.0
            for index in margins.indices {
                margins[index] = Foundation.exp(margins[index] - top)
                sum += margins[index]
            }
            for index in margins.indices { margins[index] /= sum }
        }
    }
}
