import Foundation
import SlipwayCore
import Synchronization
import Testing

@testable import SlipwayML

@Suite("GradientBoostingTrainer")
struct GradientBoostingTrainerTests {
    private func configuration(
        _ task: LearningTask, trees: Int = 30, leaves: Int = 8, minData: Int = 5
    ) -> GradientBoostingConfiguration {
        GradientBoostingConfiguration(
            task: task, numberOfTrees: trees, learningRate: 0.3, maxLeaves: leaves, minDataInLeaf: minData)
    }

    @Test("learns XOR, which no single split separates")
    func learnsXOR() throws {
        let (train, labels) = BoostingTestData.xor(rows: 600, seed: 1)
        let (test, testLabels) = BoostingTestData.xor(rows: 300, seed: 2)
        let result = try GradientBoostingTrainer(configuration: configuration(.binary)).train(
            features: train, labels: labels)

        #expect(result.model.link == .logistic)
        #expect(result.model.baseMargin.count == 1)
        let mean = labels.reduce(0, +) / Double(labels.count)
        #expect(abs(result.model.baseMargin[0] - log(mean / (1 - mean))) < 1e-12)
        #expect(BoostingTestData.accuracy(result.model.predict(test), testLabels) > 0.95)
        #expect(result.trainLoss.count == 30)
        #expect(result.trainLoss.last! < result.trainLoss.first!)
        // Only x0 and x1 carry signal.
        #expect(result.featureImportance[0] + result.featureImportance[1] > 10 * result.featureImportance[2])
    }

    @Test("regression fits a step function")
    func fitsStepFunction() throws {
        let (train, labels) = BoostingTestData.make(rows: 400, seed: 3) { x0, _, _ in x0 < 0.25 ? 1 : 3 }
        let result = try GradientBoostingTrainer(configuration: configuration(.regression, trees: 40)).train(
            features: train, labels: labels)

        #expect(result.model.link == .identity)
        #expect(abs(result.model.baseMargin[0] - labels.reduce(0, +) / 400) < 1e-12)
        let predictions = result.model.predict(train).map { $0[0] }
        let meanAbsoluteError = zip(predictions, labels).map { abs($0 - $1) }.reduce(0, +) / 400
        #expect(meanAbsoluteError < 0.01)
        #expect(result.model.trees.allSatisfy { $0.output == 0 })
    }

    @Test("multiclass grows one tree per class per round and separates three bands")
    func multiclass() throws {
        let (train, labels) = BoostingTestData.make(rows: 600, seed: 4) { x0, _, _ in
            x0 < -0.33 ? 0 : x0 < 0.33 ? 1 : 2
        }
        var settings = configuration(.multiclass, trees: 20)
        settings.classCount = 3
        let result = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)

        #expect(result.model.link == .softmax)
        #expect(result.model.baseMargin.count == 3)
        #expect(result.treeCount == 60)
        #expect(result.model.trees.map(\.output) == Array(repeating: [0, 1, 2], count: 20).flatMap { $0 })
        let probabilities = result.model.predict(train)
        #expect(probabilities.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-9 })
        #expect(BoostingTestData.accuracy(probabilities, labels) > 0.97)
    }

    @Test(
        "missing values follow the learned default direction",
        arguments: [(missingLike: "low", defaultLeft: true), (missingLike: "high", defaultLeft: false)])
    func missingValues(missingLike: String, defaultLeft: Bool) throws {
        // Rows whose x0 is missing are positive, like the low (or high) values of x0, so the only good
        // split sends NaN to that side.
        var (train, labels) = BoostingTestData.make(rows: 600, seed: 5) { x0, _, _ in
            missingLike == "low" ? (x0 < -0.4 ? 1 : 0) : (x0 > 0.4 ? 1 : 0)
        }
        var columns = train.columns
        for row in stride(from: 0, to: 600, by: 4) {
            columns[0][row] = .nan
            labels[row] = 1
        }
        train = try FeatureMatrix(featureNames: train.featureNames, columns: columns)
        let settings = configuration(.binary, trees: 20, leaves: 4)
        let result = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)

        let root = result.model.trees[0]
        #expect(root.feature[0] == 0)
        #expect(root.defaultLeft[0] == defaultLeft)
        let probe = try FeatureMatrix(featureNames: train.featureNames, rows: [[.nan, 0, 0.5], [0, 0, 0.5]])
        let probabilities = result.model.predict(probe).map { $0[0] }
        #expect(probabilities[0] > 0.9)
        #expect(probabilities[1] < 0.1)
    }

    @Test("a feature without missing values in training sends unseen NaNs to the larger side")
    func unseenMissingValues() throws {
        let (train, labels) = BoostingTestData.make(rows: 400, seed: 6) { x0, _, _ in x0 < -0.5 ? 1 : 0 }
        let result = try GradientBoostingTrainer(configuration: configuration(.binary, trees: 1, leaves: 2)).train(
            features: train, labels: labels)
        let root = result.model.trees[0]
        #expect(root.feature[0] == 0)
        #expect(root.defaultLeft[0] == false)  // about 75% of rows have x0 >= -0.5
    }

    @Test("early stopping keeps the round with the lowest validation loss")
    func earlyStopping() throws {
        let (train, labels) = BoostingTestData.noisyBinary(rows: 300, seed: 7)
        let (validation, validationLabels) = BoostingTestData.noisyBinary(rows: 300, seed: 8)
        var settings = configuration(.binary, trees: 200, leaves: 16, minData: 2)
        settings.learningRate = 0.5
        settings.earlyStoppingRounds = 5
        let result = try GradientBoostingTrainer(configuration: settings).train(
            features: train, labels: labels, validation: (validation, validationLabels))

        #expect(result.iterationsRun < 200)
        #expect(result.iterationsRun == result.bestIteration + 5)
        #expect(result.validationLoss.count == result.iterationsRun)
        let best = result.validationLoss.indices.min { result.validationLoss[$0] < result.validationLoss[$1] }!
        #expect(result.bestIteration == best + 1)
        #expect(result.treeCount == result.bestIteration)
        let keptLoss = BoostingTestData.logloss(result.model.predict(validation), validationLabels)
        #expect(abs(keptLoss - result.validationLoss[best]) < 1e-9)
    }

    @Test("the same seed gives bit-identical models, for any thread count")
    func deterministic() throws {
        let (train, labels) = BoostingTestData.noisyBinary(rows: 500, seed: 9)
        var settings = configuration(.binary, trees: 15, leaves: 8)
        settings.featureFraction = 0.6
        settings.baggingFraction = 0.7
        settings.seed = 42
        func run(threads: Int, seed: UInt64 = 42) throws -> GradientBoostingResult {
            var settings = settings
            settings.threads = threads
            settings.seed = seed
            return try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)
        }
        let first = try run(threads: 2)
        #expect(try run(threads: 2) == first)
        #expect(try run(threads: 1) == first)
        #expect(try run(threads: 3) == first)
        #expect(try run(threads: 2, seed: 43).model != first.model)
    }

    @Test(
        "the model's margins equal the trainer's own training margins, bit for bit",
        arguments: [LearningTask.binary, .multiclass, .regression])
    func modelReproducesTrainingMargins(task: LearningTask) throws {
        var (train, labels) = BoostingTestData.make(rows: 500, seed: 10, noiseFeatures: 2) { x0, x1, _ in
            x0 + x1 > 0.3 ? 2 : x0 > 0 ? 1 : 0
        }
        if task == .binary { labels = labels.map { min($0, 1) } }
        var columns = train.columns
        for row in stride(from: 0, to: 500, by: 7) { columns[row % 4][row] = .nan }
        // Repeated values, and more distinct values than bins, exercise both binning paths.
        columns[2] = columns[2].map { ($0 * 10).rounded() }
        train = try FeatureMatrix(featureNames: train.featureNames, columns: columns)
        var settings = configuration(task, trees: 10, leaves: 12, minData: 3)
        settings.classCount = 3
        settings.maxBins = 16
        let result = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)

        #expect(BoostingTestData.margins(result.model, train) == result.trainingMargins)
    }

    @Test("bagged training rows that miss a tree still get its leaf values")
    func baggingScoresEveryRow() throws {
        let (train, labels) = BoostingTestData.noisyBinary(rows: 400, seed: 11)
        var settings = configuration(.binary, trees: 10)
        settings.baggingFraction = 0.5
        let result = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)
        #expect(BoostingTestData.margins(result.model, train) == result.trainingMargins)
    }

    @Test("maxDepth and minDataInLeaf bound the trees")
    func treeLimits() throws {
        let (train, labels) = BoostingTestData.xor(rows: 400, seed: 12)
        var settings = configuration(.binary, trees: 5, leaves: 31, minData: 5)
        settings.maxDepth = 2
        let shallow = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)
        #expect(shallow.model.trees.allSatisfy { $0.value.count <= 7 })

        settings.maxDepth = -1  // no limit, as in LightGBM
        let unlimited = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)
        #expect(unlimited.model.trees.contains { $0.value.count > 7 })

        settings.maxDepth = nil
        settings.minDataInLeaf = 150
        let coarse = try GradientBoostingTrainer(configuration: settings).train(features: train, labels: labels)
        #expect(coarse.model.trees.allSatisfy { $0.left.filter { $0 < 0 }.count <= 2 })
    }

    @Test("the observer sees every round with its metrics")
    func observerProgress() throws {
        let (train, labels) = BoostingTestData.xor(rows: 200, seed: 13)
        let (validation, validationLabels) = BoostingTestData.xor(rows: 100, seed: 14)
        let seen = Mutex<[TrainingProgress]>([])
        let result = try GradientBoostingTrainer(configuration: configuration(.binary, trees: 4)).train(
            features: train, labels: labels, validation: (validation, validationLabels),
            observer: { progress in seen.withLock { $0.append(progress) } })
        let progress = seen.withLock { $0 }
        #expect(progress.map(\.iteration) == [1, 2, 3, 4])
        #expect(progress.allSatisfy { $0.maxIterations == 4 })
        #expect(progress.map { $0.metrics["train_loss"]! } == result.trainLoss)
        #expect(progress.map { $0.metrics["validation_loss"]! } == result.validationLoss)
    }

    @Test("an observer that throws stops training and its error comes back unchanged")
    func cancellation() throws {
        let (train, labels) = BoostingTestData.xor(rows: 200, seed: 15)
        let calls = Mutex(0)
        #expect(throws: CancellationError.self) {
            try GradientBoostingTrainer(configuration: configuration(.binary, trees: 50)).train(
                features: train, labels: labels,
                observer: { progress in
                    calls.withLock { $0 += 1 }
                    if progress.iteration == 3 { throw CancellationError() }
                })
        }
        #expect(calls.withLock { $0 } == 3)
    }
}
