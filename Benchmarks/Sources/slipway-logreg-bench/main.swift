// Trains Slipway's logistic regression on files written by Benchmarks/training/gen_data.py and prints one
// JSON line: training wall time, L-BFGS iterations, holdout AUC and peak RSS. Loading the files is not
// timed; everything `train` does (imputation, standardisation, the contiguous design copy, L-BFGS) is.
// Benchmarks/training/logreg_peer.py runs this and scikit-learn side by side.
//
// usage: slipway-logreg-bench TRAIN.bin HOLDOUT.bin [--l2 1] [--max-iterations 100] [--tolerance 1e-4]
//        [--no-standardize] [--repeats 1]
import Foundation
import SlipwayML
import TrainingBenchSupport

func main() throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    func option(_ name: String, _ fallback: Double) throws -> Double {
        try numericOption(name, fallback, in: &arguments)
    }
    var configuration = LogisticRegressionConfiguration(task: .binary)
    configuration.l2 = try option("--l2", 1)
    configuration.maxIterations = Int(try option("--max-iterations", 100))
    configuration.tolerance = try option("--tolerance", 1e-4)
    let repeats = max(1, Int(try option("--repeats", 1)))
    if let index = arguments.firstIndex(of: "--no-standardize") {
        configuration.standardize = false
        arguments.remove(at: index)
    }
    guard arguments.count == 2 else {
        throw BenchmarkError("usage: slipway-logreg-bench TRAIN.bin HOLDOUT.bin [--l2 X] [--max-iterations N] …")
    }
    let train = try BenchmarkFile(path: arguments[0])
    let holdout = try BenchmarkFile(path: arguments[1])

    let trainer = LogisticRegressionTrainer(configuration: configuration)
    var timings: [Double] = []
    var result: LogisticRegressionResult?
    for _ in 0..<repeats {
        let start = ContinuousClock.now
        result = try trainer.train(features: train.features, labels: train.labels)
        let elapsed = ContinuousClock.now - start
        timings.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
    guard let result else { return }
    let probabilities = result.parameters.predict(holdout.features).map { $0[0] }
    let fields = [
        "\"model\": \"slipway\"",
        String(format: "\"train_wall_s\": %.3f", timings.sorted()[timings.count / 2]),
        "\"train_wall_s_all\": [" + timings.map { String(format: "%.3f", $0) }.joined(separator: ", ") + "]",
        "\"iterations\": \(result.iterations)",
        "\"converged\": \(result.converged)",
        String(format: "\"final_objective\": %.8f", result.lossHistory.last ?? .nan),
        String(format: "\"holdout_auc\": %.5f", areaUnderROC(scores: probabilities, labels: holdout.labels)),
        String(format: "\"peak_rss_mb\": %.1f", peakResidentMegabytes()),
        "\"standardize\": \(configuration.standardize)",
    ]
    print("{" + fields.joined(separator: ", ") + "}")
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("slipway-logreg-bench: \(error)\n".utf8))
    exit(1)
}
