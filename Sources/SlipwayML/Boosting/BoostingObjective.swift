import Foundation

/// The loss a boosting run minimises: its starting margins, per-row gradients and hessians, and its value.
///
/// Scores, labels and gradients are laid out output-major: output `k` of row `r` is at `k * rows + r`.
enum BoostingObjective {
    /// Binary logloss over margins, labels 0/1.
    case logloss
    /// Softmax cross-entropy over `classes` margins, labels `0..<classes`.
    case softmax(classes: Int)
    /// Squared error, real labels.
    case squaredError

    init(_ configuration: GradientBoostingConfiguration) {
        switch configuration.task {
        case .binary: self = .logloss
        case .multiclass: self = .softmax(classes: configuration.classCount)
        case .regression: self = .squaredError
        }
    }

    var outputCount: Int {
        if case .softmax(let classes) = self { return classes }
        return 1
    }

    var link: OutputLink {
        switch self {
        case .logloss: .logistic
        case .softmax: .softmax
        case .squaredError: .identity
        }
    }

    /// The model's starting margins: log-odds of the label mean, log class frequencies, or the label mean.
    func baseMargins(labels: [Double]) -> [Double] {
        let count = Double(labels.count)
        switch self {
        case .logloss:
            let mean = labels.reduce(0, +) / count
            return [Foundation.log(mean / (1 - mean))]
        case .softmax(let classes):
            var frequencies = [Double](repeating: 0, count: classes)
            for label in labels { frequencies[Int(label)] += 1 }
            // A class absent from training starts very unlikely, not impossible (log 0).
            return frequencies.map { Foundation.log(max($0 / count, 1e-6)) }
        case .squaredError:
            return [labels.reduce(0, +) / count]
        }
    }

    /// The largest |gradient| and hessian over all rows, which fix the fixed-point scales.
    func gradientBounds(scores: UnsafePointer<Double>, labels: UnsafePointer<Double>, rows: Int) -> (
        gradient: Double, hessian: Double
    ) {
        switch self {
        case .logloss:
            return (1, 0.25)
        case .softmax(let classes):
            return (1, 0.25 * Self.softmaxHessianFactor(classes))
        case .squaredError:
            var largest = 0.0
            for row in 0..<rows { largest = max(largest, abs(scores[row] - labels[row])) }
            return (largest, 1)
        }
    }

    /// LightGBM's factor K/(K-1) on the softmax hessian, which makes K = 2 match binary logloss.
    static func softmaxHessianFactor(_ classes: Int) -> Double { Double(classes) / Double(classes - 1) }

    /// `value` rounded to the nearest integer (halves away from zero) without a libm call; `|value| < 2^31`.
    @inline(__always)
    static func fixedPoint(_ value: Double) -> Int32 {
        Int32(value + Double(signOf: value, magnitudeOf: 0.5))
    }

    /// Writes the fixed-point gradient and hessian (`gh[2 * i]`, `gh[2 * i + 1]` for score index `i`) of
    /// every output of the rows in `range`, and returns their summed loss.
    func gradients(
        scores: UnsafePointer<Double>, labels: UnsafePointer<Double>, rows: Int, range: Range<Int>,
        gradientScale: Double, hessianScale: Double, into gh: UnsafeMutablePointer<Int32>
    ) -> Double {
        var loss = 0.0
        switch self {
        case .logloss:
            for row in range {
                let (probability, rowLoss) = Self.logistic(margin: scores[row], label: labels[row])
                gh[2 * row] = Self.fixedPoint((probability - labels[row]) * gradientScale)
                gh[2 * row + 1] = Self.fixedPoint(probability * (1 - probability) * hessianScale)
                loss += rowLoss
            }
        case .softmax(let classes):
            let factor = Self.softmaxHessianFactor(classes)
            withUnsafeTemporaryAllocation(of: Double.self, capacity: classes) { exps in
                for row in range {
                    let (sum, rowLoss) = Self.softmax(scores: scores, row: row, rows: rows, label: labels[row], exps)
                    let label = Int(labels[row])
                    for k in 0..<classes {
                        let probability = exps[k] / sum
                        let index = k * rows + row
                        gh[2 * index] = Self.fixedPoint((probability - (k == label ? 1 : 0)) * gradientScale)
                        gh[2 * index + 1] = Self.fixedPoint(factor * probability * (1 - probability) * hessianScale)
                    }
                    loss += rowLoss
                }
            }
        case .squaredError:
            for row in range {
                let residual = scores[row] - labels[row]
                gh[2 * row] = Self.fixedPoint(residual * gradientScale)
                gh[2 * row + 1] = Self.fixedPoint(hessianScale)
                loss += residual * residual
            }
        }
        return loss
    }

    /// The summed loss of the rows in `range`.
    func loss(scores: UnsafePointer<Double>, labels: UnsafePointer<Double>, rows: Int, range: Range<Int>) -> Double {
        var loss = 0.0
        switch self {
        case .logloss:
            for row in range { loss += Self.logistic(margin: scores[row], label: labels[row]).loss }
        case .softmax(let classes):
            withUnsafeTemporaryAllocation(of: Double.self, capacity: classes) { exps in
                for row in range {
                    loss += Self.softmax(scores: scores, row: row, rows: rows, label: labels[row], exps).loss
                }
            }
        case .squaredError:
            for row in range {
                let residual = scores[row] - labels[row]
                loss += residual * residual
            }
        }
        return loss
    }

    /// P(y = 1) and the row's logloss, computed without overflow for any margin.
    @inline(__always)
    private static func logistic(margin: Double, label: Double) -> (probability: Double, loss: Double) {
        // lossIfPositive = log(1 + e^-margin). log(1 + e) rather than log1p(e): it is several times faster,
        // and where it loses accuracy (e < 1e-16) the row's loss is below 1e-16 anyway.
        let probability: Double
        let lossIfPositive: Double
        if margin >= 0 {
            let e = Foundation.exp(-margin)
            probability = 1 / (1 + e)
            lossIfPositive = Foundation.log(1 + e)
        } else {
            let e = Foundation.exp(margin)
            probability = e / (1 + e)
            lossIfPositive = Foundation.log(1 + e) - margin
        }
        return (probability, label == 1 ? lossIfPositive : lossIfPositive + margin)
    }

    /// Fills `exps` with `exp(score_k - max)` and returns their sum and the row's cross-entropy.
    @inline(__always)
    private static func softmax(
        scores: UnsafePointer<Double>, row: Int, rows: Int, label: Double, _ exps: UnsafeMutableBufferPointer<Double>
    ) -> (sum: Double, loss: Double) {
        var top = -Double.infinity
        for k in exps.indices { top = max(top, scores[k * rows + row]) }
        var sum = 0.0
        for k in exps.indices {
            exps[k] = Foundation.exp(scores[k * rows + row] - top)
            sum += exps[k]
        }
        return (sum, Foundation.log(sum) - (scores[Int(label) * rows + row] - top))
    }
}
