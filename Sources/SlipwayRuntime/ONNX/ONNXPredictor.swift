import SlipwayCore

/// Serves an ONNX model that takes one numeric table: a single `float` (or `double`) input of shape
/// `[N, F]`, as scikit-learn (skl2onnx), XGBoost and LightGBM (onnxmltools) and PyTorch MLP exports have.
///
/// The model runs on Slipway's own kernels (``ONNXModel``). Loading also runs one row of zeros through
/// the graph, which checks that it computes and measures each output's width (e.g. the number of
/// classes behind a `ZipMap`). The ``Predictor`` output is the model's main result: its probabilities
/// (a `[N, C]` tensor or a `ZipMap` sequence, turned back into `[N, C]`), or else its first numeric
/// output. ``predictOutputs(_:rows:)`` returns every output, labels included.
public struct ONNXPredictor: Predictor {
    public let model: ONNXModel
    public let signature: ModelSignature
    public let featureCount: Int
    public let outputCount: Int

    private let inputName: String
    private let inputType: ONNXElementType
    /// Graph outputs in signature order (the main one first) with their per-row widths.
    private let outputPlan: [(name: String, width: Int, flatten: Bool)]

    public init(artifact: [UInt8]) throws(SlipwayError) {
        try self.init(model: try ONNXModel(artifact: artifact))
    }

    public init(model: ONNXModel) throws(SlipwayError) {
        self.model = model
        let described = model.inputs.map { "'\($0.name)'" }.joined(separator: ", ")
        guard model.inputs.count == 1, let input = model.inputs.first,
            case .tensor(let type, let shape) = input.kind
        else {
            throw .unprocessable(
                "Slipway serves ONNX models with one numeric input of shape [N, features]; this model takes "
                    + "\(model.inputs.count) inputs (\(described)). Export the pipeline with a single float "
                    + "tensor input (e.g. skl2onnx's initial_types=[('input', FloatTensorType([None, F]))])",
                code: "unsupported_model")
        }
        guard type == .float || type == .double else {
            throw .unprocessable(
                "input '\(input.name)' is a \(type) tensor; Slipway serves ONNX models whose input is a float or "
                    + "double table", code: "unsupported_model")
        }
        guard let shape, shape.count == 2, let features = shape[1], features > 0 else {
            let shown = shape.map { "\($0.map { $0.map(String.init) ?? "N" })" } ?? "unknown"
            throw .unprocessable(
                "input '\(input.name)' has shape \(shown); Slipway needs [N, features] with a fixed feature count",
                code: "unsupported_model")
        }
        inputName = input.name
        inputType = type
        featureCount = features

        // One row of zeros: the graph must compute, and it tells each output's width.
        let probe = try Self.run(model, input: [Float](repeating: 0, count: features), rows: 1, name: input.name, type: type)
        var plan: [(name: String, width: Int, flatten: Bool, spec: TensorSpec, score: Int)] = []
        for (position, info) in model.outputs.enumerated() {
            guard let value = probe[info.name] else { continue }
            switch value {
            case .tensor(let tensor):
                guard tensor.rank >= 1, tensor.shape[0] == 1 else {
                    throw .unprocessable(
                        "output '\(info.name)' has shape \(tensor.shape) for one row; Slipway serves models whose "
                            + "outputs have one entry per row", code: "unsupported_model")
                }
                let width = tensor.count
                let numeric = tensor.elementType == .float || tensor.elementType == .double
                let probabilities = numeric && tensor.rank == 2 && info.name.lowercased().contains("prob")
                let score = probabilities ? 3 : numeric ? 2 : tensor.elementType == .string ? 0 : 1
                let spec = TensorSpec(
                    name: info.name, datatype: tensor.elementType.datatype, shape: tensor.rank == 1 ? [-1] : [-1, width])
                plan.append((info.name, width, tensor.rank > 1, spec, score * 100 - position))
            case .sequence(let rows):
                guard rows.count == 1, case .map(_, let values)? = rows.first else {
                    throw .unprocessable(
                        "output '\(info.name)' is a sequence Slipway cannot turn into a table", code: "unsupported_model")
                }
                let spec = TensorSpec(name: info.name, datatype: .fp32, shape: [-1, values.count])
                plan.append((info.name, values.count, true, spec, 400 - position))
            case .map:
                throw .unprocessable("output '\(info.name)' is a map; Slipway serves tensor outputs", code: "unsupported_model")
            }
        }
        let ordered = plan.sorted { $0.score > $1.score }
        guard let main = ordered.first, main.score >= 100 else {
            throw .unprocessable("the model has no numeric output to serve", code: "unsupported_model")
        }
        outputCount = main.width
        outputPlan = ordered.map { ($0.name, $0.width, $0.flatten) }
        signature = ModelSignature(
            inputs: [TensorSpec(name: input.name, datatype: type.datatype, shape: [-1, features])],
            outputs: ordered.map(\.spec))
    }

    public func predict(
        _ input: UnsafeBufferPointer<Float>, rows: Int, features: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(SlipwayError) {
        try validateBatch(inputCount: input.count, outputCapacity: output.count, rows: rows, features: features)
        guard rows > 0 else { return }
        let results = try Self.run(model, input: Array(input), rows: rows, name: inputName, type: inputType)
        let main = outputPlan[0]
        let values = try Self.rowValues(results[main.name], name: main.name, rows: rows, width: main.width)
        for index in 0..<values.count { output[index] = values[index] }
    }

    /// Every output of the model for a batch, the main one first, as OIP v2 outputs.
    public func predictOutputs(_ input: [Float], rows: Int) throws(SlipwayError) -> [PredictionOutput] {
        try validateBatch(inputCount: input.count, outputCapacity: rows * outputCount, rows: rows, features: featureCount)
        let results = try Self.run(model, input: input, rows: rows, name: inputName, type: inputType)
        return try zip(outputPlan, signature.outputs).map { (entry, spec) throws(SlipwayError) in
            let shape = spec.shape.count == 1 ? [rows] : [rows, entry.width]
            if case .tensor(let tensor)? = results[entry.name], tensor.elementType == .string {
                guard case .string(let strings) = tensor.storage else { return PredictionOutput(name: entry.name, shape: shape, data: .strings([])) }
                return PredictionOutput(name: entry.name, shape: shape, data: .strings(strings))
            }
            if case .tensor(let tensor)? = results[entry.name], tensor.elementType == .int64 || tensor.elementType == .int32 {
                return PredictionOutput(name: entry.name, shape: shape, data: .int64s(tensor.int64Values ?? []))
            }
            let values = try Self.rowValues(results[entry.name], name: entry.name, rows: rows, width: entry.width)
            return PredictionOutput(name: entry.name, shape: shape, data: .floats(values))
        }
    }

    private static func run(
        _ model: ONNXModel, input: [Float], rows: Int, name: String, type: ONNXElementType
    ) throws(SlipwayError) -> [String: ONNXValue] {
        let tensor =
            type == .double
            ? ONNXTensor(shape: [rows, input.count / max(rows, 1)], doubles: input.map(Double.init))
            : ONNXTensor(shape: [rows, input.count / max(rows, 1)], floats: input)
        return try model.run([name: .tensor(tensor)])
    }

    /// An output as `rows × width` floats: a numeric tensor, or a ZipMap sequence of one map per row.
    private static func rowValues(
        _ value: ONNXValue?, name: String, rows: Int, width: Int
    ) throws(SlipwayError) -> [Float] {
        func mismatch() -> SlipwayError {
            .internal("output '\(name)' does not have \(rows) rows of \(width) values")
        }
        switch value {
        case .tensor(let tensor)?:
            guard let values = tensor.floatValues, values.count == rows * width else { throw mismatch() }
            return values
        case .sequence(let maps)?:
            guard maps.count == rows else { throw mismatch() }
            var values: [Float] = []
            values.reserveCapacity(rows * width)
            for map in maps {
                guard case .map(_, let mapValues) = map, let row = mapValues.floatValues, row.count == width else {
                    throw mismatch()
                }
                values += row
            }
            return values
        default:
            throw mismatch()
        }
    }
}
