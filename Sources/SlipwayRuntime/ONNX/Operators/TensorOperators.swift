import SlipwayCore

extension ONNXOperators {
    /// Shape and indexing operators: Reshape, Flatten, Squeeze, Unsqueeze, Concat, Gather, Slice, Shape,
    /// Transpose, Identity, Constant, Cast, Where.
    static let tensorKernels: [String: ONNXKernelFactory] = [:]
}
