import Foundation
import SlipwayCore

/// A validated native linear model, with standardisation folded into the weights.
///
/// `w_kj · (x_j - mean_j) / scale_j` is rewritten once at load as `(w_kj / scale_j) · x_j` plus a
/// constant added to the intercept, so a row costs one multiply-add per weight. Imputation values are
/// in raw input units, so they are substituted before the folded weights apply. Arithmetic is in
/// `Double`; outputs are rounded to `Float` once, after the link.
struct NativeLinearModel: Sendable {
    let featureCount: Int
    let outputCount: Int
    let link: NativeModelDocument.Link
    let featureNames: [String]
    /// `outputCount × featureCount`, row-major, standardisation folded in.
    let weights: [Double]
    let intercepts: [Double]
    /// One per feature, or nil when rows with missing values are refused.
    let imputation: [Double]?

    init(document: NativeModelDocument) throws(SlipwayError) {
        let header = try NativeModelValidator.header(document)
        guard let section = document.linear else { throw NativeModelValidator.invalid("linear is missing") }
        let features = header.featureCount
        let outputs = header.outputCount
        try NativeModelValidator.link(section.link, task: document.task, field: "linear.link")
        try NativeModelValidator.count(
            section.weights.count, outputs, field: "linear.weights", per: "row per output")
        try NativeModelValidator.count(
            section.intercepts.count, outputs, field: "linear.intercepts", per: "per output")
        try NativeModelValidator.finite(section.intercepts, field: "linear.intercepts")
        for (row, weights) in section.weights.enumerated() {
            try NativeModelValidator.count(
                weights.count, features, field: "linear.weights[\(row)]", per: "per feature")
            try NativeModelValidator.finite(weights, field: "linear.weights[\(row)]")
        }
        var mean = [Double](repeating: 0, count: features)
        var inverseScale = [Double](repeating: 1, count: features)
        if let standardization = section.standardization {
            try NativeModelValidator.count(
                standardization.mean.count, features, field: "linear.standardization.mean", per: "per feature")
            try NativeModelValidator.count(
                standardization.scale.count, features, field: "linear.standardization.scale", per: "per feature")
            try NativeModelValidator.finite(standardization.mean, field: "linear.standardization.mean")
            try NativeModelValidator.finite(standardization.scale, field: "linear.standardization.scale")
            for feature in 0..<features {
                let scale = Double(standardization.scale[feature])
                guard scale != 0 else {
                    throw NativeModelValidator.invalid(
                        "linear.standardization.scale[\(feature)] is 0; use 1 for a constant feature")
                }
                mean[feature] = Double(standardization.mean[feature])
                inverseScale[feature] = 1 / scale
            }
        }
        if let imputation = section.imputation {
            try NativeModelValidator.count(imputation.count, features, field: "linear.imputation", per: "per feature")
            try NativeModelValidator.finite(imputation, field: "linear.imputation")
        }

        var folded = [Double](repeating: 0, count: outputs * features)
        var intercepts = section.intercepts.map(Double.init)
        for output in 0..<outputs {
            for feature in 0..<features {
                let weight = Double(section.weights[output][feature]) * inverseScale[feature]
                folded[output * features + feature] = weight
                intercepts[output] -= weight * mean[feature]
            }
        }
        // No overflow check is needed: from Float inputs, |w / scale · mean| stays below 1e122, far inside
        // Double's range, and so do the margins.

        featureCount = features
        outputCount = outputs
        link = section.link
        featureNames = document.features
        weights = folded
        self.intercepts = intercepts
        imputation = section.imputation?.map(Double.init)
    }

    /// Predicts `rows` rows; the caller has validated the buffers' sizes.
    func predict(
        _ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>
    ) throws(SlipwayError) {
        let features = featureCount
        let outputs = outputCount
        // One scratch row of margins per batch (on the stack when small), so the link sees full precision.
        try withUnsafeTemporaryAllocation(of: Double.self, capacity: outputs) { (margins) throws(SlipwayError) in
            try weights.withUnsafeBufferPointer { (weights) throws(SlipwayError) in
                for row in 0..<rows {
                    let x = input + row * features
                    if imputation == nil, let feature = (0..<features).first(where: { x[$0].isNaN }) {
                        throw .badRequest(
                            "row \(row): feature '\(featureNames[feature])' is missing, and this model has no "
                                + "imputation value for it; fill it in",
                            code: "invalid_input")
                    }
                    for k in 0..<outputs {
                        let w = weights.baseAddress! + k * features
                        var margin = intercepts[k]
                        if let imputation {
                            for j in 0..<features { margin += w[j] * (x[j].isNaN ? imputation[j] : Double(x[j])) }
                        } else {
                            for j in 0..<features { margin += w[j] * Double(x[j]) }
                        }
                        margins[k] = margin
                    }
                    NativeLink.apply(link, margins: margins, into: output + row * outputs)
                }
            }
        }
    }
}

/// Link functions shared by the native linear and tree models, computed in `Double`.
enum NativeLink {
    /// Writes `link(margins)` to `out`, rounding each output to `Float` once.
    @inline(__always)
    static func apply(
        _ link: NativeModelDocument.Link, margins: UnsafeMutableBufferPointer<Double>,
        into out: UnsafeMutablePointer<Float>
    ) {
        switch link {
        case .identity:
            for k in margins.indices { out[k] = Float(margins[k]) }
        case .logistic:
            out[0] = Float(1 / (1 + exp(-margins[0])))
        case .softmax:
            // Shifted by the largest margin so exp cannot overflow.
            var largest = -Double.infinity
            for margin in margins { largest = max(largest, margin) }
            var sum = 0.0
            for k in margins.indices {
                margins[k] = exp(margins[k] - largest)
                sum += margins[k]
            }
            for k in margins.indices { out[k] = Float(margins[k] / sum) }
        }
    }
}
