/// The operators Slipway's ONNX runtime implements, keyed by `domain:op_type` (`ai.onnx:Gemm`,
/// `ai.onnx.ml:TreeEnsembleClassifier`).
///
/// The kernels live in `Operators/`, one file per family; each family contributes its table here.
enum ONNXOperatorSet {
    /// The domain name used in keys and messages for ONNX's default domain (`""` in files).
    static let defaultDomain = "ai.onnx"
    static let mlDomain = "ai.onnx.ml"

    /// Opset versions Slipway accepts per domain. ai.onnx 9–21 is what the kernels are tested against
    /// (the ONNX node tests); 7 and 8 are accepted too, since converters still write them (onnxmltools'
    /// LightGBM models import opset 8) and the operators Slipway implements behave the same there.
    static let supportedOpsets: [String: ClosedRange<Int>] = [defaultDomain: 7...21, mlDomain: 1...5]

    static let kernels: [String: ONNXKernelFactory] = {
        var table: [String: ONNXKernelFactory] = [:]
        let families: [[String: ONNXKernelFactory]] = [
            ONNXOperators.tensorKernels, ONNXOperators.mathKernels, ONNXOperators.mlKernels,
            ONNXOperators.treeKernels,
        ]
        for family in families {
            table.merge(family) { first, _ in first }
        }
        return table
    }()

    /// The key for a node's operator.
    static func key(domain: String, opType: String) -> String {
        "\(domain.isEmpty || domain == "ai.onnx" ? defaultDomain : domain):\(opType)"
    }

    /// Every supported operator, sorted, for documentation and `slipway models inspect`.
    static var supportedOperators: [String] { kernels.keys.sorted() }
}

/// Namespace for the kernel tables (`ONNXOperators.mathKernels`, …), one per file in `Operators/`.
enum ONNXOperators {}
