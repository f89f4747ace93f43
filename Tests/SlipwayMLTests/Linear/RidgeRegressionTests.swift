import SlipwayCore
import Testing

@testable import SlipwayML

@Suite struct RidgeRegressionTests {
    @Test(arguments: ["raw_alpha1", "standardized_alpha1", "standardized_alpha25", "raw_ols"])
    func matchesScikitLearn(caseName: String) throws {
        let fixture = try LinearFixture.load("ridge")
        let expected = try #require(fixture.cases.first { $0.name == caseName })
        let configuration = RidgeRegressionConfiguration(alpha: expected.alpha!, standardize: expected.standardize)
        let result = try RidgeRegressionTrainer(configuration: configuration)
            .train(features: fixture.features, labels: fixture.labels)

        #expect(result.parameters.link == .identity)
        expectElementsClose(result.parameters.weights[0], expected.coef[0], tolerance: 1e-8, "coef")
        expectElementsClose(result.parameters.intercepts, expected.intercept, tolerance: 1e-8, "intercept")
        if expected.standardize {
            expectElementsClose(result.parameters.mean, expected.mean!, tolerance: 1e-10, "mean")
            expectElementsClose(result.parameters.scale, expected.scale!, tolerance: 1e-10, "scale")
        }
        let predictions = result.parameters.predict(try fixture.features).map { $0[0] }
        expectElementsClose(predictions, expected.predictions.map { $0[0] }, tolerance: 1e-8, "predictions")
        let squares = zip(predictions, fixture.labels).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        expectElementsClose(
            [result.trainingRMSE], [(squares / Double(predictions.count)).squareRoot()], tolerance: 1e-10, "RMSE")
    }

    @Test func oneFeatureEqualsTheClosedForm() throws {
        let x: [Double] = [1, 2, 4, 7, 8]
        let y: [Double] = [3, 5, 6, 12, 13]
        let meanX = x.reduce(0, +) / 5
        let meanY = y.reduce(0, +) / 5
        let covariance = zip(x, y).map { ($0 - meanX) * ($1 - meanY) }.reduce(0, +)
        let variance = x.map { ($0 - meanX) * ($0 - meanX) }.reduce(0, +)
        let features = try FeatureMatrix(featureNames: ["x"], columns: [x])
        for alpha in [0.0, 2.0] {
            let parameters = try RidgeRegressionTrainer(configuration: .init(alpha: alpha, standardize: false))
                .train(features: features, labels: y).parameters
            // Ridge on centred data: slope = Σ(x−x̄)(y−ȳ) / (Σ(x−x̄)² + alpha), intercept = ȳ − slope·x̄.
            let slope = covariance / (variance + alpha)
            expectElementsClose(parameters.weights[0], [slope], tolerance: 1e-12, "slope, alpha \(alpha)")
            expectElementsClose(
                parameters.intercepts, [meanY - slope * meanX], tolerance: 1e-12, "intercept, alpha \(alpha)")
        }
    }

    @Test func collinearFeaturesNeedAPenalty() throws {
        let a: [Double] = [1, 2, 3, 4, 5, 6]
        let b: [Double] = [2, 1, 4, 3, 6, 5]
        let features = try FeatureMatrix(
            featureNames: ["a", "b", "a+2b"], columns: [a, b, zip(a, b).map { $0 + 2 * $1 }])
        let labels: [Double] = [1, 3, 2, 5, 4, 6]
        expectBadInput("features are collinear; set alpha > 0 (feature 'a+2b'") {
            _ = try RidgeRegressionTrainer(configuration: .init(alpha: 0)).train(features: features, labels: labels)
        }
        let constant = try FeatureMatrix(featureNames: ["a", "c"], columns: [a, Array(repeating: 3, count: 6)])
        expectBadInput("feature 'c' is constant") {
            _ = try RidgeRegressionTrainer(configuration: .init(alpha: 0)).train(features: constant, labels: labels)
        }
        let penalized = try RidgeRegressionTrainer(configuration: .init(alpha: 0.1)).train(
            features: constant, labels: labels)
        #expect(penalized.parameters.scale[1] == 1)
        #expect(penalized.parameters.weights[0][1] == 0)
        _ = try RidgeRegressionTrainer(configuration: .init(alpha: 0.1)).train(features: features, labels: labels)
    }

    @Test func observerRunsOnceAndCanCancel() throws {
        let features = try FeatureMatrix(featureNames: ["x"], rows: [[1], [2], [3], [4]])
        let labels: [Double] = [2, 4, 6, 8]
        let log = ObserverLog()
        let result = try RidgeRegressionTrainer(configuration: .init(alpha: 0)).train(
            features: features, labels: labels, validation: (features, labels), observer: log.observer)
        #expect(log.calls.count == 1)
        #expect(log.calls.first?.metrics["train_rmse"] == result.trainingRMSE)
        #expect(result.trainingRMSE < 1e-12)
        #expect((log.calls.first?.metrics["validation_rmse"] ?? 1) < 1e-12)

        #expect(throws: CancellationError.self) {
            _ = try RidgeRegressionTrainer().train(
                features: features, labels: labels, observer: ObserverLog(cancelAt: 1).observer)
        }
    }

    @Test func badInputsSayWhatToFix() throws {
        let features = try FeatureMatrix(featureNames: ["a"], rows: [[1], [2], [3]])
        let trainer = RidgeRegressionTrainer()
        expectBadInput("alpha is -1.0") {
            _ = try RidgeRegressionTrainer(configuration: .init(alpha: -1)).train(
                features: features, labels: [1, 2, 3])
        }
        expectBadInput("alpha is inf") {
            _ = try RidgeRegressionTrainer(configuration: .init(alpha: .infinity))
                .train(features: features, labels: [1, 2, 3])
        }
        expectBadInput("3 rows but 4 labels") { _ = try trainer.train(features: features, labels: [1, 2, 3, 4]) }
        expectBadInput("label 2 is nan") { _ = try trainer.train(features: features, labels: [1, 2, .nan]) }
        expectBadInput("no rows") {
            _ = try trainer.train(features: FeatureMatrix(featureNames: ["a"], columns: [[]]), labels: [])
        }
    }
}
