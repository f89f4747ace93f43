import SlipwayCore
import Foundation

@testable import SlipwayML

/// Small seeded data sets for the boosting tests (debug builds are slow, so they stay in the hundreds of rows).
enum BoostingTestData {
    /// Two uniform features in [-1, 1] and noise columns; `label(x0, x1)` gives each row's label.
    static func make(
        rows: Int, seed: UInt64, noiseFeatures: Int = 1, label: (Double, Double, inout SeededGenerator) -> Double
    ) -> (FeatureMatrix, [Double]) {
        var generator = SeededGenerator(seed: seed)
        var columns = Array(repeating: [Double](), count: 2 + noiseFeatures)
        var labels: [Double] = []
        for _ in 0..<rows {
            let x0 = generator.nextUnit() * 2 - 1
            let x1 = generator.nextUnit() * 2 - 1
            columns[0].append(x0)
            columns[1].append(x1)
            for noise in 0..<noiseFeatures { columns[2 + noise].append(generator.nextUnit()) }
            labels.append(label(x0, x1, &generator))
        }
        let names = (0..<columns.count).map { "x\($0)" }
        return (try! FeatureMatrix(featureNames: names, columns: columns), labels)
    }

    /// XOR of the signs of x0 and x1.
    static func xor(rows: Int, seed: UInt64) -> (FeatureMatrix, [Double]) {
        make(rows: rows, seed: seed) { x0, x1, _ in (x0 > 0) != (x1 > 0) ? 1 : 0 }
    }

    /// Labels drawn from sigmoid(3·x0): learnable but noisy, so long training overfits.
    static func noisyBinary(rows: Int, seed: UInt64) -> (FeatureMatrix, [Double]) {
        make(rows: rows, seed: seed, noiseFeatures: 3) { x0, _, generator in
            generator.nextUnit() < 1 / (1 + exp(-3 * x0)) ? 1 : 0
        }
    }

    static func accuracy(_ probabilities: [[Double]], _ labels: [Double]) -> Double {
        var correct = 0
        for (row, outputs) in probabilities.enumerated() {
            let predicted =
                outputs.count == 1 ? (outputs[0] >= 0.5 ? 1 : 0) : outputs.indices.max { outputs[$0] < outputs[$1] }!
            if Double(predicted) == labels[row] { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }

    /// Mean logloss of binary probabilities.
    static func logloss(_ probabilities: [[Double]], _ labels: [Double]) -> Double {
        zip(probabilities, labels).map { outputs, label in
            -(label == 1 ? log(outputs[0]) : log(1 - outputs[0]))
        }.reduce(0, +) / Double(labels.count)
    }

    /// The model's margins (before the link) for every row, output-major like the trainer's scores.
    static func margins(_ model: TreeEnsembleParameters, _ matrix: FeatureMatrix) -> [Double] {
        var margins = model.baseMargin.flatMap { Array(repeating: $0, count: matrix.rowCount) }
        for tree in model.trees {
            for row in 0..<matrix.rowCount {
                margins[tree.output * matrix.rowCount + row] += tree.leafValue(matrix, row: row)
            }
        }
        return margins
    }
}
