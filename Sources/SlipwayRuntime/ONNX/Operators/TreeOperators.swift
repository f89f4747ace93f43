import SlipwayCore

extension ONNXOperators {
    /// ai.onnx.ml tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor and TreeEnsemble (opset 5).
    static let treeKernels: [String: ONNXKernelFactory] = [:]
}
