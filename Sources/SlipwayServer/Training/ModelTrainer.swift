import Foundation
import SlipwayCore
import SlipwayML
import SlipwayRuntime

/// What a training run produced, ready to register.
struct TrainedModel: Sendable {
    /// The native model file.
    let artifact: [UInt8]
    let signature: ModelSignature?
    /// Validation metrics, fairness metrics per sensitive group, and row counts.
    let metrics: [String: Double]
    /// Hyperparameters in effect and facts about the run.
    let parameters: [String: String]
    /// Lines for the job log.
    let summary: [String]
}

/// Trains the spec's algorithm on a ``TrainingTable``, evaluates it on the validation split and writes
/// the native model file. Pure compute: no I/O, deterministic under the spec's seed.
struct ModelTrainer {
    let spec: TrainingSpec
    /// Metadata written into the model file (dataset version, job, spec digest).
    let metadata: [String: String]

    static let maximumClasses = 1000
    static let maximumGroups = 50

    func train(_ table: TrainingTable, observer: @escaping TrainingObserver) throws -> TrainedModel {
        if spec.task == .ranking { return try trainRanking(table, observer: observer) }
        let rows = table.rowCount
        guard rows >= 10 else {
            throw SlipwayError.unprocessable(
                "the dataset has \(rows) rows; training needs at least 10", code: "not_enough_data")
        }
        let (validationRows, trainingRows) = split(table)
        guard !trainingRows.isEmpty, !validationRows.isEmpty else {
            throw SlipwayError.unprocessable(
                "the validation split left no training or no validation rows; change validation.fraction",
                code: "not_enough_data")
        }
        let matrix = try FeatureMatrix(featureNames: table.featureNames, columns: table.features)
        let trainMatrix = matrix.selecting(rows: trainingRows)
        let validMatrix = matrix.selecting(rows: validationRows)
        let hyper = spec.hyperparameters ?? [:]
        let seed = spec.seed ?? 0
        var parameters = ["algorithm": spec.algorithm.rawValue, "task": spec.task.rawValue, "seed": String(seed)]
        for (key, value) in hyper { parameters[key] = Self.format(value) }
        parameters["train_rows"] = String(trainingRows.count)
        parameters["validation_rows"] = String(validationRows.count)
        parameters["features"] = String(table.featureNames.count)

        var document: NativeModelDocument
        var validationOutputs: [[Double]]
        var classes: [String]? = nil
        var summary: [String] = []
        var labelValues: [Double]
        switch spec.task {
        case .binary, .multiclass:
            let found = Self.classes(table.labels)
            if spec.task == .binary, found.count != 2 {
                throw SlipwayError.unprocessable(
                    "task binary needs a label with exactly 2 distinct values; '\(spec.label ?? "")' has \(found.count)"
                        + " (\(found.prefix(5).joined(separator: ", "))\(found.count > 5 ? ", …" : ""))"
                        + (found.count > 2 ? "; use task multiclass" : ""), code: "invalid_labels")
            }
            guard found.count >= 2, found.count <= Self.maximumClasses else {
                throw SlipwayError.unprocessable(
                    "task multiclass needs 2 to \(Self.maximumClasses) distinct label values; found \(found.count)",
                    code: "invalid_labels")
            }
            classes = found
            let index = Dictionary(uniqueKeysWithValues: found.enumerated().map { ($1, Double($0)) })
            labelValues = table.labels.map { index[$0]! }
        case .regression:
            labelValues = try table.labels.enumerated().map { row, text in
                guard let value = ValueParsing.number(text) else {
                    throw SlipwayError.unprocessable(
                        "row \(row + 1): regression label '\(text.prefix(40))' is not a number", code: "invalid_labels")
                }
                return value
            }
        case .ranking:
            fatalError("handled above")
        }
        let trainLabels = trainingRows.map { labelValues[$0] }
        let validLabels = validationRows.map { labelValues[$0] }
        let learningTask: LearningTask =
            switch spec.task {
            case .binary: .binary
            case .multiclass: .multiclass
            default: .regression
            }
        let task: NativeModelDocument.Task =
            switch spec.task {
            case .binary: .binary
            case .multiclass: .multiclass
            default: .regression
            }
        let classCount = classes?.count ?? 1

        switch spec.algorithm {
        case .logisticRegression:
            let configuration = LogisticRegressionConfiguration(
                task: learningTask, classCount: classCount, l2: 1 / (hyper["c"] ?? 1),
                maxIterations: Int(hyper["max_iterations"] ?? 100), tolerance: hyper["tolerance"] ?? 1e-4)
            let result = try LogisticRegressionTrainer(configuration: configuration).train(
                features: trainMatrix, labels: trainLabels, validation: (validMatrix, validLabels), observer: observer)
            parameters["iterations"] = String(result.iterations)
            parameters["converged"] = String(result.converged)
            summary.append("L-BFGS: \(result.iterations) iterations, converged: \(result.converged)")
            validationOutputs = result.parameters.predict(validMatrix)
            document = Self.linearDocument(result.parameters, task: task, features: table.featureNames, classes: classes)
        case .linearRegression:
            let configuration = RidgeRegressionConfiguration(alpha: hyper["alpha"] ?? 1)
            let result = try RidgeRegressionTrainer(configuration: configuration).train(
                features: trainMatrix, labels: trainLabels, validation: (validMatrix, validLabels), observer: observer)
            validationOutputs = result.parameters.predict(validMatrix)
            document = Self.linearDocument(result.parameters, task: task, features: table.featureNames, classes: nil)
        case .gbdt:
            let configuration = GradientBoostingConfiguration(
                task: learningTask, classCount: classCount, numberOfTrees: Int(hyper["trees"] ?? 100),
                learningRate: hyper["learning_rate"] ?? 0.1, maxLeaves: Int(hyper["max_leaves"] ?? 31),
                maxDepth: hyper["max_depth"].map { Int($0) }, minDataInLeaf: Int(hyper["min_data_in_leaf"] ?? 20),
                lambdaL2: hyper["lambda_l2"] ?? 0, maxBins: Int(hyper["max_bins"] ?? 255),
                featureFraction: hyper["feature_fraction"] ?? 1, baggingFraction: hyper["bagging_fraction"] ?? 1,
                seed: seed, earlyStoppingRounds: hyper["early_stopping_rounds"].map { Int($0) },
                threads: Int(hyper["threads"] ?? 2))
            let result = try GradientBoostingTrainer(configuration: configuration).train(
                features: trainMatrix, labels: trainLabels, validation: (validMatrix, validLabels), observer: observer)
            parameters["trees_kept"] = String(result.treeCount)
            parameters["best_iteration"] = String(result.bestIteration)
            summary.append("boosting: \(result.iterationsRun) rounds run, best iteration \(result.bestIteration)")
            let importance = zip(table.featureNames, result.featureImportance).sorted { $0.1 > $1.1 }.prefix(5)
            summary.append("top features by gain: " + importance.map { "\($0.0) (\(Self.format($0.1)))" }.joined(separator: ", "))
            validationOutputs = result.model.predict(validMatrix)
            document = Self.treeDocument(result.model, task: task, features: table.featureNames, classes: classes)
        case .als:
            throw SlipwayError.badRequest("algorithm als trains task ranking", code: "invalid_spec")
        }

        var metrics = try Self.evaluate(task: spec.task, labels: validLabels.map { $0 }, outputs: validationOutputs)
        for (attribute, groups) in table.groups {
            let validationGroups = validationRows.map { groups[$0] }
            metrics.merge(
                try Self.fairness(
                    attribute: attribute, groups: validationGroups, task: spec.task, labels: validLabels,
                    outputs: validationOutputs), uniquingKeysWith: { $1 })
        }
        metrics["train_rows"] = Double(trainingRows.count)
        metrics["validation_rows"] = Double(validationRows.count)
        document.metadata = metadata.merging(["trainer": "slipway-\(spec.algorithm.rawValue)"]) { $1 }
        let bytes = try document.encoded()
        let predictor = try SlipwayNativePredictor(artifact: bytes)
        return TrainedModel(
            artifact: bytes, signature: predictor.signature, metrics: metrics, parameters: parameters,
            summary: summary)
    }

    /// Validation row indices and training row indices: a seeded shuffle, or the newest rows by time.
    func split(_ table: TrainingTable) -> (validation: [Int], training: [Int]) {
        let rows = table.rowCount
        let validationCount = max(1, Int((Double(rows) * spec.validationFraction).rounded()))
        var order = Array(0..<rows)
        if spec.validation?.timeColumn != nil {
            order.sort { table.times[$0] != table.times[$1] ? table.times[$0] < table.times[$1] : $0 < $1 }
            let cut = rows - validationCount
            return (Array(order[cut...]), Array(order[..<cut]).sorted())
        }
        var generator = SeededGenerator(seed: spec.seed ?? 0)
        order.shuffle(using: &generator)
        return (Array(order[..<validationCount]).sorted(), Array(order[validationCount...]).sorted())
    }

    /// Distinct labels, numerically ordered when every label is a number, else by text.
    static func classes(_ labels: [String]) -> [String] {
        let distinct = Array(Set(labels))
        let numbers = distinct.compactMap { ValueParsing.number($0) }
        if numbers.count == distinct.count {
            return distinct.sorted { ValueParsing.number($0)! < ValueParsing.number($1)! }
        }
        return distinct.sorted()
    }

    static func evaluate(task: TrainingTask, labels: [Double], outputs: [[Double]]) throws -> [String: Double] {
        switch task {
        case .binary:
            return try ClassificationMetrics.binary(labels: labels.map { Int($0) }, probabilities: outputs.map { $0[0] })
                .values
        case .multiclass:
            return try ClassificationMetrics.multiclass(labels: labels.map { Int($0) }, probabilities: outputs).values
        case .regression:
            return try RegressionMetrics.report(labels: labels, predictions: outputs.map { $0[0] }).values
        case .ranking:
            return [:]
        }
    }

    /// Per-group metrics for one sensitive attribute, and the largest gap between groups.
    ///
    /// Keys: `fairness.<attribute>.<group>.<metric>` (with `count` and, for binary, `positive_rate`), then
    /// `fairness.<attribute>.<metric>_gap` = max − min over groups, where demographic parity is the
    /// `positive_rate_gap`.
    static func fairness(
        attribute: String, groups: [String], task: TrainingTask, labels: [Double], outputs: [[Double]]
    ) throws -> [String: Double] {
        var rowsByGroup: [String: [Int]] = [:]
        for (row, group) in groups.enumerated() { rowsByGroup[group, default: []].append(row) }
        guard rowsByGroup.count <= maximumGroups else {
            throw SlipwayError.unprocessable(
                "sensitive attribute '\(attribute)' has \(rowsByGroup.count) groups; at most \(maximumGroups) are reported",
                code: "too_many_groups")
        }
        var metrics: [String: Double] = [:]
        var perMetric: [String: [Double]] = [:]
        for (group, rows) in rowsByGroup.sorted(by: { $0.key < $1.key }) {
            let prefix = "fairness.\(attribute).\(group)."
            metrics[prefix + "count"] = Double(rows.count)
            var values: [String: Double] = [:]
            switch task {
            case .binary:
                let probabilities = rows.map { outputs[$0][0] }
                values["positive_rate"] = Double(probabilities.filter { $0 >= 0.5 }.count) / Double(rows.count)
                values["accuracy"] =
                    Double(rows.filter { (outputs[$0][0] >= 0.5 ? 1.0 : 0.0) == labels[$0] }.count) / Double(rows.count)
                if let auc = try? ClassificationMetrics.rocAUC(
                    labels: rows.map { Int(labels[$0]) }, scores: probabilities)
                {
                    values["roc_auc"] = auc
                }
                let positives = rows.filter { labels[$0] == 1 }
                if !positives.isEmpty {
                    values["true_positive_rate"] =
                        Double(positives.filter { outputs[$0][0] >= 0.5 }.count) / Double(positives.count)
                }
            case .multiclass:
                values["accuracy"] =
                    Double(rows.filter { Self.argmax(outputs[$0]) == Int(labels[$0]) }.count) / Double(rows.count)
            case .regression:
                let squared = rows.map { (outputs[$0][0] - labels[$0]) * (outputs[$0][0] - labels[$0]) }
                values["rmse"] = (squared.reduce(0, +) / Double(rows.count)).squareRoot()
            case .ranking:
                break
            }
            for (name, value) in values {
                metrics[prefix + name] = value
                perMetric[name, default: []].append(value)
            }
        }
        for (name, values) in perMetric where values.count > 1 {
            metrics["fairness.\(attribute).\(name)_gap"] = values.max()! - values.min()!
        }
        return metrics
    }

    static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for index in values.indices where values[index] > values[best] { best = index }
        return best
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    static func link(_ link: OutputLink) -> NativeModelDocument.Link {
        switch link {
        case .identity: .identity
        case .logistic: .logistic
        case .softmax: .softmax
        }
    }

    static func linearDocument(
        _ model: LinearModelParameters, task: NativeModelDocument.Task, features: [String], classes: [String]?
    ) -> NativeModelDocument {
        NativeModelDocument(
            kind: .linear, task: task, features: features, classes: classes,
            linear: .init(
                link: link(model.link), weights: model.weights.map { $0.map(Float.init) },
                intercepts: model.intercepts.map(Float.init),
                standardization: .init(mean: model.mean.map(Float.init), scale: model.scale.map(Float.init)),
                imputation: model.imputation.map(Float.init)))
    }

    static func treeDocument(
        _ model: TreeEnsembleParameters, task: NativeModelDocument.Task, features: [String], classes: [String]?
    ) -> NativeModelDocument {
        NativeModelDocument(
            kind: .treeEnsemble, task: task, features: features, classes: classes,
            treeEnsemble: .init(
                link: link(model.link), baseMargin: model.baseMargin.map(Float.init),
                trees: model.trees.map { tree in
                    .init(
                        output: task == .multiclass ? tree.output : nil, feature: tree.feature,
                        threshold: tree.threshold.map(Float.init), left: tree.left, right: tree.right,
                        defaultLeft: tree.defaultLeft, value: tree.value.map(Float.init))
                }))
    }

    /// Implicit ALS on (user, item, weight) rows; evaluated by hiding a seeded fraction of each user's
    /// interactions and ranking all items they have not been seen with.
    func trainRanking(_ table: TrainingTable, observer: @escaping TrainingObserver) throws -> TrainedModel {
        guard table.rowCount >= 10 else {
            throw SlipwayError.unprocessable(
                "the dataset has \(table.rowCount) interactions; training needs at least 10", code: "not_enough_data")
        }
        let hyper = spec.hyperparameters ?? [:]
        let k = Int(hyper["k"] ?? 10)
        var generator = SeededGenerator(seed: spec.seed ?? 0)
        var training: [ImplicitALSTrainer.Interaction] = []
        var heldOut: [Int: Set<Int>] = [:]
        for row in 0..<table.rowCount {
            let interaction = ImplicitALSTrainer.Interaction(
                user: table.users[row], item: table.items[row], strength: table.weights[row])
            if generator.nextUnit() < spec.validationFraction {
                heldOut[interaction.user, default: []].insert(interaction.item)
            } else {
                training.append(interaction)
            }
        }
        let configuration = ImplicitALSConfiguration(
            factors: Int(hyper["factors"] ?? 32), regularization: hyper["regularization"] ?? 0.01,
            alpha: hyper["alpha"] ?? 40, iterations: Int(hyper["iterations"] ?? 15), seed: spec.seed ?? 0)
        let result = try ImplicitALSTrainer(configuration: configuration).train(
            interactions: training, userIDs: table.userIDs, itemIDs: table.itemIDs, observer: observer)
        var seen: [Int: Set<Int>] = [:]
        for interaction in training { seen[interaction.user, default: []].insert(interaction.item) }
        let users = heldOut.keys.sorted()
        let rankings = users.map { result.parameters.topK(k, forUser: $0, excluding: seen[$0] ?? []) }
        var metrics: [String: Double] = [:]
        if !users.isEmpty {
            metrics = try RankingMetrics.report(rankings: rankings, relevant: users.map { heldOut[$0]! }, k: k).values
        }
        metrics["users"] = Double(table.userIDs.count)
        metrics["items"] = Double(table.itemIDs.count)
        metrics["train_interactions"] = Double(training.count)
        metrics["validation_interactions"] = Double(heldOut.values.map(\.count).reduce(0, +))
        let model = result.parameters
        var document = NativeModelDocument(
            kind: .factorization, task: .ranking, features: ["user", "item"],
            factorization: .init(
                dimensions: model.dimensions,
                users: .init(ids: model.userIDs, factors: model.userFactors.map(Float.init)),
                items: .init(ids: model.itemIDs, factors: model.itemFactors.map(Float.init))))
        document.metadata = metadata.merging(["trainer": "slipway-als"]) { $1 }
        let bytes = try document.encoded()
        let predictor = try SlipwayNativePredictor(artifact: bytes)
        var parameters = ["algorithm": "als", "task": "ranking", "seed": String(spec.seed ?? 0), "k": String(k)]
        for (key, value) in hyper { parameters[key] = Self.format(value) }
        return TrainedModel(
            artifact: bytes, signature: predictor.signature, metrics: metrics, parameters: parameters,
            summary: ["ALS: \(configuration.iterations) sweeps, \(configuration.factors) factors"])
    }
}
