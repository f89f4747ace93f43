import SlipwayCore

/// Per-feature imputation, centring and scaling fitted on training data, and the contiguous design
/// buffer the linear trainers read.
///
/// The trainers always centre internally, because the unpenalised intercept absorbs the shift and
/// centred columns make both the normal equations and L-BFGS better conditioned. When the caller turns
/// standardisation off, ``foldingCentre(weights:intercepts:)`` moves the centre back into the intercepts,
/// so the returned model reads raw features, just as scikit-learn's would.
struct FeatureStandardization: Sendable {
    /// Training mean of each feature over its non-missing values; also the imputation value.
    var mean: [Double]
    /// Population standard deviation (ddof 0) of each imputed feature, or 1 when the feature is constant
    /// or standardisation is off.
    var scale: [Double]

    /// Fits imputation, centre and scale on `matrix`.
    ///
    /// A feature with no values at all imputes and centres at 0 (it then contributes nothing).
    init(fitting matrix: FeatureMatrix, standardize: Bool) {
        var mean = [Double](repeating: 0, count: matrix.columnCount)
        var scale = [Double](repeating: 1, count: matrix.columnCount)
        for (feature, column) in matrix.columns.enumerated() {
            var sum = 0.0
            var present = 0
            for value in column where !value.isNaN {
                sum += value
                present += 1
            }
            let centre = present > 0 ? sum / Double(present) : 0
            mean[feature] = centre
            guard standardize, matrix.rowCount > 0 else { continue }
            // Missing values are imputed with the mean, so they add nothing to the squared deviations.
            var squares = 0.0
            for value in column where !value.isNaN { squares += (value - centre) * (value - centre) }
            let deviation = (squares / Double(matrix.rowCount)).squareRoot()
            // Same spirit as scikit-learn's `_handle_zeros_in_scale`: a constant feature keeps scale 1.
            scale[feature] = deviation > 10 * Double.ulpOfOne * max(1, abs(centre)) ? deviation : 1
        }
        self.mean = mean
        self.scale = scale
    }

    /// `matrix` imputed, centred and scaled, as one contiguous column-major buffer: feature `j` of row
    /// `i` is at `j * rowCount + i`.
    func design(_ matrix: FeatureMatrix) -> [Double] {
        let rows = matrix.rowCount
        return [Double](unsafeUninitializedCapacity: rows * matrix.columnCount) { buffer, initialized in
            for (feature, column) in matrix.columns.enumerated() {
                let centre = mean[feature]
                let inverseScale = 1 / scale[feature]
                let base = feature * rows
                column.withUnsafeBufferPointer { values in
                    for row in 0..<rows {
                        let value = values[row]
                        buffer[base + row] = value.isNaN ? 0 : (value - centre) * inverseScale
                    }
                }
            }
            initialized = rows * matrix.columnCount
        }
    }

    /// The fitted model as ``LinearModelParameters``, from weights and intercepts learnt on the design.
    ///
    /// With standardisation the parameters carry mean and scale; without it the centre is folded into
    /// the intercepts so that the weights and intercepts apply to raw features.
    func parameters(
        link: OutputLink, weights: [[Double]], intercepts: [Double], standardized: Bool
    ) -> LinearModelParameters {
        if standardized {
            return LinearModelParameters(
                link: link, weights: weights, intercepts: intercepts, mean: mean, scale: scale, imputation: mean)
        }
        var raw = intercepts
        for output in weights.indices {
            for feature in mean.indices { raw[output] -= weights[output][feature] * mean[feature] }
        }
        let zeros = [Double](repeating: 0, count: mean.count)
        let ones = [Double](repeating: 1, count: mean.count)
        return LinearModelParameters(
            link: link, weights: weights, intercepts: raw, mean: zeros, scale: ones, imputation: mean)
    }
}

/// Input checks shared by the linear trainers; each message says what to change.
enum LinearInputCheck {
    /// Checks that `features` and `labels` describe the same non-empty set of examples, that no feature
    /// value is infinite and no label is NaN or infinite. `role` names the data set in messages.
    static func check(features: FeatureMatrix, labels: [Double], role: String) throws(SlipwayError) {
        guard features.rowCount > 0, features.columnCount > 0 else {
            throw .badRequest("the \(role) data has no rows or no features; pass at least one row and one feature")
        }
        guard labels.count == features.rowCount else {
            throw .badRequest(
                "the \(role) data has \(features.rowCount) rows but \(labels.count) labels; pass one label per row")
        }
        if let row = labels.firstIndex(where: { !$0.isFinite }) {
            throw .badRequest("\(role) label \(row) is \(labels[row]); every label must be a finite number")
        }
        for (feature, column) in features.columns.enumerated() {
            if let row = column.firstIndex(where: { $0.isInfinite }) {
                throw .badRequest(
                    "\(role) feature '\(features.featureNames[feature])' is infinite in row \(row); "
                        + "replace it, or use NaN to mark it missing")
            }
        }
    }

    /// Checks that validation data has the training features, in the same order.
    static func checkSameFeatures(training: FeatureMatrix, validation: FeatureMatrix) throws(SlipwayError) {
        guard validation.featureNames == training.featureNames else {
            throw .badRequest(
                "the validation data has features \(validation.featureNames.prefix(20)) but training has "
                    + "\(training.featureNames.prefix(20)); pass the same features in the same order")
        }
    }
}
