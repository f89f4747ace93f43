import SlipwayCore

extension ONNXOperators {
    /// ai.onnx.ml preprocessing and linear models: Scaler, Normalizer, Imputer, Binarizer, OneHotEncoder,
    /// LabelEncoder, ArrayFeatureExtractor, ZipMap, CastMap, LinearClassifier, LinearRegressor.
    static let mlKernels: [String: ONNXKernelFactory] = [:]
}
