import SlipwayCore

/// Trains gradient-boosted decision trees on histograms of binned features, in the manner of LightGBM.
///
/// Trees grow leaf-wise (best gain first) up to `maxLeaves`; every split learns which way missing values
/// go. The same inputs and seed give bit-identical trees for any thread count.
///
/// ```swift
/// let trainer = GradientBoostingTrainer(configuration: .init(task: .binary, earlyStoppingRounds: 10))
/// let result = try trainer.train(features: train, labels: labels, validation: (holdout, holdoutLabels))
/// let probabilities = result.model.predict(holdout)
/// ```
public struct GradientBoostingTrainer: Sendable {
    public var configuration: GradientBoostingConfiguration

    public init(configuration: GradientBoostingConfiguration) {
        self.configuration = configuration
    }

    /// Trains a model; runs on the calling thread plus `configuration.threads - 1` workers, so call it from
    /// a job runner's thread, not from an async context that must stay responsive.
    ///
    /// - Parameters:
    ///   - features: training rows; NaN marks a missing value.
    ///   - labels: one per row: 0/1 for binary, `0..<classCount` for multiclass, any finite number for
    ///     regression.
    ///   - validation: rows and labels scored after every round; needed for early stopping.
    ///   - observer: called after every round with `train_loss` (and `validation_loss`); when it throws,
    ///     training stops.
    /// - Returns: the model and its training history.
    /// - Throws: `SlipwayError.badRequest` for unusable data or hyperparameters, before any training; or
    ///   the observer's error unchanged (e.g. `CancellationError`), which is why this is an untyped `throws`.
    public func train(
        features: FeatureMatrix, labels: [Double], validation: (FeatureMatrix, [Double])? = nil,
        observer: TrainingObserver? = nil
    ) throws -> GradientBoostingResult {
        try configuration.validate()
        try checkData(features, labels, role: "training")
        if let (matrix, validationLabels) = validation {
            try checkData(matrix, validationLabels, role: "validation")
            guard matrix.featureNames == features.featureNames else {
                throw SlipwayError.badRequest(
                    "validation features must be the training features in the same order: expected "
                        + "\(features.featureNames.prefix(5)), got \(matrix.featureNames.prefix(5))",
                    code: "invalid_training_data")
            }
        } else if configuration.earlyStoppingRounds != nil {
            throw SlipwayError.badRequest(
                "earlyStoppingRounds needs a validation set: pass validation rows or omit earlyStoppingRounds",
                code: "invalid_hyperparameter")
        }
        let run = BoostingRun(configuration: configuration, features: features, labels: labels, validation: validation)
        return try run.train(observer: observer)
    }

    private func checkData(_ matrix: FeatureMatrix, _ labels: [Double], role: String) throws(SlipwayError) {
        func fail(_ message: String) -> SlipwayError { .badRequest(message, code: "invalid_training_data") }
        guard matrix.rowCount > 0, matrix.columnCount > 0 else {
            throw fail(
                "\(role) data is empty (\(matrix.rowCount) rows, \(matrix.columnCount) features): pass at least one row and one feature"
            )
        }
        guard labels.count == matrix.rowCount else {
            throw fail("\(role) data has \(matrix.rowCount) rows but \(labels.count) labels: pass one label per row")
        }
        guard matrix.rowCount < Int(Int32.max) else {
            throw fail("\(role) data has \(matrix.rowCount) rows; at most \(Int32.max - 1) are supported")
        }
        if let row = labels.firstIndex(where: { !$0.isFinite }) {
            throw fail("\(role) label at row \(row) is \(labels[row]): drop the row or fill in its label")
        }
        switch configuration.task {
        case .binary:
            if let row = labels.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                throw fail(
                    "binary labels must be 0 or 1, but \(role) row \(row) has \(labels[row]): map the classes to 0/1")
            }
            if role == "training", !labels.contains(0) || !labels.contains(1) {
                throw fail("training labels are all \(Int(labels[0])): binary training needs examples of both 0 and 1")
            }
        case .multiclass:
            let classes = configuration.classCount
            if let row = labels.firstIndex(where: { $0 < 0 || $0 >= Double(classes) || $0 != $0.rounded() }) {
                throw fail(
                    "multiclass labels must be whole numbers in 0..<\(classes) (classCount), but \(role) row \(row) "
                        + "has \(labels[row]): encode classes as 0...\(classes - 1) or raise classCount")
            }
        case .regression:
            break
        }
    }
}

/// One training run: owns the binned data, scores and gradients while boosting.
private final class BoostingRun {
    private let configuration: GradientBoostingConfiguration
    private let objective: BoostingObjective
    private let pool: WorkerPool
    private let features: FeatureMatrix
    private let labels: [Double]
    private let validation: (FeatureMatrix, [Double])?
    private let rowCount: Int
    private let outputs: Int

    init(
        configuration: GradientBoostingConfiguration, features: FeatureMatrix, labels: [Double],
        validation: (FeatureMatrix, [Double])?
    ) {
        self.configuration = configuration
        self.objective = BoostingObjective(configuration)
        self.pool = WorkerPool(threads: configuration.threads)
        self.features = features
        self.labels = labels
        self.validation = validation
        self.rowCount = features.rowCount
        self.outputs = objective.outputCount
    }

    func train(observer: TrainingObserver?) throws -> GradientBoostingResult {
        let rows = rowCount
        let data = BinnedDataset(features, maxBins: configuration.maxBins, seed: configuration.seed, pool: pool)
        let learner = HistogramTreeLearner(data: data, configuration: configuration, pool: pool)
        let baseMargin = objective.baseMargins(labels: labels)
        var scores = baseMargin.flatMap { Array(repeating: $0, count: rows) }
        let gh = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * outputs * rows)
        defer { gh.deallocate() }

        let validationBins = validation.map { data.rowMajorBins(of: $0.0, pool: pool) } ?? []
        let validationRows = validation?.0.rowCount ?? 0
        var validationScores = baseMargin.flatMap { Array(repeating: $0, count: validationRows) }

        var generator = SeededGenerator(seed: configuration.seed)
        var trees: [TreeEnsembleParameters.Tree] = []
        var importanceByRound: [[Double]] = []
        var trainLoss: [Double] = []
        var validationLoss: [Double] = []
        var bestIteration = 0
        var bestLoss = Double.infinity
        let rounds = configuration.numberOfTrees

        var scales = computeGradients(scores: scores, into: gh).scales
        for round in 1...rounds {
            let allowed = featureMask(count: data.featureCount, generator: &generator)
            let bagged = configuration.baggingFraction < 1
            if bagged {
                learner.useBag(fraction: configuration.baggingFraction, generator: &generator)
            } else {
                learner.useAllRows()
            }
            var importance = [Double](repeating: 0, count: data.featureCount)
            for output in 0..<outputs {
                let grown = learner.grow(
                    gh: gh + 2 * output * rows, gradientScale: scales.gradient, hessianScale: scales.hessian,
                    allowedFeatures: allowed, output: output)
                trees.append(grown.tree)
                for feature in importance.indices { importance[feature] += grown.gainByFeature[feature] }
                scores.withUnsafeMutableBufferPointer { scores in
                    let outputScores = scores.baseAddress! + output * rows
                    if bagged {
                        // Out-of-bag rows are in no leaf range, so route every row through the tree.
                        addLeafValues(
                            grown.binned, bins: data.rowMajor, rowStride: data.rowStride, rows: rows, to: outputScores)
                    } else {
                        learner.addLeafValues(of: grown, to: outputScores)
                    }
                }
                if validation != nil {
                    validationBins.withUnsafeBufferPointer { bins in
                        validationScores.withUnsafeMutableBufferPointer { scores in
                            addLeafValues(
                                grown.binned, bins: bins.baseAddress!, rowStride: data.featureCount,
                                rows: validationRows,
                                to: scores.baseAddress! + output * validationRows)
                        }
                    }
                }
            }
            importanceByRound.append(importance)

            let step = computeGradients(scores: scores, into: gh)
            scales = step.scales
            trainLoss.append(step.loss)
            var metrics = ["train_loss": step.loss]
            if let (_, labels) = validation {
                let loss = meanLoss(scores: validationScores, labels: labels)
                validationLoss.append(loss)
                metrics["validation_loss"] = loss
                if loss < bestLoss {
                    bestLoss = loss
                    bestIteration = round
                }
            } else {
                bestIteration = round
            }
            try observer?(TrainingProgress(iteration: round, maxIterations: rounds, metrics: metrics))
            if let patience = configuration.earlyStoppingRounds, round - bestIteration >= patience { break }
        }
        if configuration.earlyStoppingRounds == nil { bestIteration = trainLoss.count }

        var featureImportance = [Double](repeating: 0, count: data.featureCount)
        for importance in importanceByRound.prefix(bestIteration) {
            for feature in featureImportance.indices { featureImportance[feature] += importance[feature] }
        }
        return GradientBoostingResult(
            model: TreeEnsembleParameters(
                link: objective.link, baseMargin: baseMargin, trees: Array(trees.prefix(bestIteration * outputs))),
            bestIteration: bestIteration, iterationsRun: trainLoss.count, trainLoss: trainLoss,
            validationLoss: validationLoss, featureImportance: featureImportance, trainingMargins: scores)
    }

    /// Which features the next tree may split on: all, or `featureFraction` of them drawn from the seed.
    private func featureMask(count: Int, generator: inout SeededGenerator) -> [Bool] {
        guard configuration.featureFraction < 1 else { return Array(repeating: true, count: count) }
        let chosen = max(1, Int((configuration.featureFraction * Double(count)).rounded()))
        var order = Array(0..<count)
        for index in 0..<chosen { order.swapAt(index, index + Int(generator.next() % UInt64(count - index))) }
        var mask = Array(repeating: false, count: count)
        for feature in order.prefix(chosen) { mask[feature] = true }
        return mask
    }

    /// Writes fixed-point gradients for `scores` and returns the scales used and the mean loss.
    ///
    /// Each scale is the largest power of two that keeps every |gradient| (hessian) times it within 2^30: a
    /// row's pair fits in 8 bytes, a sum over up to 2^31 rows cannot overflow Int64, and the resolution is
    /// 2^-30 of the largest possible value (finer than Float's for all but the smallest gradients).
    private func computeGradients(scores: [Double], into gh: UnsafeMutablePointer<Int32>) -> (
        scales: (gradient: Double, hessian: Double), loss: Double
    ) {
        let rows = rowCount
        let objective = self.objective
        return scores.withUnsafeBufferPointer { scores in
            labels.withUnsafeBufferPointer { labels in
                let scoreBase = scores.baseAddress!
                let labelBase = labels.baseAddress!
                let bounds = objective.gradientBounds(scores: scoreBase, labels: labelBase, rows: rows)
                let gradientScale = Self.fixedPointScale(bound: bounds.gradient)
                let hessianScale = Self.fixedPointScale(bound: bounds.hessian)
                let blocks = RowBlocks.count(rows: rows)
                let loss = withUnsafeTemporaryAllocation(of: Double.self, capacity: blocks) { partial in
                    let partial = partial.baseAddress!
                    pool.forEachChunk(blocks) { block in
                        partial[block] = objective.gradients(
                            scores: scoreBase, labels: labelBase, rows: rows, range: RowBlocks.range(block, rows: rows),
                            gradientScale: gradientScale, hessianScale: hessianScale, into: gh)
                    }
                    return (0..<blocks).reduce(0) { $0 + partial[$1] }
                }
                return ((gradientScale, hessianScale), loss / Double(rows))
            }
        }
    }

    private static func fixedPointScale(bound: Double) -> Double {
        guard bound > 0, bound.isFinite else { return 1 }
        let limit = 0x1p30 / bound
        // Capped so that the scale stays finite even for subnormal bounds.
        return Double(sign: .plus, exponent: min(Int(limit.exponent), 1000), significand: 1)
    }

    private func meanLoss(scores: [Double], labels: [Double]) -> Double {
        let rows = labels.count
        let objective = self.objective
        return scores.withUnsafeBufferPointer { scores in
            labels.withUnsafeBufferPointer { labels in
                let blocks = RowBlocks.count(rows: rows)
                return withUnsafeTemporaryAllocation(of: Double.self, capacity: blocks) { partial in
                    let partial = partial.baseAddress!
                    pool.forEachChunk(blocks) { block in
                        partial[block] = objective.loss(
                            scores: scores.baseAddress!, labels: labels.baseAddress!, rows: rows,
                            range: RowBlocks.range(block, rows: rows))
                    }
                    return (0..<blocks).reduce(0) { $0 + partial[$1] } / Double(rows)
                }
            }
        }
    }

    private func addLeafValues(
        _ tree: BinnedTree, bins: UnsafePointer<UInt8>, rowStride: Int, rows: Int,
        to scores: UnsafeMutablePointer<Double>
    ) {
        pool.forEachChunk(RowBlocks.count(rows: rows)) { block in
            tree.addLeafValues(
                bins: bins, rowStride: rowStride, range: RowBlocks.range(block, rows: rows), scores: scores)
        }
    }
}
