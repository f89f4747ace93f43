import SlipwayCore

/// Turns a model artifact into a ``Predictor`` for the formats Slipway can serve today.
public enum ModelLoader {
    /// Formats with a runtime (all of them, since ONNX landed).
    public static let servableFormats: Set<ModelFormat> = [.onnx, .xgboostJSON, .lightgbmText, .slipway]

    /// Parses and validates `artifact` as `format`.
    /// - Returns: the predictor, or nil when `format` has no runtime.
    /// - Throws: ``SlipwayError`` (422) naming what is wrong or unsupported in the file.
    public static func load(_ format: ModelFormat, artifact: [UInt8]) throws(SlipwayError) -> (any Predictor)? {
        switch format {
        case .xgboostJSON: try XGBoostPredictor(artifact: artifact)
        case .lightgbmText: try LightGBMPredictor(artifact: artifact)
        case .slipway: try SlipwayNativePredictor(artifact: artifact)
        case .onnx: try ONNXPredictor(artifact: artifact)
        }
    }

    /// Detects the format of `artifact` (refusing code-executing formats) and loads it.
    public static func inspect(_ artifact: [UInt8], declared: ModelFormat? = nil) throws(SlipwayError) -> (
        format: ModelFormat, predictor: (any Predictor)?
    ) {
        let format = try ModelFormatDetector.detect(
            prefix: Array(artifact.prefix(ModelFormatDetector.prefixLength)), declared: declared)
        return (format, try load(format, artifact: artifact))
    }
}
