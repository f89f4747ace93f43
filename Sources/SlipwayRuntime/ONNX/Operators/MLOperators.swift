import Foundation
import SlipwayCore

extension ONNXOperators {
    /// ai.onnx.ml preprocessing and linear models: Scaler, Normalizer, Imputer, Binarizer, OneHotEncoder,
    /// LabelEncoder, ArrayFeatureExtractor, ZipMap, CastMap, LinearClassifier, LinearRegressor.
    ///
    /// Results follow onnxruntime (the reference Slipway is tested against) where it departs from the
    /// ONNX reference implementation; each such place says so.
    static let mlKernels: [String: ONNXKernelFactory] = [
        "ai.onnx.ml:LinearClassifier": { context throws(SlipwayError) in try LinearClassifierKernel(context) },
        "ai.onnx.ml:LinearRegressor": { context throws(SlipwayError) in try LinearRegressorKernel(context) },
        "ai.onnx.ml:Normalizer": { context throws(SlipwayError) in try NormalizerKernel(context) },
        "ai.onnx.ml:Scaler": { context throws(SlipwayError) in try ScalerKernel(context) },
        "ai.onnx.ml:Imputer": { context throws(SlipwayError) in try ImputerKernel(context) },
        "ai.onnx.ml:Binarizer": { context throws(SlipwayError) in BinarizerKernel(context) },
        "ai.onnx.ml:OneHotEncoder": { context throws(SlipwayError) in try OneHotEncoderKernel(context) },
        "ai.onnx.ml:LabelEncoder": { context throws(SlipwayError) in try labelEncoder(context) },
        "ai.onnx.ml:ArrayFeatureExtractor": { _ throws(SlipwayError) in ArrayFeatureExtractorKernel() },
        "ai.onnx.ml:ZipMap": { context throws(SlipwayError) in try ZipMapKernel(context) },
        "ai.onnx.ml:CastMap": { context throws(SlipwayError) in try CastMapKernel(context) },
    ]
}

// MARK: - Shared pieces

/// The `post_transform` of classifiers and regressors, computed in float with onnxruntime's formulas
/// (its PROBIT uses an approximation of the inverse error function, reproduced here).
enum ONNXPostTransform: Sendable, Equatable {
    case none, softmax, logistic, softmaxZero, probit

    init?(name: String) {
        switch name {
        case "NONE": self = .none
        case "SOFTMAX": self = .softmax
        case "LOGISTIC": self = .logistic
        case "SOFTMAX_ZERO": self = .softmaxZero
        case "PROBIT": self = .probit
        default: return nil
        }
    }

    /// TreeEnsemble's (opset 5) integer codes as onnxruntime reads them: 0 NONE, 1 LOGISTIC, 2 SOFTMAX,
    /// 3 SOFTMAX_ZERO, 4 PROBIT. The ONNX specification numbers SOFTMAX 1 and LOGISTIC 2; onnxruntime
    /// (1.32) maps the codes through its own enum, which swaps the two, and Slipway matches onnxruntime
    /// so that models behave as they do there.
    init?(onnxruntimeCode code: Int) {
        switch code {
        case 0: self = .none
        case 1: self = .logistic
        case 2: self = .softmax
        case 3: self = .softmaxZero
        case 4: self = .probit
        default: return nil
        }
    }

    /// The node's `post_transform` string attribute (default NONE).
    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        let name = context.string("post_transform", default: "NONE")
        guard let transform = Self(name: name) else {
            throw context.invalid(
                "post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
        }
        self = transform
    }

    /// Applies the transform to one row of scores (of any length; callers handle onnxruntime's special
    /// cases for a single binary score).
    /// - Parameter linear: use the linear models' LOGISTIC (``mlasLogistic(_:)``) rather than the tree
    ///   ensembles' (``logistic(_:)``); onnxruntime computes the two differently.
    func apply(to row: inout [Float], linear: Bool = false) {
        switch self {
        case .none:
            return
        case .logistic:
            for j in row.indices { row[j] = linear ? Self.mlasLogistic(row[j]) : Self.logistic(row[j]) }
        case .probit:
            for j in row.indices { row[j] = Self.probit(row[j]) }
        case .softmax:
            let top = Self.maximum(row)
            var sum: Float = 0
            for j in row.indices {
                row[j] = Foundation.exp(row[j] - top)
                sum += row[j]
            }
            for j in row.indices { row[j] /= sum }
        case .softmaxZero:
            // Like softmax, but scores within 1e-7 of zero stay (near) zero instead of becoming exp(0)
            // and do not count in the sum. All zeros divide 0 by 0: NaN, as in onnxruntime.
            let top = Self.maximum(row)
            let scale = Foundation.exp(-top)
            var sum: Float = 0
            for j in row.indices {
                if row[j] > 0.0000001 || row[j] < -0.0000001 {
                    row[j] = Foundation.exp(row[j] - top)
                    sum += row[j]
                } else {
                    row[j] *= scale
                }
            }
            for j in row.indices { row[j] /= sum }
        }
    }

    private static func maximum(_ row: [Float]) -> Float {
        var top = -Float.greatestFiniteMagnitude
        for value in row where value > top { top = value }
        return top
    }

    static func logistic(_ value: Float) -> Float {
        let v = 1 / (1 + Foundation.exp(-Swift.abs(value)))
        return value < 0 ? 1 - v : v
    }

    /// The logistic function as onnxruntime's linear models compute it (MLAS's `MlasComputeLogistic`, the
    /// rational approximation Eigen uses; multiply and add are rounded separately here, where MLAS fuses
    /// them, so results can differ from its in the last bit). It differs
    /// from ``logistic(_:)`` in the last bits, which matters for outputs like `1 - p` with `p` near 1.
    static func mlasLogistic(_ value: Float) -> Float {
        let x = value < -18 ? -18 : (value > 18 ? 18 : value)  // NaN passes through
        let x2 = x * x
        var p = Float(1.15627324459942e-07) + x2 * 4.37031012579801e-11
        p = Float(6.08574864600143e-05) + p * x2
        p = Float(8.51377133304701e-03) + p * x2
        p = Float(2.48287947061529e-01) + p * x2
        p = p * x
        var q = Float(5.76102136993427e-09) + x2 * 6.10247389755681e-13
        q = Float(6.29106785017040e-06) + q * x2
        q = Float(1.70198817374094e-03) + q * x2
        q = Float(1.16817656904453e-01) + q * x2
        q = Float(9.93151921023180e-01) + q * x2
        let y = p / q + 0.5
        return y < 0 ? 0 : (y > 1 ? 1 : y)
    }

    /// `sqrt(2) * erfinv(2p - 1)`, with onnxruntime's closed-form approximation of `erfinv`
    /// (Winitzki's, a = 0.147). NaN outside (0, 1), ±inf at the ends.
    static func probit(_ value: Float) -> Float {
        var x = 2 * value - 1
        let sign: Float = x < 0 ? -1 : 1
        x = (1 - x) * (1 + x)
        let log = Foundation.log(x)
        let v = 2 / (Float.pi * 0.147) + 0.5 * log
        let v2 = 1 / Float(0.147) * log
        let v3 = -v + (v * v - v2).squareRoot()
        return Float(2).squareRoot() * sign * v3.squareRoot()
    }
}

/// A classifier's labels: `classlabels_int64s`/`classlabels_ints` or `classlabels_strings`.
enum ONNXClassLabels: Sendable {
    case ints([Int64])
    case strings([String])

    /// Which label a row gets.
    enum Choice {
        /// The label at this index.
        case index(Int)
        /// This integer itself (for string labels, the label at this index): onnxruntime's binary
        /// tree classifier emits 1 or 0 in some cases whatever the labels are.
        case literal(Int64)
    }

    init(_ context: ONNXNodeContext, ints: String, strings: String) throws(SlipwayError) {
        let intLabels = context.ints(ints) ?? []
        let stringLabels = context.strings(strings) ?? []
        guard intLabels.isEmpty || stringLabels.isEmpty else {
            throw context.invalid("attributes '\(ints)' and '\(strings)' are both set; a classifier uses one")
        }
        self = stringLabels.isEmpty ? .ints(intLabels) : .strings(stringLabels)
    }

    var count: Int {
        switch self {
        case .ints(let labels): labels.count
        case .strings(let labels): labels.count
        }
    }

    /// The label tensor, `[N]`. Indices are in range (callers pick among `0..<count`, literals 0 or 1
    /// with at least two labels).
    func tensor(_ choices: [Choice]) -> ONNXTensor {
        switch self {
        case .ints(let labels):
            return ONNXTensor(
                shape: [choices.count],
                int64s: choices.map { choice in
                    switch choice {
                    case .index(let index): labels[index]
                    case .literal(let value): value
                    }
                })
        case .strings(let labels):
            return ONNXTensor(
                shape: [choices.count],
                strings: choices.map { choice in
                    switch choice {
                    case .index(let index): labels[index]
                    case .literal(let value): labels[Int(value)]
                    }
                })
        }
    }
}

/// Splits a `[N, F]` (or `[F]`, one row) numeric input into rows, as the linear models read it.
private func matrixShape(_ tensor: ONNXTensor) throws(SlipwayError) -> (rows: Int, features: Int) {
    let shape: (rows: Int, features: Int)
    switch tensor.rank {
    case 1: shape = (1, tensor.shape[0])
    case 2: shape = (tensor.shape[0], tensor.shape[1])
    default: throw ONNXRunError.input("the input must be [N, F] or [F] (one row), got shape \(tensor.shape)")
    }
    guard tensor.count == shape.rows * shape.features else {
        throw ONNXRunError.input("the input's shape \(tensor.shape) does not match its \(tensor.count) values")
    }
    return shape
}

private func requireNumeric(_ tensor: ONNXTensor) throws(SlipwayError) {
    guard tensor.elementType != .string, tensor.elementType != .bool else {
        throw ONNXRunError.input("the input must be numeric (float, double, int64 or int32), got \(tensor.elementType)")
    }
}

/// The stride onnxruntime's elementwise ML operators (Scaler, Imputer) cycle their per-feature values
/// with: the first dimension of a 1-D input, else the second.
private func featureStride(_ tensor: ONNXTensor) throws(SlipwayError) -> Int {
    guard tensor.rank >= 1 else { throw ONNXRunError.input("the input must have at least one dimension, got a scalar") }
    return tensor.rank == 1 ? tensor.shape[0] : tensor.shape[1]
}

// MARK: - Linear models

/// `scores[r, c] = intercepts[c] + sum_f x[r, f] * coefficients[c, f]`, summed in feature order with the
/// intercept added last, as onnxruntime's float GEMM does.
///
/// Multiply and add are separate roundings, not fused: without an FMA target feature, Swift lowers a
/// fused multiply-add to a libm call per element, which made a 1000-row batch 5× slower than onnxruntime.
/// Scores therefore differ from onnxruntime's fused ones by an ulp or so (far inside the 1e-5 tolerance).
/// Rows go eight at a time, one per `SIMD8` lane, each lane summing in the same order as the scalar tail.
private func linearScores(
    _ x: [Float], rows: Int, features: Int, coefficients: [Float], intercepts: [Float]?, outputs: Int
) -> [Float] {
    var scores = [Float](repeating: 0, count: rows * outputs)
    let blocked = rows - rows % 8
    x.withUnsafeBufferPointer { x in
        coefficients.withUnsafeBufferPointer { coefficients in
            scores.withUnsafeMutableBufferPointer { scores in
                // A block's features transposed: column f holds the eight rows' values of feature f.
                var columns = [SIMD8<Float>](repeating: .zero, count: features)
                var r = 0
                while r < blocked {
                    for f in 0..<features {
                        var column = SIMD8<Float>()
                        for lane in 0..<8 { column[lane] = x[(r + lane) * features + f] }
                        columns[f] = column
                    }
                    for c in 0..<outputs {
                        var sum = SIMD8<Float>.zero
                        let base = c * features
                        for f in 0..<features {
                            sum += columns[f] * SIMD8(repeating: coefficients[base + f])
                        }
                        let intercept = intercepts?[c] ?? 0
                        for lane in 0..<8 { scores[(r + lane) * outputs + c] = intercept + sum[lane] }
                    }
                    r += 8
                }
                for r in blocked..<rows {
                    for c in 0..<outputs {
                        var sum: Float = 0
                        for f in 0..<features {
                            sum += x[r * features + f] * coefficients[c * features + f]
                        }
                        scores[r * outputs + c] = (intercepts?[c] ?? 0) + sum
                    }
                }
            }
        }
    }
    return scores
}

/// LinearClassifier: `[N]` labels and `[N, C]` float scores.
///
/// With one row of coefficients (one intercept) and two labels, onnxruntime treats the model as binary:
/// the label is the second one when the raw score is positive, and the score `s` becomes two columns,
/// `[1 - s, s]`, after the transform for LOGISTIC (`[1 - logistic(s), logistic(s)]`); SOFTMAX and
/// SOFTMAX_ZERO are not applied to the single score. Under PROBIT onnxruntime writes the rows' probits
/// packed into the first N of the 2N output values and leaves the rest unwritten; Slipway does the
/// same, with NaN in the unwritten half.
struct LinearClassifierKernel: ONNXKernel {
    let coefficients: [Float]
    let intercepts: [Float]
    let labels: ONNXClassLabels
    let postTransform: ONNXPostTransform
    let featureCount: Int

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        guard let coefficients = context.floats("coefficients"), !coefficients.isEmpty else {
            throw context.invalid("attribute 'coefficients' is missing")
        }
        guard let intercepts = context.floats("intercepts"), !intercepts.isEmpty else {
            throw context.invalid("attribute 'intercepts' is missing (one per class, or one for a binary model)")
        }
        labels = try ONNXClassLabels(context, ints: "classlabels_ints", strings: "classlabels_strings")
        let classes = intercepts.count
        if classes == 1 {
            guard labels.count == 2 else {
                throw context.invalid(
                    "a LinearClassifier with one intercept is binary and needs exactly 2 class labels, got \(labels.count)"
                )
            }
        } else {
            guard labels.count == classes else {
                throw context.invalid("there are \(classes) intercepts (classes) but \(labels.count) class labels")
            }
        }
        guard coefficients.count % classes == 0 else {
            throw context.invalid(
                "attribute 'coefficients' has \(coefficients.count) entries, not a multiple of the \(classes) classes")
        }
        self.coefficients = coefficients
        self.intercepts = intercepts
        self.featureCount = coefficients.count / classes
        self.postTransform = try ONNXPostTransform(context)
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        try requireNumeric(input)
        let (rows, features) = try matrixShape(input)
        guard features == featureCount else {
            throw ONNXRunError.input("the model takes \(featureCount) features per row, the input has \(features)")
        }
        let outputs = intercepts.count
        var scores = linearScores(
            input.floatValues ?? [], rows: rows, features: features, coefficients: coefficients,
            intercepts: intercepts, outputs: outputs)
        var choices: [ONNXClassLabels.Choice] = []
        choices.reserveCapacity(rows)
        if outputs == 1 {
            var expanded = [Float](repeating: 0, count: rows * 2)
            for r in 0..<rows {
                let s = scores[r]
                choices.append(.index(s > 0 ? 1 : 0))
                switch postTransform {
                case .probit:
                    // onnxruntime writes the N probits one after another at the start of the [N, 2]
                    // output and leaves the rest unwritten; Slipway writes NaN there.
                    expanded[r] = ONNXPostTransform.probit(s)
                    expanded[rows + r] = .nan
                case .logistic:
                    let p = ONNXPostTransform.mlasLogistic(s)
                    (expanded[2 * r], expanded[2 * r + 1]) = (1 - p, p)
                case .none, .softmax, .softmaxZero:
                    (expanded[2 * r], expanded[2 * r + 1]) = (1 - s, s)
                }
            }
            return [.tensor(labels.tensor(choices)), .tensor(ONNXTensor(shape: [rows, 2], floats: expanded))]
        }
        scores.withUnsafeBufferPointer { scores in
            for r in 0..<rows {
                var best = 0
                for c in 1..<outputs where scores[r * outputs + c] > scores[r * outputs + best] { best = c }
                choices.append(.index(best))
            }
        }
        switch postTransform {
        case .none:
            break
        case .logistic:
            // Elementwise over the whole block (vectorisable), not row by row.
            scores.withUnsafeMutableBufferPointer { scores in
                for index in scores.indices { scores[index] = ONNXPostTransform.mlasLogistic(scores[index]) }
            }
        case .probit, .softmax, .softmaxZero:
            var row = [Float](repeating: 0, count: outputs)
            for r in 0..<rows {
                for c in 0..<outputs { row[c] = scores[r * outputs + c] }
                postTransform.apply(to: &row, linear: true)
                for c in 0..<outputs { scores[r * outputs + c] = row[c] }
            }
        }
        return [.tensor(labels.tensor(choices)), .tensor(ONNXTensor(shape: [rows, outputs], floats: scores))]
    }
}

/// LinearRegressor: `[N, targets]` float scores. As in onnxruntime, intercepts are used only when there
/// is one per target, and with a single target only PROBIT of the transforms applies.
struct LinearRegressorKernel: ONNXKernel {
    let coefficients: [Float]
    let intercepts: [Float]?
    let targets: Int
    let postTransform: ONNXPostTransform

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        guard let coefficients = context.floats("coefficients"), !coefficients.isEmpty else {
            throw context.invalid("attribute 'coefficients' is missing")
        }
        let targets = context.int("targets", default: 1)
        guard targets >= 1, coefficients.count % targets == 0 else {
            throw context.invalid(
                "attribute 'targets' is \(targets); it must be at least 1 and divide the \(coefficients.count) coefficients"
            )
        }
        let intercepts = context.floats("intercepts") ?? []
        self.coefficients = coefficients
        self.intercepts = intercepts.count == targets ? intercepts : nil
        self.targets = targets
        self.postTransform = try ONNXPostTransform(context)
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        try requireNumeric(input)
        let (rows, features) = try matrixShape(input)
        let expected = coefficients.count / targets
        guard features == expected else {
            throw ONNXRunError.input("the model takes \(expected) features per row, the input has \(features)")
        }
        var scores = linearScores(
            input.floatValues ?? [], rows: rows, features: features, coefficients: coefficients,
            intercepts: intercepts, outputs: targets)
        if targets == 1 {
            if postTransform == .probit {
                for r in 0..<rows { scores[r] = ONNXPostTransform.probit(scores[r]) }
            }
        } else if postTransform != .none {
            var row = [Float](repeating: 0, count: targets)
            for r in 0..<rows {
                for t in 0..<targets { row[t] = scores[r * targets + t] }
                postTransform.apply(to: &row, linear: true)
                for t in 0..<targets { scores[r * targets + t] = row[t] }
            }
        }
        return [.tensor(ONNXTensor(shape: [rows, targets], floats: scores))]
    }
}

// MARK: - Preprocessing

/// Normalizer: scales each row (the values along axis 1) by its MAX, L1 or L2 norm, in float.
///
/// As in onnxruntime, MAX divides by the largest value itself, not the largest absolute value, and a
/// row whose norm is 0 is copied unchanged.
struct NormalizerKernel: ONNXKernel {
    enum Norm { case max, l1, l2 }
    let norm: Norm

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        switch context.string("norm", default: "MAX") {
        case "MAX": norm = .max
        case "L1": norm = .l1
        case "L2": norm = .l2
        case let other: throw context.invalid("norm '\(other)' is not one of MAX, L1, L2")
        }
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        try requireNumeric(input)
        let stride = try featureStride(input)
        // Squares are taken in the input's own type, then converted, as onnxruntime does.
        let squares: [Float]
        switch input.storage {
        case .double(let values): squares = values.map { Float($0 * $0) }
        default: squares = (input.floatValues ?? []).map { $0 * $0 }
        }
        let x = input.floatValues ?? []
        var y = x
        guard stride > 0 else { return [.tensor(ONNXTensor(shape: input.shape, floats: y))] }
        // Axis 1 for any rank: `step` apart, `stride` long, as onnxruntime walks it.
        let step = input.rank > 1 ? input.shape.dropFirst(2).reduce(1, *) : 1
        let loops = x.count / stride
        for n in 0..<loops {
            let offset = (n % step) + (n / step) * (stride * step)
            let indices = Swift.stride(from: offset, to: offset + stride * step, by: step)
            switch norm {
            case .max:
                var top = -Float.greatestFiniteMagnitude
                for i in indices { top = Swift.max(top, x[i]) }
                if top != 0 { for i in indices { y[i] = x[i] / top } }
            case .l1:
                var sum: Float = 0
                switch input.storage {
                case .double(let values): for i in indices { sum += Float(Swift.abs(values[i])) }
                default: for i in indices { sum += Swift.abs(x[i]) }
                }
                if sum != 0 { for i in indices { y[i] = x[i] / sum } }
            case .l2:
                var sum: Float = 0
                for i in indices { sum += squares[i] }
                if sum != 0 {
                    for i in indices {
                        let magnitude = (squares[i] / sum).squareRoot()
                        y[i] = x[i] < 0 ? -magnitude : magnitude
                    }
                }
            }
        }
        return [.tensor(ONNXTensor(shape: input.shape, floats: y))]
    }
}

/// Scaler: `(x - offset) * scale`, per feature or one pair for all, output float.
///
/// Double inputs compute in double; float and integer inputs in float, as onnxruntime's mixed
/// arithmetic does. A missing `offset` counts as zeros and a missing `scale` as ones.
struct ScalerKernel: ONNXKernel {
    let offset: [Float]
    let scale: [Float]

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        var offset = context.floats("offset") ?? []
        var scale = context.floats("scale") ?? []
        guard !offset.isEmpty || !scale.isEmpty else {
            throw context.invalid("attributes 'scale' and 'offset' are both missing")
        }
        if offset.isEmpty { offset = [Float](repeating: 0, count: scale.count) }
        if scale.isEmpty { scale = [Float](repeating: 1, count: offset.count) }
        guard offset.count == scale.count else {
            throw context.invalid("attribute 'scale' has \(scale.count) entries but 'offset' has \(offset.count)")
        }
        self.offset = offset
        self.scale = scale
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        try requireNumeric(input)
        let stride = try featureStride(input)
        let perFeature: Bool
        if scale.count == stride {
            perFeature = true
        } else if scale.count == 1 {
            perFeature = false
        } else {
            throw ONNXRunError.input(
                "the model scales \(scale.count) features, the input has \(stride) (scale and offset must have one "
                    + "entry per feature, or one)")
        }
        var y = [Float](repeating: 0, count: input.count)
        switch input.storage {
        case .double(let values):
            for i in values.indices {
                let k = perFeature ? i % stride : 0
                y[i] = Float((values[i] - Double(offset[k])) * Double(scale[k]))
            }
        default:
            let values = input.floatValues ?? []
            for i in values.indices {
                let k = perFeature ? i % stride : 0
                y[i] = (values[i] - offset[k]) * scale[k]
            }
        }
        return [.tensor(ONNXTensor(shape: input.shape, floats: y))]
    }
}

/// Imputer: replaces `replaced_value_float` (NaN matches NaN) or `replaced_value_int64` with the
/// imputed value for the feature (or the single imputed value when there is not one per feature).
/// Float and double inputs use the float attributes, int64 and int32 inputs the integer ones.
struct ImputerKernel: ONNXKernel {
    let imputedFloats: [Float]
    let replacedFloat: Float
    let imputedInts: [Int64]
    let replacedInt: Int64

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        imputedFloats = context.floats("imputed_value_floats") ?? []
        imputedInts = context.ints("imputed_value_int64s") ?? []
        guard imputedFloats.isEmpty != imputedInts.isEmpty else {
            throw context.invalid("set exactly one of 'imputed_value_floats' and 'imputed_value_int64s'")
        }
        replacedFloat = context.float("replaced_value_float", default: 0)
        replacedInt = Int64(context.int("replaced_value_int64", default: 0))
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        let stride = try featureStride(input)
        func imputed<T>(_ values: [T], _ i: Int) -> T { values.count == stride ? values[i % stride] : values[0] }
        switch input.storage {
        case .float(let values):
            let floats = try floatsOrThrow(input)
            let replaceNaN = replacedFloat.isNaN
            let y = values.indices.map { i in
                (replaceNaN ? values[i].isNaN : values[i] == replacedFloat) ? imputed(floats, i) : values[i]
            }
            return [.tensor(ONNXTensor(shape: input.shape, floats: y))]
        case .double(let values):
            let floats = try floatsOrThrow(input)
            let replaceNaN = replacedFloat.isNaN
            let y = values.indices.map { i in
                (replaceNaN ? values[i].isNaN : values[i] == Double(replacedFloat))
                    ? Double(imputed(floats, i)) : values[i]
            }
            return [.tensor(ONNXTensor(shape: input.shape, doubles: y))]
        case .int64(let values):
            let ints = try intsOrThrow(input)
            let y = values.indices.map { i in values[i] == replacedInt ? imputed(ints, i) : values[i] }
            return [.tensor(ONNXTensor(shape: input.shape, int64s: y))]
        case .int32(let values):
            let ints = try intsOrThrow(input)
            let y = values.indices.map { i in
                Int64(values[i]) == replacedInt ? Int32(clamping: imputed(ints, i)) : values[i]
            }
            return [.tensor(ONNXTensor(shape: input.shape, int32s: y))]
        case .bool, .string:
            throw ONNXRunError.input(
                "the input must be numeric (float, double, int64 or int32), got \(input.elementType)")
        }
    }

    private func floatsOrThrow(_ input: ONNXTensor) throws(SlipwayError) -> [Float] {
        guard !imputedFloats.isEmpty else {
            throw ONNXRunError.input(
                "the model imputes integers (imputed_value_int64s); the input is \(input.elementType)")
        }
        return imputedFloats
    }

    private func intsOrThrow(_ input: ONNXTensor) throws(SlipwayError) -> [Int64] {
        guard !imputedInts.isEmpty else {
            throw ONNXRunError.input(
                "the model imputes floats (imputed_value_floats); the input is \(input.elementType)")
        }
        return imputedInts
    }
}

/// Binarizer: 1 where `x > threshold`, else 0, in the input's type. A NaN input is refused, as
/// onnxruntime does (it has no defined side of the threshold).
struct BinarizerKernel: ONNXKernel {
    let threshold: Float

    init(_ context: ONNXNodeContext) {
        threshold = context.float("threshold", default: 0)
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        switch input.storage {
        case .float(let values):
            if let nan = values.firstIndex(where: \.isNaN) { throw ONNXRunError.input("input element \(nan) is NaN") }
            return [.tensor(ONNXTensor(shape: input.shape, floats: values.map { $0 > threshold ? 1 : 0 }))]
        case .double(let values):
            if let nan = values.firstIndex(where: \.isNaN) { throw ONNXRunError.input("input element \(nan) is NaN") }
            return [.tensor(ONNXTensor(shape: input.shape, doubles: values.map { $0 > Double(threshold) ? 1 : 0 }))]
        case .int64(let values):
            return [
                .tensor(ONNXTensor(shape: input.shape, int64s: values.map { Double($0) > Double(threshold) ? 1 : 0 }))
            ]
        case .int32(let values):
            return [
                .tensor(ONNXTensor(shape: input.shape, int32s: values.map { Double($0) > Double(threshold) ? 1 : 0 }))
            ]
        case .bool, .string:
            throw ONNXRunError.input(
                "the input must be numeric (float, double, int64 or int32), got \(input.elementType)")
        }
    }
}

/// OneHotEncoder: appends a dimension of `C` categories, one-hot per input element (float output).
///
/// Numeric inputs are truncated to integers and looked up in `cats_int64s` (NaN matches nothing);
/// strings in `cats_strings`. An unknown category gives all zeros, or an error when `zeros` is 0.
struct OneHotEncoderKernel: ONNXKernel {
    let intCategories: [Int64: Int]
    let stringCategories: [String: Int]
    let categoryCount: Int
    let zeros: Bool

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        let ints = context.ints("cats_int64s") ?? []
        let strings = context.strings("cats_strings") ?? []
        guard ints.isEmpty != strings.isEmpty else {
            throw context.invalid("set exactly one of 'cats_int64s' and 'cats_strings' (with at least one category)")
        }
        // A repeated category maps to its last position, as in onnxruntime.
        var intCategories: [Int64: Int] = [:]
        for (index, category) in ints.enumerated() { intCategories[category] = index }
        var stringCategories: [String: Int] = [:]
        for (index, category) in strings.enumerated() { stringCategories[category] = index }
        self.intCategories = intCategories
        self.stringCategories = stringCategories
        self.categoryCount = Swift.max(ints.count, strings.count)
        self.zeros = context.int("zeros", default: 1) != 0
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        var y = [Float](repeating: 0, count: input.count * categoryCount)
        func place(_ category: Int?, _ i: Int, _ describe: @autoclosure () -> String) throws(SlipwayError) {
            if let category {
                y[i * categoryCount + category] = 1
            } else if !zeros {
                throw ONNXRunError.input("input element \(i) (\(describe())) is not a known category, and zeros=0")
            }
        }
        switch input.storage {
        case .string(let values):
            for (i, value) in values.enumerated() { try place(stringCategories[value], i, "'\(value)'") }
        case .float(let values):
            for (i, value) in values.enumerated() {
                try place(Self.integer(Double(value)).flatMap { intCategories[$0] }, i, "\(value)")
            }
        case .double(let values):
            for (i, value) in values.enumerated() {
                try place(Self.integer(value).flatMap { intCategories[$0] }, i, "\(value)")
            }
        case .int64(let values):
            for (i, value) in values.enumerated() { try place(intCategories[value], i, "\(value)") }
        case .int32(let values):
            for (i, value) in values.enumerated() { try place(intCategories[Int64(value)], i, "\(value)") }
        case .bool:
            throw ONNXRunError.input("the input must be strings or numbers, got bool")
        }
        return [.tensor(ONNXTensor(shape: input.shape + [categoryCount], floats: y))]
    }

    /// The value truncated toward zero, or nil when it has no Int64 value.
    private static func integer(_ value: Double) -> Int64? {
        guard value.isFinite, value > -9.223372036854775e18, value < 9.223372036854775e18 else { return nil }
        return Int64(value.rounded(.towardZero))
    }
}

/// ArrayFeatureExtractor: selects the given positions along the last axis (a 1-D input gives `[1, K]`,
/// as in onnxruntime). Indices must be within the last dimension; negative ones are refused.
struct ArrayFeatureExtractorKernel: ONNXKernel {
    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        let indexTensor = try inputs.tensor(1)
        guard indexTensor.elementType == .int64 || indexTensor.elementType == .int32,
            let indices = indexTensor.int64Values
        else {
            throw ONNXRunError.input("the indices (input 1) must be int64, got \(indexTensor.elementType)")
        }
        guard input.rank >= 1 else { throw ONNXRunError.input("the data (input 0) must have at least one dimension") }
        guard !indices.isEmpty else { throw ONNXRunError.input("the indices (input 1) are empty") }
        let last = input.shape[input.rank - 1]
        for (position, index) in indices.enumerated() where index < 0 || index >= Int64(last) {
            throw ONNXRunError.input("index \(index) (position \(position) of input 1) is outside 0..<\(last)")
        }
        let picks = indices.map { Int($0) }
        let outer = last == 0 ? 0 : input.count / last
        func gather<T>(_ values: [T]) -> [T] {
            var result: [T] = []
            result.reserveCapacity(outer * picks.count)
            for row in 0..<outer {
                for pick in picks { result.append(values[row * last + pick]) }
            }
            return result
        }
        let shape = input.rank == 1 ? [1, picks.count] : Array(input.shape.dropLast()) + [picks.count]
        let storage: ONNXTensor.Storage
        switch input.storage {
        case .float(let values): storage = .float(gather(values))
        case .double(let values): storage = .double(gather(values))
        case .int64(let values): storage = .int64(gather(values))
        case .int32(let values): storage = .int32(gather(values))
        case .bool(let values): storage = .bool(gather(values))
        case .string(let values): storage = .string(gather(values))
        }
        return [.tensor(ONNXTensor(shape: shape, storage: storage))]
    }
}

// MARK: - LabelEncoder

/// LabelEncoder, by opset: 1 maps strings to their index in `classes_strings` and back; 2 and later map
/// `keys_*` to `values_*` (opset 4 adds `keys_tensor`, `values_tensor`, `default_tensor` and double
/// keys, and lets a NaN key match NaN inputs). A key listed twice maps to its first value.
private func labelEncoder(_ context: ONNXNodeContext) throws(SlipwayError) -> any ONNXKernel {
    if let classes = context.strings("classes_strings") {
        return LabelEncoderClassesKernel(
            classes: classes, defaultString: context.string("default_string", default: "_Unused"),
            defaultInt: Int64(context.int("default_int64", default: -1)))
    }
    return try LabelEncoderKernel(context)
}

/// LabelEncoder opset 1: string → index in `classes_strings` (a repeated class maps to its last index,
/// as in onnxruntime), int64 → the class at that index.
struct LabelEncoderClassesKernel: ONNXKernel {
    let classes: [String]
    let indices: [String: Int64]
    let defaultString: String
    let defaultInt: Int64

    init(classes: [String], defaultString: String, defaultInt: Int64) {
        self.classes = classes
        var indices: [String: Int64] = [:]
        for (index, name) in classes.enumerated() { indices[name] = Int64(index) }
        self.indices = indices
        self.defaultString = defaultString
        self.defaultInt = defaultInt
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        switch input.storage {
        case .string(let values):
            return [.tensor(ONNXTensor(shape: input.shape, int64s: values.map { indices[$0] ?? defaultInt }))]
        case .int64(let values):
            let mapped = values.map { $0 >= 0 && $0 < Int64(classes.count) ? classes[Int($0)] : defaultString }
            return [.tensor(ONNXTensor(shape: input.shape, strings: mapped))]
        default:
            throw ONNXRunError.input("the input must be strings or int64, got \(input.elementType)")
        }
    }
}

/// LabelEncoder opsets 2 to 4.
struct LabelEncoderKernel: ONNXKernel {
    /// Key → position in `values`.
    enum Keys: Sendable {
        case strings([String: Int])
        case ints([Int64: Int])
        /// Float keys; `nan` is the position of a NaN key (matched from opset 4).
        case floats([Float: Int], nan: Int?)
        case doubles([Double: Int], nan: Int?)
    }

    let keys: Keys
    let values: ONNXTensor.Storage
    let defaultValue: ONNXTensor.Storage

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        let keyTensor = try Self.listOrTensor(context, "keys")
        let valueTensor = try Self.listOrTensor(context, "values")
        guard keyTensor.count == valueTensor.count else {
            throw context.invalid("there are \(keyTensor.count) keys but \(valueTensor.count) values")
        }
        let matchNaN = context.opset >= 4
        switch keyTensor.storage {
        case .string(let list): keys = .strings(Self.firstPositions(list))
        case .int64(let list): keys = .ints(Self.firstPositions(list))
        case .float(let list):
            keys = .floats(
                Self.firstPositions(list.map { $0.isNaN ? nil : $0 }),
                nan: matchNaN ? list.firstIndex(where: \.isNaN) : nil)
        case .double(let list):
            keys = .doubles(
                Self.firstPositions(list.map { $0.isNaN ? nil : $0 }),
                nan: matchNaN ? list.firstIndex(where: \.isNaN) : nil)
        default:
            throw context.invalid(
                "LabelEncoder keys must be strings, int64, float or double, got \(keyTensor.elementType)")
        }
        values = valueTensor.storage
        defaultValue = try Self.defaultValue(context, for: valueTensor.elementType)
    }

    /// Each key's position in `list` (its first, for a key listed twice); nil entries are skipped.
    private static func firstPositions<K: Hashable>(_ list: [K?]) -> [K: Int] {
        var map: [K: Int] = [:]
        for (index, key) in list.enumerated() {
            if let key, map[key] == nil { map[key] = index }
        }
        return map
    }

    private static func firstPositions<K: Hashable>(_ list: [K]) -> [K: Int] {
        firstPositions(list.map { Optional($0) })
    }

    /// `keys_strings` / `keys_int64s` / `keys_floats` or `keys_tensor` (and the same for values).
    private static func listOrTensor(_ context: ONNXNodeContext, _ prefix: String) throws(SlipwayError) -> ONNXTensor {
        var found: [ONNXTensor] = []
        if let list = context.strings("\(prefix)_strings") {
            found.append(ONNXTensor(shape: [list.count], strings: list))
        }
        if let list = context.ints("\(prefix)_int64s") { found.append(ONNXTensor(shape: [list.count], int64s: list)) }
        if let list = context.floats("\(prefix)_floats") { found.append(ONNXTensor(shape: [list.count], floats: list)) }
        if let tensor = try context.tensor("\(prefix)_tensor") { found.append(tensor.reshaped([tensor.count])) }
        guard found.count == 1 else {
            throw context.invalid(
                found.isEmpty
                    ? "one of '\(prefix)_strings', '\(prefix)_int64s', '\(prefix)_floats' or '\(prefix)_tensor' is required"
                    : "only one of '\(prefix)_strings', '\(prefix)_int64s', '\(prefix)_floats' and '\(prefix)_tensor' may be set"
            )
        }
        return found[0]
    }

    /// `default_tensor` (opset 4), else `default_string` / `default_int64` / `default_float` by the
    /// values' type, else onnxruntime's defaults: "_Unused", -1, -0.0.
    private static func defaultValue(
        _ context: ONNXNodeContext, for type: ONNXElementType
    ) throws(SlipwayError) -> ONNXTensor.Storage {
        if let tensor = try context.tensor("default_tensor") {
            guard tensor.count == 1, tensor.elementType == type else {
                throw context.invalid(
                    "attribute 'default_tensor' must hold one \(type) value (the values' type), got \(tensor.count) "
                        + "\(tensor.elementType) value\(tensor.count == 1 ? "" : "s")")
            }
            return tensor.storage
        }
        switch type {
        case .string: return .string([context.string("default_string", default: "_Unused")])
        case .int64: return .int64([Int64(context.int("default_int64", default: -1))])
        case .float: return .float([context.float("default_float", default: -0.0)])
        case .double: return .double([Double(context.float("default_float", default: -0.0))])
        default: throw context.invalid("LabelEncoder values must be strings, int64, float or double, got \(type)")
        }
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        let positions: [Int?]
        switch (keys, input.storage) {
        case (.strings(let map), .string(let values)): positions = values.map { map[$0] }
        case (.ints(let map), .int64(let values)): positions = values.map { map[$0] }
        case (.floats(let map, let nan), .float(let values)): positions = values.map { $0.isNaN ? nan : map[$0] }
        case (.doubles(let map, let nan), .double(let values)): positions = values.map { $0.isNaN ? nan : map[$0] }
        default:
            throw ONNXRunError.input("the input must be \(keyTypeName) like the model's keys, got \(input.elementType)")
        }
        func pick<T>(_ values: [T], _ fallback: [T]) -> [T] { positions.map { $0.map { values[$0] } ?? fallback[0] } }
        let storage: ONNXTensor.Storage
        switch (values, defaultValue) {
        case (.string(let values), .string(let fallback)): storage = .string(pick(values, fallback))
        case (.int64(let values), .int64(let fallback)): storage = .int64(pick(values, fallback))
        case (.float(let values), .float(let fallback)): storage = .float(pick(values, fallback))
        case (.double(let values), .double(let fallback)): storage = .double(pick(values, fallback))
        default: throw .internal("LabelEncoder values and default differ in type")
        }
        return [.tensor(ONNXTensor(shape: input.shape, storage: storage))]
    }

    private var keyTypeName: String {
        switch keys {
        case .strings: "string"
        case .ints: "int64"
        case .floats: "float"
        case .doubles: "double"
        }
    }
}

// MARK: - Maps

/// ZipMap: one map per row from the class labels to the row's scores, as a sequence. A label listed
/// twice appears once, with the later column's score (onnxruntime builds a `std::map`).
struct ZipMapKernel: ONNXKernel {
    let keys: ONNXTensor
    /// For each key, the input column its value comes from.
    let columns: [Int]
    let labelCount: Int

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        let labels = try ONNXClassLabels(context, ints: "classlabels_int64s", strings: "classlabels_strings")
        guard labels.count > 0 else {
            throw context.invalid("one of 'classlabels_strings' and 'classlabels_int64s' is required")
        }
        // Keys in first-appearance order, each with the column of its last appearance.
        func unique<K: Hashable>(_ list: [K]) -> (keys: [K], columns: [Int]) {
            var last: [K: Int] = [:]
            for (column, key) in list.enumerated() { last[key] = column }
            var keys: [K] = []
            var columns: [Int] = []
            for key in list {
                if let column = last.removeValue(forKey: key) {
                    keys.append(key)
                    columns.append(column)
                }
            }
            return (keys, columns)
        }
        switch labels {
        case .ints(let list):
            let (keys, columns) = unique(list)
            self.keys = ONNXTensor(shape: [keys.count], int64s: keys)
            self.columns = columns
        case .strings(let list):
            let (keys, columns) = unique(list)
            self.keys = ONNXTensor(shape: [keys.count], strings: keys)
            self.columns = columns
        }
        labelCount = labels.count
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        guard input.elementType == .float || input.elementType == .double, let values = input.floatValues else {
            throw ONNXRunError.input("the input must be float scores, got \(input.elementType)")
        }
        guard input.rank == 1 || input.rank == 2 else {
            throw ONNXRunError.input("the input must be [N, C] or [C] (one row), got shape \(input.shape)")
        }
        let width = input.shape[input.rank - 1]
        guard width == labelCount else {
            throw ONNXRunError.input("each row has \(width) scores but the model has \(labelCount) class labels")
        }
        let rows = input.rank == 1 ? 1 : input.shape[0]
        var maps: [ONNXValue] = []
        maps.reserveCapacity(rows)
        for row in 0..<rows {
            let rowValues = columns.map { values[row * width + $0] }
            maps.append(.map(keys: keys, values: ONNXTensor(shape: [rowValues.count], floats: rowValues)))
        }
        return [.sequence(maps)]
    }
}

/// CastMap: a map from int64 keys to floats or strings, as a `[1, K]` tensor in key order.
///
/// DENSE takes every entry; SPARSE makes `max_map` columns, filling positions without a key with 0
/// (for TO_STRING, onnxruntime's literal pad `0.f`) and dropping keys beyond them. Strings convert to
/// numbers from their leading number, as C's `strtof`/`strtoll`; floats to strings as C's `%f`.
struct CastMapKernel: ONNXKernel {
    enum Target { case float, string, int64 }
    let target: Target
    let sparse: Bool
    let maxMap: Int

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        switch context.string("cast_to", default: "TO_FLOAT") {
        case "TO_FLOAT": target = .float
        case "TO_STRING": target = .string
        case "TO_INT64": target = .int64
        case let other: throw context.invalid("cast_to '\(other)' is not one of TO_FLOAT, TO_STRING, TO_INT64")
        }
        switch context.string("map_form", default: "DENSE") {
        case "DENSE": sparse = false
        case "SPARSE": sparse = true
        case let other: throw context.invalid("map_form '\(other)' is not one of DENSE, SPARSE")
        }
        let maxMap = context.int("max_map", default: 1)
        guard !sparse || (maxMap >= 0 && maxMap <= 1 << 24) else {
            throw context.invalid("max_map is \(maxMap); a SPARSE CastMap needs 0 to \(1 << 24) columns")
        }
        self.maxMap = maxMap
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        guard let value = inputs.first ?? nil else { throw ONNXRunError.missingInput(0) }
        guard case .map(let keyTensor, let valueTensor) = value else {
            throw ONNXRunError.input(
                "the input must be a map from int64 to float or string, got a \(value.kindDescription)")
        }
        guard keyTensor.elementType == .int64 || keyTensor.elementType == .int32, let keys = keyTensor.int64Values
        else {
            throw ONNXRunError.input("the map's keys must be int64, got \(keyTensor.elementType)")
        }
        guard keys.count == valueTensor.count else {
            throw ONNXRunError.input("the map has \(keys.count) keys but \(valueTensor.count) values")
        }
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        for (a, b) in zip(order, order.dropFirst()) where keys[a] == keys[b] {
            throw ONNXRunError.input("the map has key \(keys[a]) twice")
        }
        // The entries to write, by output column.
        var slots: [Int?]
        if sparse {
            if let first = order.first, keys[first] < 0 {
                throw ONNXRunError.input("a SPARSE CastMap needs non-negative keys; the map has key \(keys[first])")
            }
            slots = [Int?](repeating: nil, count: maxMap)
            for entry in order where keys[entry] < Int64(maxMap) { slots[Int(keys[entry])] = entry }
        } else {
            slots = order.map { $0 }
        }
        let shape = [1, slots.count]
        switch valueTensor.storage {
        case .float, .double:
            let values = valueTensor.floatValues ?? []
            switch target {
            case .float:
                return [.tensor(ONNXTensor(shape: shape, floats: slots.map { $0.map { values[$0] } ?? 0 }))]
            case .int64:
                return [
                    .tensor(ONNXTensor(shape: shape, int64s: slots.map { $0.map { Self.truncate(values[$0]) } ?? 0 }))
                ]
            case .string:
                return [
                    .tensor(
                        ONNXTensor(shape: shape, strings: slots.map { $0.map { Self.format(values[$0]) } ?? "0.f" }))
                ]
            }
        case .string(let values):
            switch target {
            case .string:
                return [.tensor(ONNXTensor(shape: shape, strings: slots.map { $0.map { values[$0] } ?? "0.f" }))]
            case .float:
                var result: [Float] = []
                for slot in slots {
                    guard let slot else {
                        result.append(0)
                        continue
                    }
                    guard let number = Self.leadingFloat(values[slot]) else {
                        throw ONNXRunError.input("map value '\(values[slot])' (key \(keys[slot])) is not a number")
                    }
                    result.append(number)
                }
                return [.tensor(ONNXTensor(shape: shape, floats: result))]
            case .int64:
                var result: [Int64] = []
                for slot in slots {
                    guard let slot else {
                        result.append(0)
                        continue
                    }
                    guard let number = Self.leadingInteger(values[slot]) else {
                        throw ONNXRunError.input("map value '\(values[slot])' (key \(keys[slot])) is not an int64")
                    }
                    result.append(number)
                }
                return [.tensor(ONNXTensor(shape: shape, int64s: result))]
            }
        default:
            throw ONNXRunError.input("the map's values must be float or string, got \(valueTensor.elementType)")
        }
    }

    /// Truncation toward zero; NaN becomes 0 and out-of-range values saturate.
    private static func truncate(_ value: Float) -> Int64 {
        guard !value.isNaN else { return 0 }
        guard value < 9.2233715e18 else { return .max }
        guard value >= -9.2233715e18 else { return .min }
        return Int64(value.rounded(.towardZero))
    }

    /// C's `%f` of the value (what `std::to_string(float)` writes): six decimals.
    private static func format(_ value: Float) -> String {
        if value.isNaN { return value.sign == .minus ? "-nan" : "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return String(format: "%f", Double(value))
    }

    /// The number at the start of `text` (after leading whitespace), as `strtof` reads it.
    private static func leadingFloat(_ text: String) -> Float? {
        text.withCString { start -> Float? in
            var end: UnsafeMutablePointer<CChar>?
            let value = strtof(start, &end)
            guard let end, end != UnsafeMutablePointer(mutating: start) else { return nil }
            return value
        }
    }

    /// The integer at the start of `text`, as `strtoll` reads it (base 10); nil when out of range.
    private static func leadingInteger(_ text: String) -> Int64? {
        text.withCString { start -> Int64? in
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let value = strtoll(start, &end, 10)
            guard let end, end != UnsafeMutablePointer(mutating: start), errno != ERANGE else { return nil }
            return Int64(value)
        }
    }
}
