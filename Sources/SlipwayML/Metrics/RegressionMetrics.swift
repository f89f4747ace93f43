import Foundation
import SlipwayCore

/// The regression metrics for one set of predictions; see ``RegressionMetrics/report(labels:predictions:)``.
public struct RegressionReport: Sendable, Codable, Equatable {
    /// Rows scored.
    public var count: Int
    /// Mean squared error.
    public var mse: Double
    /// Root mean squared error, `√mse`.
    public var rmse: Double
    /// Mean absolute error.
    public var mae: Double
    /// Coefficient of determination, `1 − SS_res / SS_tot`; at most 1, unbounded below.
    public var r2: Double

    public init(count: Int, mse: Double, rmse: Double, mae: Double, r2: Double) {
        self.count = count
        self.mse = mse
        self.rmse = rmse
        self.mae = mae
        self.r2 = r2
    }

    /// The metrics by the names the registry stores: `mse`, `rmse`, `mae`, `r2`.
    public var values: [String: Double] { ["mse": mse, "rmse": rmse, "mae": mae, "r2": r2] }
}

/// Regression metrics that agree with scikit-learn's `mean_squared_error`, `root_mean_squared_error`,
/// `mean_absolute_error` and `r2_score`.
public enum RegressionMetrics {
    /// Scores real-valued predictions.
    ///
    /// R² follows scikit-learn's `force_finite=True` convention when every label is the same (so
    /// `SS_tot = 0` and R² is 0/0 or −∞): it is 1 if every prediction is exact and 0 otherwise. Unlike
    /// scikit-learn, "the same" is tested on the labels themselves, not on a floating-point `SS_tot`, so
    /// a constant target never yields a huge negative R² from rounding in the mean.
    ///
    /// - Parameters:
    ///   - labels: the true values.
    ///   - predictions: the predicted values, one per label.
    /// - Throws: `SlipwayError.badRequest` when the arrays are empty or differ in length, or hold NaN or
    ///   infinite values.
    public static func report(labels: [Double], predictions: [Double]) throws(SlipwayError) -> RegressionReport {
        try MetricInput.requireSameCount(labels: labels.count, "predictions", predictions.count)
        try MetricInput.requireFinite(labels, name: "label")
        try MetricInput.requireFinite(predictions, name: "prediction")

        let count = Double(labels.count)
        let mean = labels.reduce(0, +) / count
        var squaredError = 0.0
        var absoluteError = 0.0
        var totalSquares = 0.0
        for (label, prediction) in zip(labels, predictions) {
            squaredError += (label - prediction) * (label - prediction)
            absoluteError += abs(label - prediction)
            totalSquares += (label - mean) * (label - mean)
        }
        let r2: Double
        if labels.allSatisfy({ $0 == labels[0] }) {
            r2 = squaredError == 0 ? 1 : 0
        } else {
            r2 = 1 - squaredError / totalSquares
        }
        let mse = squaredError / count
        return RegressionReport(
            count: labels.count, mse: mse, rmse: mse.squareRoot(), mae: absoluteError / count, r2: r2)
    }
}
