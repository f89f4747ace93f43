import SlipwayCore

extension ONNXOperators {
    /// Elementwise arithmetic, comparisons, logic, activations, reductions, Gemm and MatMul.
    static let mathKernels: [String: ONNXKernelFactory] = [:]
}
