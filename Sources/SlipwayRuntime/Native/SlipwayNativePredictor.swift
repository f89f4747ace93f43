import SlipwayCore

/// Predicts with a model in Slipway's native format (`docs/model-format.md`): a linear model, a tree
/// ensemble, or a factorization model.
///
/// Linear models replace a missing (NaN) input with the file's imputation value (and refuse the row
/// when the file has none); trees send it the way `default_left` says. A factorization model takes rows
/// of `[user_index, item_index]` as floats and outputs their score; use ``FactorizationModel`` directly
/// for ids and top-K recommendations.
public struct SlipwayNativePredictor: Predictor {
    public let signature: ModelSignature
    public let featureCount: Int
    public let outputCount: Int
    public let kind: NativeModelDocument.Kind
    public let task: NativeModelDocument.Task
    /// Input column names, in order.
    public let featureNames: [String]
    /// Class labels for classifiers (outputs are about `classes[1]` for binary, in this order for
    /// multiclass); empty otherwise.
    public let classes: [String]
    let model: Model

    enum Model: Sendable {
        case linear(NativeLinearModel)
        case trees(NativeTreeModel)
        case factorization(FactorizationModel)
    }

    /// Parses and validates a native model file.
    /// - Throws: ``SlipwayError`` (422) naming the invalid field or the unsupported version.
    public init(artifact: [UInt8]) throws(SlipwayError) {
        try self.init(document: NativeModelDocument.decode(artifact))
    }

    /// Validates a decoded document.
    /// - Throws: ``SlipwayError`` (422) naming the invalid field.
    public init(document: NativeModelDocument) throws(SlipwayError) {
        switch document.kind {
        case .linear:
            let linear = try NativeLinearModel(document: document)
            model = .linear(linear)
            outputCount = linear.outputCount
        case .treeEnsemble:
            let trees = try NativeTreeModel(document: document)
            model = .trees(trees)
            outputCount = trees.outputCount
        case .factorization:
            model = .factorization(try FactorizationModel(document: document))
            outputCount = 1
        }
        kind = document.kind
        task = document.task
        featureNames = document.features
        featureCount = document.features.count
        classes = document.classes ?? []
        signature = .tabular(
            features: featureCount, output: NativeModelValidator.outputName(document.task), outputs: outputCount)
    }

    public func predict(
        _ input: UnsafeBufferPointer<Float>, rows: Int, features: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(SlipwayError) {
        try validateBatch(inputCount: input.count, outputCapacity: output.count, rows: rows, features: features)
        guard rows > 0, let input = input.baseAddress, let output = output.baseAddress else { return }
        switch model {
        case .linear(let linear): try linear.predict(input, rows: rows, into: output)
        case .trees(let trees): trees.predict(input, rows: rows, into: output)
        case .factorization(let factorization): try factorization.predict(input, rows: rows, into: output)
        }
    }
}
