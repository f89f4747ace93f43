import Foundation
import SlipwayCore
import Testing

@testable import SlipwayML

@Suite struct LogisticRegressionTests {
    /// Tight enough that both sides sit at the optimum rather than wherever their solvers stopped.
    static func tight(_ base: LogisticRegressionConfiguration) -> LogisticRegressionConfiguration {
        var configuration = base
        configuration.tolerance = 1e-10
        configuration.maxIterations = 10_000
        return configuration
    }

    @Test(arguments: ["raw_C0.5", "standardized_C1", "standardized_C0.05"])
    func binaryMatchesScikitLearn(caseName: String) throws {
        let fixture = try LinearFixture.load("logistic_binary")
        let expected = try #require(fixture.cases.first { $0.name == caseName })
        let configuration = Self.tight(.init(l2: 1 / expected.sklearnC!, standardize: expected.standardize))
        let result = try LogisticRegressionTrainer(configuration: configuration)
            .train(features: fixture.features, labels: fixture.labels)

        #expect(result.converged)
        #expect(result.parameters.link == .logistic)
        expectElementsClose(result.parameters.weights[0], expected.coef[0], tolerance: 1e-4, "coef")
        expectElementsClose(result.parameters.intercepts, expected.intercept, tolerance: 1e-4, "intercept")
        if expected.standardize {
            expectElementsClose(result.parameters.mean, expected.mean!, tolerance: 1e-9, "mean")
            expectElementsClose(result.parameters.scale, expected.scale!, tolerance: 1e-9, "scale")
        }
        let predictions = result.parameters.predict(try fixture.features)
        expectElementsClose(
            predictions.map { $0[0] }, expected.predictions.map { $0[0] }, tolerance: 1e-4, "probabilities")
    }

    @Test(arguments: ["raw_C2", "standardized_C1"])
    func multinomialMatchesScikitLearn(caseName: String) throws {
        let fixture = try LinearFixture.load("logistic_multinomial")
        let expected = try #require(fixture.cases.first { $0.name == caseName })
        let configuration = Self.tight(
            .init(task: .multiclass, classCount: 3, l2: 1 / expected.sklearnC!, standardize: expected.standardize))
        let result = try LogisticRegressionTrainer(configuration: configuration)
            .train(features: fixture.features, labels: fixture.labels)

        #expect(result.converged)
        #expect(result.parameters.link == .softmax)
        for k in 0..<3 {
            expectElementsClose(result.parameters.weights[k], expected.coef[k], tolerance: 1e-4, "coef[\(k)]")
        }
        // Softmax intercepts are only defined up to a shared constant; compare them centred.
        func centred(_ values: [Double]) -> [Double] { values.map { $0 - values.reduce(0, +) / Double(values.count) } }
        expectElementsClose(
            centred(result.parameters.intercepts), centred(expected.intercept), tolerance: 1e-4, "intercept")
        let predictions = result.parameters.predict(try fixture.features)
        for (row, probabilities) in predictions.enumerated() {
            expectElementsClose(probabilities, expected.predictions[row], tolerance: 1e-4, "row \(row)")
            #expect(abs(probabilities.reduce(0, +) - 1) < 1e-12)
        }
    }

    @Test func recoversKnownWeightsFromLargeSample() throws {
        let truth = (weights: [1.0, -2.0, 0.5], intercept: -0.5)
        let (features, labels) = Self.synthetic(rows: 20_000, weights: truth.weights, intercept: truth.intercept)
        // A weak penalty and unit-variance features: the fit should land near the generating weights.
        let result = try LogisticRegressionTrainer(configuration: .init(l2: 1e-3, standardize: false))
            .train(features: features, labels: labels)
        expectElementsClose(result.parameters.weights[0], truth.weights, tolerance: 0.1, "weights")
        expectElementsClose(result.parameters.intercepts, [truth.intercept], tolerance: 0.1, "intercept")
        #expect(result.converged)
        #expect(result.iterations < 100)
    }

    @Test func lossHistoryDecreasesAndTrainingIsDeterministic() throws {
        // More rows than one parallel block, so the blocks' partial sums are combined too.
        let (features, labels) = Self.synthetic(
            rows: LogisticObjective.blockRows + 3_000, weights: [0.7, -1.2, 0.1], intercept: 0.2)
        let trainer = LogisticRegressionTrainer()
        let first = try trainer.train(features: features, labels: labels)
        let second = try trainer.train(features: features, labels: labels)
        #expect(first == second)
        #expect(first.lossHistory.count == first.iterations)
        for (before, after) in zip(first.lossHistory, first.lossHistory.dropFirst()) { #expect(after <= before) }
    }

    @Test func withoutPenaltyStandardizingChangesParametersButNotPredictions() throws {
        let (features, labels) = Self.synthetic(rows: 1_000, weights: [0.7, -1.2], intercept: 0.2, shift: 5, spread: 3)
        var configuration = Self.tight(.init(l2: 0))
        let standardized = try LogisticRegressionTrainer(configuration: configuration)
            .train(features: features, labels: labels).parameters
        configuration.standardize = false
        let raw = try LogisticRegressionTrainer(configuration: configuration)
            .train(features: features, labels: labels).parameters

        #expect(standardized.scale != [1, 1])
        #expect(raw.mean == [0, 0] && raw.scale == [1, 1])
        expectElementsClose(
            standardized.predict(features).map { $0[0] }, raw.predict(features).map { $0[0] }, tolerance: 1e-6,
            "probabilities")
    }

    @Test func missingValuesAreImputedWithTrainingMeans() throws {
        let rows: [[Double]] = [
            [1, 10], [2, .nan], [3, 14], [.nan, 16], [5, 20], [6, 9], [7, 30], [8, .nan], [9, 11], [10, 25],
        ]
        let labels: [Double] = [0, 0, 1, 0, 1, 0, 1, 1, 0, 1]
        let features = try FeatureMatrix(featureNames: ["a", "b"], rows: rows)
        let means: [Double] = [51.0 / 9, 135.0 / 8]  // the non-missing values' means
        let filled = try FeatureMatrix(
            featureNames: ["a", "b"],
            rows: rows.map { row in row.enumerated().map { $1.isNaN ? means[$0] : $1 } })

        let trainer = LogisticRegressionTrainer()
        let withHoles = try trainer.train(features: features, labels: labels).parameters
        let withMeans = try trainer.train(features: filled, labels: labels).parameters
        expectElementsClose(withHoles.imputation, means, tolerance: 1e-12, "imputation")
        expectElementsClose(withHoles.weights[0], withMeans.weights[0], tolerance: 1e-12, "weights")
        expectElementsClose(
            withHoles.predict(features).map { $0[0] }, withMeans.predict(filled).map { $0[0] }, tolerance: 1e-12,
            "probabilities")
    }

    @Test func multiclassProbabilitiesSumToOne() throws {
        let (features, _) = Self.synthetic(rows: 600, weights: [1, 1], intercept: 0)
        let labels = (0..<600).map { Double(($0 * 7) % 4) }
        let result = try LogisticRegressionTrainer(configuration: .init(task: .multiclass, classCount: 4))
            .train(features: features, labels: labels)
        #expect(result.parameters.weights.count == 4)
        for probabilities in result.parameters.predict(features) {
            #expect(probabilities.count == 4)
            #expect(abs(probabilities.reduce(0, +) - 1) < 1e-12)
        }
    }

    @Test(arguments: [1, 3])
    func gradientMatchesFiniteDifferences(outputs: Int) {
        // Over 16,384 rows, so the objective is summed over more than one parallel block.
        let rows = LogisticObjective.blockRows + 700
        var generator = SeededGenerator(seed: 7)
        let design = (0..<(2 * rows)).map { _ in generator.nextUnit() * 2 - 1 }
        let labels = (0..<rows).map { _ in Double(Int(generator.nextUnit() * Double(outputs == 1 ? 2 : 3))) }
        let objective = LogisticObjective(
            design: design, labels: labels, rowCount: rows, featureCount: 2, outputCount: outputs, l2: 3)
        let point = (0..<objective.parameterCount).map { _ in generator.nextUnit() - 0.5 }
        var gradient = [Double](repeating: 0, count: point.count)
        _ = objective.evaluate(point, gradient: &gradient)
        for index in point.indices {
            var up = point
            var down = point
            up[index] += 1e-5
            down[index] -= 1e-5
            var scratch = gradient
            let numeric =
                (objective.evaluate(up, gradient: &scratch) - objective.evaluate(down, gradient: &scratch)) / 2e-5
            #expect(abs(numeric - gradient[index]) < 1e-7, "parameter \(index): \(numeric) vs \(gradient[index])")
        }
    }

    @Test func observerSeesEveryIterationWithMetrics() throws {
        let (features, labels) = Self.synthetic(rows: 500, weights: [1, -1], intercept: 0)
        let log = ObserverLog()
        let result = try LogisticRegressionTrainer().train(
            features: features, labels: labels, validation: (features, labels), observer: log.observer)
        #expect(log.calls.map(\.iteration) == Array(1...result.iterations))
        #expect(log.calls.allSatisfy { $0.maxIterations == 100 })
        let last = try #require(log.calls.last)
        // Validated on the training rows themselves, both losses agree.
        let train = try #require(last.metrics["train_loss"])
        #expect(abs(train - (last.metrics["validation_loss"] ?? .nan)) < 1e-12)
        #expect(train > 0 && train < 0.6931)
    }

    @Test func observerErrorStopsTraining() throws {
        let (features, labels) = Self.synthetic(rows: 500, weights: [1, -1], intercept: 0)
        let log = ObserverLog(cancelAt: 2)
        #expect(throws: CancellationError.self) {
            _ = try LogisticRegressionTrainer(configuration: .init(tolerance: 1e-12))
                .train(features: features, labels: labels, observer: log.observer)
        }
        #expect(log.calls.map(\.iteration) == [1, 2])
    }

    @Test func badInputsSayWhatToFix() throws {
        let features = try FeatureMatrix(featureNames: ["a"], rows: [[1], [2], [3]])
        let binary = LogisticRegressionTrainer()
        expectBadInput("no rows") {
            _ = try binary.train(features: FeatureMatrix(featureNames: [], columns: []), labels: [])
        }
        expectBadInput("3 rows but 2 labels") { _ = try binary.train(features: features, labels: [0, 1]) }
        expectBadInput("label 1 is nan") { _ = try binary.train(features: features, labels: [0, .nan, 1]) }
        expectBadInput("must be 0 or 1") { _ = try binary.train(features: features, labels: [0, 2, 1]) }
        expectBadInput("at least two classes") { _ = try binary.train(features: features, labels: [1, 1, 1]) }
        expectBadInput("is infinite in row 1") {
            _ = try binary.train(
                features: FeatureMatrix(featureNames: ["a"], rows: [[1], [.infinity], [3]]), labels: [0, 1, 1])
        }
        expectBadInput("same features") {
            let other = try FeatureMatrix(featureNames: ["b"], rows: [[1]])
            _ = try binary.train(features: features, labels: [0, 1, 1], validation: (other, [0]))
        }
        expectBadInput("validation label 0 is 1.5") {
            _ = try binary.train(features: features, labels: [0, 1, 1], validation: (features, [1.5, 0, 0]))
        }

        let multiclass = LogisticRegressionTrainer(configuration: .init(task: .multiclass, classCount: 3))
        expectBadInput("integer in 0..<3") { _ = try multiclass.train(features: features, labels: [0, 3, 1]) }
        expectBadInput("integer in 0..<3") { _ = try multiclass.train(features: features, labels: [0, 0.5, 1]) }

        let badConfigurations: [(LogisticRegressionConfiguration, String)] = [
            (.init(task: .regression), "use ridge regression"),
            (.init(task: .binary, classCount: 3), "set classCount to 2"),
            (.init(task: .multiclass, classCount: 1), "at least 2"),
            (.init(l2: -1), "l2 is -1.0"),
            (.init(l2: .nan), "l2 is nan"),
            (.init(maxIterations: 0), "maxIterations is 0"),
            (.init(tolerance: 0), "tolerance is 0.0"),
        ]
        for (configuration, fragment) in badConfigurations {
            expectBadInput(fragment) {
                _ = try LogisticRegressionTrainer(configuration: configuration).train(
                    features: features, labels: [0, 1, 1])
            }
        }
    }

    /// Rows of independent normal features (`shift + spread·N(0, 1)`) with labels drawn from the
    /// logistic model on the unshifted, unscaled values.
    static func synthetic(
        rows: Int, weights: [Double], intercept: Double, shift: Double = 0, spread: Double = 1, seed: UInt64 = 1
    ) -> (FeatureMatrix, [Double]) {
        var generator = SeededGenerator(seed: seed)
        func normal() -> Double {
            let u = max(generator.nextUnit(), 1e-300)
            return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * generator.nextUnit())
        }
        var columns = Array(repeating: [Double](), count: weights.count)
        var labels: [Double] = []
        for _ in 0..<rows {
            var margin = intercept
            for feature in weights.indices {
                let z = normal()
                columns[feature].append(shift + spread * z)
                margin += weights[feature] * z
            }
            labels.append(generator.nextUnit() < 1 / (1 + exp(-margin)) ? 1 : 0)
        }
        let names = weights.indices.map { "x\($0)" }
        return (try! FeatureMatrix(featureNames: names, columns: columns), labels)
    }
}
