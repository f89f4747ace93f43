import SlipwayCore

/// A loaded model that predicts on batches of rows.
///
/// A predictor is built once from an artifact's bytes (parsing and validating the whole model up
/// front), then called many times. Calls are safe from any number of tasks at once: a predictor is an
/// immutable value.
///
/// Input is one contiguous, row-major block of `rows × features` 32-bit floats; `Float.nan` marks a
/// missing value. Output goes into a caller-provided block of `rows × outputCount` floats, so a server
/// can reuse its buffers and the hot path allocates nothing per row.
///
/// ```swift
/// let predictor = try XGBoostPredictor(artifact: bytes)
/// var output = [Float](repeating: 0, count: rows * predictor.outputCount)
/// try input.withUnsafeBufferPointer { input in
///     try output.withUnsafeMutableBufferPointer { output in
///         try predictor.predict(input, rows: rows, features: predictor.featureCount, into: output)
///     }
/// }
/// ```
public protocol Predictor: Sendable {
    /// Parses and validates a model artifact.
    /// - Parameter artifact: the model file's bytes.
    /// - Throws: ``SlipwayError`` (422) naming what is wrong or unsupported in the file.
    init(artifact: [UInt8]) throws(SlipwayError)

    /// The model's input and output tensors: one `FP32` input of shape `[-1, featureCount]` and one
    /// `FP32` output of shape `[-1, outputCount]`.
    var signature: ModelSignature { get }

    /// How many features (columns) each input row has.
    var featureCount: Int { get }

    /// How many values each row's prediction has (1 for regression and binary classification, the
    /// number of classes for multiclass).
    var outputCount: Int { get }

    /// Predicts a batch.
    /// - Parameters:
    ///   - input: `rows × features` floats, row-major; NaN is a missing value.
    ///   - rows: the number of rows.
    ///   - features: the number of columns; must equal ``featureCount``.
    ///   - output: at least `rows × outputCount` floats; row `r`'s prediction is written to
    ///     `output[r * outputCount ..< (r + 1) * outputCount]`.
    /// - Throws: ``SlipwayError`` (400) when the shapes do not match the model.
    func predict(
        _ input: UnsafeBufferPointer<Float>, rows: Int, features: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(SlipwayError)

    /// Every output the model names for a batch (rows as in ``predict(_:rows:)``), the main one first.
    /// Tabular models have one; ONNX classifiers add their labels. A default implementation exists.
    func predictOutputs(_ input: [Float], rows: Int) throws(SlipwayError) -> [PredictionOutput]
}

extension Predictor {
    /// Predicts a batch held in an array and returns a new array of `rows × outputCount` values.
    ///
    /// Convenient for tools and tests; servers should reuse buffers with
    /// ``predict(_:rows:features:into:)`` instead.
    public func predict(_ input: [Float], rows: Int) throws(SlipwayError) -> [Float] {
        let (count, overflow) = rows.multipliedReportingOverflow(by: outputCount)
        guard rows >= 0, !overflow else { throw .badRequest("row count \(rows) is too large", code: "invalid_input") }
        var output = [Float](repeating: .nan, count: count)
        let result: Result<Void, SlipwayError> = input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                Result { () throws(SlipwayError) in
                    try predict(input, rows: rows, features: featureCount, into: output)
                }
            }
        }
        try result.get()
        return output
    }

    /// Checks a batch's shape against the model; every conformer calls this before touching memory.
    func validateBatch(
        inputCount: Int, outputCapacity: Int, rows: Int, features: Int
    ) throws(SlipwayError) {
        guard features == featureCount else {
            throw .badRequest(
                "the model expects \(featureCount) features per row, the input has \(features)",
                code: "invalid_input")
        }
        let (inputNeeded, inputOverflow) = rows.multipliedReportingOverflow(by: features)
        let (outputNeeded, outputOverflow) = rows.multipliedReportingOverflow(by: outputCount)
        guard rows >= 0, !inputOverflow, !outputOverflow, inputCount == inputNeeded else {
            throw .badRequest(
                "the input has \(inputCount) values, but \(rows) rows of \(features) features need \(rows &* features)",
                code: "invalid_input")
        }
        guard outputCapacity >= outputNeeded else {
            throw .badRequest(
                "the output buffer holds \(outputCapacity) values, but \(rows) rows need \(outputNeeded)",
                code: "invalid_input")
        }
    }
}

extension ModelSignature {
    /// The signature of a model taking one row of `features` floats and returning `outputs` floats.
    static func tabular(features: Int, output name: String, outputs: Int) -> ModelSignature {
        ModelSignature(
            inputs: [TensorSpec(name: "input", datatype: .fp32, shape: [-1, features])],
            outputs: [TensorSpec(name: name, datatype: .fp32, shape: [-1, outputs])])
    }
}

/// One named output of a prediction, shaped as an Open Inference Protocol v2 output tensor.
public struct PredictionOutput: Sendable, Equatable {
    public enum Data: Sendable, Equatable {
        case floats([Float])
        case int64s([Int64])
        case strings([String])
    }

    public let name: String
    public let shape: [Int]
    public let data: Data

    public init(name: String, shape: [Int], data: Data) {
        self.name = name
        self.shape = shape
        self.data = data
    }

    /// The OIP v2 datatype of ``data``.
    public var datatype: TensorSpec.DataType {
        switch data {
        case .floats: .fp32
        case .int64s: .int64
        case .strings: .bytes
        }
    }
}

extension Predictor {
    /// Every output the model names for a batch, the main one (``predict(_:rows:)``'s) first.
    ///
    /// Tabular models have one output; ONNX classifiers add their labels.
    public func predictOutputs(_ input: [Float], rows: Int) throws(SlipwayError) -> [PredictionOutput] {
        let values = try predict(input, rows: rows)
        return [
            PredictionOutput(
                name: signature.outputs.first?.name ?? "output", shape: [rows, outputCount], data: .floats(values))
        ]
    }
}
