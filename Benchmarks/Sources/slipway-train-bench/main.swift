// Trains Slipway's gradient-boosted trees on a file written by Benchmarks/training/gen_data.py and prints
// one JSON line: training wall time, holdout AUC and peak RSS. Loading the files is not timed; binning is
// (as LightGBM's and XGBoost's timings include building their datasets).
//
// usage: slipway-train-bench TRAIN.bin HOLDOUT.bin [--trees 100] [--leaves 63] [--learning-rate 0.1]
//        [--threads 2] [--max-bins 255]
import Foundation
import SlipwayML
import TrainingBenchSupport

func main() throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    func option(_ name: String, _ fallback: Double) throws -> Double {
        try numericOption(name, fallback, in: &arguments)
    }
    var configuration = GradientBoostingConfiguration(task: .binary)
    configuration.numberOfTrees = Int(try option("--trees", 100))
    configuration.maxLeaves = Int(try option("--leaves", 63))
    configuration.learningRate = try option("--learning-rate", 0.1)
    configuration.threads = Int(try option("--threads", 2))
    configuration.maxBins = Int(try option("--max-bins", 255))
    guard arguments.count == 2 else {
        throw BenchmarkError("usage: slipway-train-bench TRAIN.bin HOLDOUT.bin [--trees N] [--leaves N] …")
    }
    let train = try BenchmarkFile(path: arguments[0])
    let holdout = try BenchmarkFile(path: arguments[1])

    let start = ContinuousClock.now
    let result = try GradientBoostingTrainer(configuration: configuration).train(
        features: train.features, labels: train.labels)
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18

    let probabilities = result.model.predict(holdout.features).map { $0[0] }
    let auc = areaUnderROC(scores: probabilities, labels: holdout.labels)
    let fields = [
        "\"model\": \"slipway\"",
        String(format: "\"train_wall_s\": %.3f", seconds),
        String(format: "\"holdout_auc\": %.5f", auc),
        String(format: "\"peak_rss_mb\": %.1f", peakResidentMegabytes()),
        String(format: "\"final_train_loss\": %.5f", result.trainLoss.last ?? .nan),
        "\"trees\": \(result.treeCount)",
        "\"threads\": \(configuration.threads)",
    ]
    print("{" + fields.joined(separator: ", ") + "}")
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("slipway-train-bench: \(error)\n".utf8))
    exit(1)
}
