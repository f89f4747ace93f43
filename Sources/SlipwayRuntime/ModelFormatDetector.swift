import SlipwayCore

/// Recognises a model artifact's format from its first bytes, and refuses formats that can execute
/// code when loaded (pickle, joblib, PyTorch zip archives).
///
/// This is the registry's gate at upload; full parsing and operator checks belong to each format's
/// loader.
public enum ModelFormatDetector {
    /// How many leading bytes ``detect(prefix:declared:)`` wants to see.
    public static let prefixLength = 4096

    /// Returns the artifact's format.
    /// - Parameters:
    ///   - prefix: the artifact's first bytes (up to ``prefixLength``).
    ///   - declared: the format the client says it is, if any; it must agree with the content.
    /// - Throws: ``SlipwayError`` (422) naming the refused or unrecognised format.
    public static func detect(prefix: [UInt8], declared: ModelFormat?) throws(SlipwayError) -> ModelFormat {
        if let refused = refusedFormat(prefix) {
            throw .unprocessable(
                "this artifact looks like \(refused), which can run code when loaded and is never accepted; "
                    + "export the model to ONNX, XGBoost JSON (save_model(\"model.json\")) or LightGBM text (save_model(\"model.txt\"))",
                code: "unsafe_model_format")
        }
        guard let detected = recognisedFormat(prefix) else {
            throw .unprocessable(
                "unrecognised model format: supported are "
                    + ModelFormat.allCases.map(\.rawValue).joined(separator: ", "),
                code: "unknown_model_format")
        }
        if let declared, declared != detected {
            throw .unprocessable(
                "the artifact's content is \(detected.rawValue), but the version declares \(declared.rawValue)",
                code: "format_mismatch")
        }
        return detected
    }

    static func refusedFormat(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2 else { return nil }
        if bytes[0] == 0x80, (2...5).contains(bytes[1]) { return "a Python pickle" }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return "a zip archive (PyTorch .pt/.pth or similar)" }
        if bytes[0] == 0x78, [0x01, 0x5E, 0x9C, 0xDA].contains(bytes[1]) { return "a zlib-compressed joblib pickle" }
        if bytes.starts(with: [0x1F, 0x8B]) { return "a gzip-compressed file (often a joblib pickle)" }
        if bytes.starts(with: [0x93] + Array("NUMPY".utf8)) { return "a NumPy array file" }
        return nil
    }

    static func recognisedFormat(_ bytes: [UInt8]) -> ModelFormat? {
        let text = String(decoding: bytes.prefix(prefixLength), as: UTF8.self)
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if trimmed.hasPrefix("{") {
            if trimmed.contains("\"slipway_format_version\"") { return .slipway }
            if trimmed.contains("\"learner\"") { return .xgboostJSON }
            return nil
        }
        if text.hasPrefix("tree\n") || text.hasPrefix("tree\r\n"), text.contains("version=") { return .lightgbmText }
        if looksLikeONNX(bytes) { return .onnx }
        return nil
    }

    /// An ONNX ModelProto starts with a protobuf field key; exporters write `ir_version` (field 1,
    /// varint) first. This is a sniff, not a parse: the ONNX loader validates the whole graph.
    static func looksLikeONNX(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2 else { return false }
        // Field 1 (ir_version) as a varint, with a plausible IR version 1...12.
        return bytes[0] == 0x08 && (1...12).contains(bytes[1])
    }
}
