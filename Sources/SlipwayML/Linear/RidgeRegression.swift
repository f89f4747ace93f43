import SlipwayCore

/// Hyperparameters of ``RidgeRegressionTrainer``.
///
/// The trainer minimises, over weights `w` and an unpenalised intercept `b`,
///
///     Σᵢ (yᵢ − b − w·x'ᵢ)² + alpha · ‖w‖²
///
/// where `x'` is the imputed (and, with ``standardize``, standardised) feature row: scikit-learn's
/// `Ridge(alpha=alpha)` objective, or `LinearRegression` when `alpha` is 0.
public struct RidgeRegressionConfiguration: Sendable, Equatable {
    /// L2 penalty on the weights; 0 gives ordinary least squares.
    public var alpha: Double
    /// Centre and scale features by their training mean and standard deviation (ddof 0) before fitting,
    /// so the penalty treats features alike; the returned parameters carry the mean and scale.
    public var standardize: Bool

    public init(alpha: Double = 1, standardize: Bool = true) {
        self.alpha = alpha
        self.standardize = standardize
    }

    /// Throws when a hyperparameter is out of range.
    public func validate() throws(SlipwayError) {
        guard alpha >= 0, alpha.isFinite else {
            throw .badRequest("alpha is \(alpha); use a finite number >= 0 (0 = ordinary least squares, default 1)")
        }
    }
}

/// What ``RidgeRegressionTrainer/train(features:labels:validation:observer:)`` returns.
public struct RidgeRegressionResult: Sendable, Equatable {
    /// The model, with link `.identity` and one weights row.
    public var parameters: LinearModelParameters
    /// Root mean squared error on the training rows.
    public var trainingRMSE: Double
}

/// Fits ridge (or, with `alpha` 0, ordinary least squares) regression exactly, by the normal equations
/// on centred features solved with a Cholesky factorisation.
///
/// ```swift
/// let result = try RidgeRegressionTrainer().train(features: matrix, labels: prices)
/// let predictions = result.parameters.predict(matrix).map { $0[0] }
/// ```
public struct RidgeRegressionTrainer: Sendable {
    public var configuration: RidgeRegressionConfiguration

    public init(configuration: RidgeRegressionConfiguration = .init()) {
        self.configuration = configuration
    }

    /// Trains on `features` and `labels`; the observer is called once, after the solve, with
    /// `train_rmse` and, given validation data, `validation_rmse`.
    ///
    /// Missing feature values (NaN) are replaced by the feature's training mean.
    ///
    /// - Throws: `SlipwayError.badRequest` for invalid data or hyperparameters, and when `alpha` is 0
    ///   and the features are collinear (including a constant feature); otherwise whatever `observer`
    ///   throws. Untyped because the observer may throw any error.
    public func train(
        features: FeatureMatrix, labels: [Double], validation: (features: FeatureMatrix, labels: [Double])? = nil,
        observer: TrainingObserver? = nil
    ) throws -> RidgeRegressionResult {
        try configuration.validate()
        try LinearInputCheck.check(features: features, labels: labels, role: "training")
        if let validation {
            try LinearInputCheck.checkSameFeatures(training: features, validation: validation.features)
            try LinearInputCheck.check(features: validation.features, labels: validation.labels, role: "validation")
        }

        let standardization = FeatureStandardization(fitting: features, standardize: configuration.standardize)
        let design = standardization.design(features)
        let rows = features.rowCount
        let count = features.columnCount
        let labelMean = labels.reduce(0, +) / Double(rows)
        let centredLabels = labels.map { $0 - labelMean }

        // (XᵀX + alpha·I)·w = Xᵀy on centred columns; the intercept is then the label mean.
        var gram = [Double](repeating: 0, count: count * count)
        var weights = [Double](repeating: 0, count: count)
        design.withUnsafeBufferPointer { x in
            let base = x.baseAddress!
            for i in 0..<count {
                for j in 0...i {
                    gram[i * count + j] = DenseKernels.dot(base + i * rows, base + j * rows, count: rows)
                }
                gram[i * count + i] += configuration.alpha
                weights[i] = centredLabels.withUnsafeBufferPointer {
                    DenseKernels.dot(base + i * rows, $0.baseAddress!, count: rows)
                }
            }
        }
        let failedPivot = gram.withUnsafeMutableBufferPointer { Cholesky.factor($0.baseAddress!, n: count) }
        if let failedPivot {
            let fix =
                configuration.alpha == 0
                ? "set alpha > 0" : "alpha \(configuration.alpha) is too small to separate them; increase it"
            throw SlipwayError.badRequest(
                "features are collinear; \(fix) (feature '\(features.featureNames[failedPivot])' is constant "
                    + "or a linear combination of the features before it)")
        }
        gram.withUnsafeBufferPointer { l in
            weights.withUnsafeMutableBufferPointer { Cholesky.solve(l.baseAddress!, n: count, $0.baseAddress!) }
        }

        let parameters = standardization.parameters(
            link: .identity, weights: [weights], intercepts: [labelMean], standardized: configuration.standardize)
        let trainingRMSE = Self.rmse(design: design, rows: rows, weights: weights, centredLabels: centredLabels)
        if let observer {
            var metrics = ["train_rmse": trainingRMSE]
            if let validation {
                metrics["validation_rmse"] = Self.rmse(parameters, validation.features, validation.labels)
            }
            try observer(TrainingProgress(iteration: 1, maxIterations: 1, metrics: metrics))
        }
        return RidgeRegressionResult(parameters: parameters, trainingRMSE: trainingRMSE)
    }

    /// Training RMSE straight from the centred design, without materialising a prediction per row.
    private static func rmse(design: [Double], rows: Int, weights: [Double], centredLabels: [Double]) -> Double {
        var residuals = centredLabels
        design.withUnsafeBufferPointer { x in
            residuals.withUnsafeMutableBufferPointer { r in
                for (feature, weight) in weights.enumerated() {
                    DenseKernels.axpy(-weight, x.baseAddress! + feature * rows, r.baseAddress!, count: rows)
                }
            }
        }
        return (residuals.reduce(0) { $0 + $1 * $1 } / Double(rows)).squareRoot()
    }

    private static func rmse(_ parameters: LinearModelParameters, _ features: FeatureMatrix, _ labels: [Double])
        -> Double
    {
        let predictions = parameters.predict(features)
        var squares = 0.0
        for (row, label) in labels.enumerated() {
            squares += (predictions[row][0] - label) * (predictions[row][0] - label)
        }
        return (squares / Double(labels.count)).squareRoot()
    }
}
