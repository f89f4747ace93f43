import Foundation
import SlipwayCore

/// Hyperparameters of ``LogisticRegressionTrainer``.
///
/// The trainer minimises, over weights `W` (one row per output) and unpenalised intercepts `b`,
///
///     f(W, b) = (1/n) · [ Σᵢ logloss(yᵢ, b + W·x'ᵢ) + (l2 / 2) · ‖W‖² ]
///
/// where `x'` is the imputed (and, with ``standardize``, standardised) feature row. This is exactly
/// scikit-learn's `LogisticRegression(C=1/l2, solver="lbfgs")` objective `C·Σ logloss + ½‖W‖²` divided
/// by `C·n`, so the two have the same minimiser and the same tolerance semantics. Binary uses the
/// logistic loss with one weights row; multiclass uses the full multinomial (softmax) loss with K rows.
public struct LogisticRegressionConfiguration: Sendable, Equatable {
    /// `.binary` (labels 0/1) or `.multiclass` (labels 0..<``classCount``); `.regression` is rejected.
    public var task: LearningTask
    /// The number of classes: 2 for binary, at least 2 for multiclass.
    public var classCount: Int
    /// L2 penalty strength λ on the weights (not the intercepts); scikit-learn's `C` is `1 / l2`.
    /// 0 turns the penalty off (the weights may then grow without bound on separable data).
    public var l2: Double
    /// The most L-BFGS iterations (scikit-learn's `max_iter`).
    public var maxIterations: Int
    /// Converged when the largest component of `∇f` (the gradient of the objective above, which is
    /// averaged over rows) is at most this, as scikit-learn's `tol` for lbfgs; training also stops,
    /// converged, when an iteration lowers `f` by less than 64 ulp relative to `f`.
    public var tolerance: Double
    /// Centre each feature on its training mean and divide by its training standard deviation
    /// (population, ddof 0; 1 for a constant feature) before fitting. The penalty then applies to
    /// standardised weights, like a scikit-learn `StandardScaler` + `LogisticRegression` pipeline, and
    /// the returned parameters carry the mean and scale. Off, the weights apply to raw features.
    public var standardize: Bool

    public init(
        task: LearningTask = .binary, classCount: Int = 2, l2: Double = 1, maxIterations: Int = 100,
        tolerance: Double = 1e-4, standardize: Bool = true
    ) {
        self.task = task
        self.classCount = classCount
        self.l2 = l2
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.standardize = standardize
    }

    /// Throws when a hyperparameter is out of range, saying which and what is allowed.
    public func validate() throws(SlipwayError) {
        switch task {
        case .binary:
            guard classCount == 2 else {
                throw .badRequest("binary logistic regression has 2 classes, not \(classCount); set classCount to 2")
            }
        case .multiclass:
            guard classCount >= 2 else {
                throw .badRequest("classCount is \(classCount); multiclass logistic regression needs at least 2")
            }
        case .regression:
            throw .badRequest("logistic regression is for binary or multiclass tasks; use ridge regression instead")
        }
        guard l2 >= 0, l2.isFinite else { throw .badRequest("l2 is \(l2); use a finite number >= 0 (default 1)") }
        guard maxIterations >= 1 else {
            throw .badRequest("maxIterations is \(maxIterations); use at least 1 (default 100)")
        }
        guard tolerance > 0, tolerance.isFinite else {
            throw .badRequest("tolerance is \(tolerance); use a finite number > 0 (default 1e-4)")
        }
    }
}

/// What ``LogisticRegressionTrainer/train(features:labels:validation:observer:)`` returns.
public struct LogisticRegressionResult: Sendable, Equatable {
    /// The model: link `.logistic` with one weights row (binary) or `.softmax` with one row per class.
    public var parameters: LinearModelParameters
    /// L-BFGS iterations run.
    public var iterations: Int
    /// Whether the tolerance was met before ``LogisticRegressionConfiguration/maxIterations``.
    public var converged: Bool
    /// The objective `f` (mean log loss plus the scaled penalty) after each iteration.
    public var lossHistory: [Double]
}

/// Fits binary or multinomial logistic regression with L-BFGS; deterministic (no randomness, and
/// parallel sums are combined in a fixed order).
///
/// ```swift
/// let trainer = LogisticRegressionTrainer(configuration: .init(task: .multiclass, classCount: 3))
/// let result = try trainer.train(features: matrix, labels: labels)
/// let probabilities = result.parameters.predict(matrix)  // [row][class]
/// ```
public struct LogisticRegressionTrainer: Sendable {
    public var configuration: LogisticRegressionConfiguration

    public init(configuration: LogisticRegressionConfiguration = .init()) {
        self.configuration = configuration
    }

    /// Trains on `features` and `labels`, reporting progress after every L-BFGS iteration.
    ///
    /// Missing feature values (NaN) are replaced by the feature's training mean, in training and in the
    /// returned parameters' `predict`.
    ///
    /// - Parameters:
    ///   - features: training rows; no value may be infinite.
    ///   - labels: one per row: 0 or 1 for binary, an integer in `0..<classCount` for multiclass.
    ///   - validation: optional held-out rows, scored (`validation_loss`) after every iteration.
    ///   - observer: called after every iteration with `train_loss` and `validation_loss`, the mean
    ///     unpenalised log loss (the keys every iterative trainer uses).
    /// - Throws: `SlipwayError.badRequest` for invalid data or hyperparameters; otherwise whatever
    ///   `observer` throws (e.g. `CancellationError`), which stops training at once. The function uses
    ///   untyped `throws` because the observer may throw any error.
    public func train(
        features: FeatureMatrix, labels: [Double], validation: (features: FeatureMatrix, labels: [Double])? = nil,
        observer: TrainingObserver? = nil
    ) throws -> LogisticRegressionResult {
        try configuration.validate()
        let outputs = configuration.task == .binary ? 1 : configuration.classCount
        try checkLabels(features: features, labels: labels, role: "training", requireTwoClasses: true)
        if let validation {
            try LinearInputCheck.checkSameFeatures(training: features, validation: validation.features)
            try checkLabels(
                features: validation.features, labels: validation.labels, role: "validation", requireTwoClasses: false)
        }

        let standardization = FeatureStandardization(fitting: features, standardize: configuration.standardize)
        let training = LogisticObjective(
            design: standardization.design(features), labels: labels, rowCount: features.rowCount,
            featureCount: features.columnCount, outputCount: outputs, l2: configuration.l2)
        let held = validation.map {
            LogisticObjective(
                design: standardization.design($0.features), labels: $0.labels, rowCount: $0.features.rowCount,
                featureCount: features.columnCount, outputCount: outputs, l2: 0)
        }

        let minimizer = LBFGSMinimizer(
            maxIterations: configuration.maxIterations, gradientTolerance: configuration.tolerance)
        let maxIterations = configuration.maxIterations
        let outcome = try minimizer.minimize(
            from: [Double](repeating: 0, count: training.parameterCount),
            objective: { point, gradient in training.evaluate(point, gradient: &gradient) },
            afterIteration: { iteration, point, value in
                guard let observer else { return }
                var metrics = ["train_loss": value - training.scaledPenalty(point)]
                if let held { metrics["validation_loss"] = held.meanLogLoss(point) }
                try observer(TrainingProgress(iteration: iteration, maxIterations: maxIterations, metrics: metrics))
            })

        let (weights, intercepts) = training.unpack(outcome.point)
        let parameters = standardization.parameters(
            link: configuration.task == .binary ? .logistic : .softmax, weights: weights, intercepts: intercepts,
            standardized: configuration.standardize)
        return LogisticRegressionResult(
            parameters: parameters, iterations: outcome.iterations, converged: outcome.converged,
            lossHistory: outcome.values)
    }

    private func checkLabels(
        features: FeatureMatrix, labels: [Double], role: String, requireTwoClasses: Bool
    ) throws(SlipwayError) {
        try LinearInputCheck.check(features: features, labels: labels, role: role)
        let classes = configuration.classCount
        if let row = labels.firstIndex(where: { $0 != $0.rounded() || $0 < 0 || $0 >= Double(classes) }) {
            let allowed = configuration.task == .binary ? "0 or 1" : "an integer in 0..<\(classes) (classCount)"
            throw .badRequest("\(role) label \(row) is \(labels[row]); each label must be \(allowed)")
        }
        if requireTwoClasses, let first = labels.first, labels.allSatisfy({ $0 == first }) {
            throw .badRequest(
                "every \(role) label is \(Int(first)); logistic regression needs examples of at least two classes")
        }
    }
}

/// The logistic objective over one design buffer, evaluated in fixed row blocks (in parallel) whose
/// partial sums are added in block order, so the value never depends on the number of cores.
///
/// Parameters are laid out output by output: `featureCount` weights, then the intercept.
struct LogisticObjective: Sendable {
    let design: [Double]
    let labels: [Double]
    let rowCount: Int
    let featureCount: Int
    /// 1 for binary (logistic), K for multiclass (softmax).
    let outputCount: Int
    let l2: Double

    /// Rows per parallel block: fixed, so results are reproducible on any machine.
    static let blockRows = 16_384
    /// Rows per cache-resident chunk inside a block.
    static let chunkRows = 512

    var parameterCount: Int { outputCount * (featureCount + 1) }

    /// `f` (see ``LogisticRegressionConfiguration``) at `point`; writes `∇f` into `gradient`.
    func evaluate(_ point: [Double], gradient: inout [Double]) -> Double {
        let (loss, sums) = totals(point, wantGradient: true)
        let n = Double(rowCount)
        for index in gradient.indices { gradient[index] = sums[index] / n }
        forEachWeight { index in gradient[index] += l2 / n * point[index] }
        return loss / n + scaledPenalty(point)
    }

    /// Mean log loss at `point`, without penalty or gradient.
    func meanLogLoss(_ point: [Double]) -> Double {
        totals(point, wantGradient: false).loss / Double(rowCount)
    }

    /// `(l2 / 2n)·‖W‖²`: the part of `f` that is not log loss.
    func scaledPenalty(_ point: [Double]) -> Double {
        var squares = 0.0
        forEachWeight { index in squares += point[index] * point[index] }
        return l2 / (2 * Double(rowCount)) * squares
    }

    /// Splits `point` into weights rows and intercepts.
    func unpack(_ point: [Double]) -> (weights: [[Double]], intercepts: [Double]) {
        let stride = featureCount + 1
        let weights = (0..<outputCount).map { Array(point[($0 * stride)..<($0 * stride + featureCount)]) }
        let intercepts = (0..<outputCount).map { point[$0 * stride + featureCount] }
        return (weights, intercepts)
    }

    private func forEachWeight(_ body: (Int) -> Void) {
        for output in 0..<outputCount {
            for feature in 0..<featureCount { body(output * (featureCount + 1) + feature) }
        }
    }

    /// Summed log loss and summed per-parameter gradient (no penalty, not averaged).
    private func totals(_ point: [Double], wantGradient: Bool) -> (loss: Double, gradient: [Double]) {
        let blocks = (rowCount + Self.blockRows - 1) / Self.blockRows
        let partials = DenseKernels.parallelMap(blocks) { block in
            let rows = (block * Self.blockRows)..<min(rowCount, (block + 1) * Self.blockRows)
            return outputCount == 1
                ? binaryBlock(point, rows: rows, wantGradient: wantGradient)
                : multinomialBlock(point, rows: rows, wantGradient: wantGradient)
        }
        var loss = 0.0
        var gradient = [Double](repeating: 0, count: parameterCount)
        for partial in partials {
            loss += partial.loss
            if wantGradient { for index in gradient.indices { gradient[index] += partial.gradient[index] } }
        }
        return (loss, gradient)
    }

    private func binaryBlock(_ point: [Double], rows: Range<Int>, wantGradient: Bool) -> (
        loss: Double, gradient: [Double]
    ) {
        let features = featureCount
        let n = rowCount
        var gradient = [Double](repeating: 0, count: features + 1)
        var loss = 0.0
        let residuals = UnsafeMutablePointer<Double>.allocate(capacity: Self.chunkRows)
        defer { residuals.deallocate() }
        design.withUnsafeBufferPointer { designBuffer in
            labels.withUnsafeBufferPointer { labelBuffer in
                let x = designBuffer.baseAddress!
                var start = rows.lowerBound
                while start < rows.upperBound {
                    let count = min(Self.chunkRows, rows.upperBound - start)
                    residuals.update(repeating: point[features], count: count)
                    for feature in 0..<features {
                        DenseKernels.axpy(point[feature], x + feature * n + start, residuals, count: count)
                    }
                    var residualSum = 0.0
                    for row in 0..<count {
                        let margin = residuals[row]
                        let label = labelBuffer[start + row]
                        // log(1 + e^z) − y·z and σ(z), from one exp that cannot overflow. log(1 + e)
                        // rather than log1p(e): e ≤ 1, so the absolute error is still an ulp, and glibc's
                        // log is much faster (this loop is the hot path of every evaluation).
                        let e = exp(-abs(margin))
                        loss += log(1 + e) + max(margin, 0) - label * margin
                        let probability = margin >= 0 ? 1 / (1 + e) : e / (1 + e)
                        residuals[row] = probability - label
                        residualSum += probability - label
                    }
                    if wantGradient {
                        for feature in 0..<features {
                            gradient[feature] += DenseKernels.dot(x + feature * n + start, residuals, count: count)
                        }
                        gradient[features] += residualSum
                    }
                    start += count
                }
            }
        }
        return (loss, gradient)
    }

    private func multinomialBlock(
        _ point: [Double], rows: Range<Int>, wantGradient: Bool
    ) -> (loss: Double, gradient: [Double]) {
        let features = featureCount
        let classes = outputCount
        let stride = features + 1
        let chunk = Self.chunkRows
        let n = rowCount
        var gradient = [Double](repeating: 0, count: parameterCount)
        var loss = 0.0
        // Class-major: class k of chunk row i at k * chunk + i; margins become residuals in place.
        let residuals = UnsafeMutablePointer<Double>.allocate(capacity: classes * chunk)
        defer { residuals.deallocate() }
        design.withUnsafeBufferPointer { designBuffer in
            labels.withUnsafeBufferPointer { labelBuffer in
                let x = designBuffer.baseAddress!
                var start = rows.lowerBound
                while start < rows.upperBound {
                    let count = min(chunk, rows.upperBound - start)
                    for k in 0..<classes {
                        (residuals + k * chunk).update(repeating: point[k * stride + features], count: count)
                    }
                    for feature in 0..<features {
                        let column = x + feature * n + start
                        for k in 0..<classes {
                            DenseKernels.axpy(point[k * stride + feature], column, residuals + k * chunk, count: count)
                        }
                    }
                    for row in 0..<count {
                        let label = Int(labelBuffer[start + row])
                        var top = -Double.infinity
                        for k in 0..<classes { top = max(top, residuals[k * chunk + row]) }
                        let labelMargin = residuals[label * chunk + row]
                        var sum = 0.0
                        for k in 0..<classes {
                            let e = exp(residuals[k * chunk + row] - top)
                            residuals[k * chunk + row] = e
                            sum += e
                        }
                        loss += log(sum) + top - labelMargin
                        let inverse = 1 / sum
                        for k in 0..<classes { residuals[k * chunk + row] *= inverse }
                        residuals[label * chunk + row] -= 1
                    }
                    if wantGradient {
                        for k in 0..<classes {
                            let residual = residuals + k * chunk
                            for feature in 0..<features {
                                gradient[k * stride + feature] += DenseKernels.dot(
                                    x + feature * n + start, residual, count: count)
                            }
                            var sum = 0.0
                            for row in 0..<count { sum += residual[row] }
                            gradient[k * stride + features] += sum
                        }
                    }
                    start += count
                }
            }
        }
        return (loss, gradient)
    }
}
