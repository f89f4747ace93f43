import SlipwayCore
import Testing

@testable import SlipwayRuntime

@Suite("Model format detection")
struct ModelFormatDetectorTests {
    let xgboost = Array(#"{"learner":{"attributes":{}},"version":[2,1,0]}"#.utf8)
    let lightgbm = Array("tree\nversion=v4\nnum_class=1\n".utf8)
    let onnx: [UInt8] = [0x08, 0x08, 0x12, 0x07] + Array("pytorch".utf8)
    let native = Array(#"{"slipway_format_version": 1, "kind": "linear"}"#.utf8)

    @Test("recognises each supported format from its first bytes")
    func recognises() throws {
        #expect(try ModelFormatDetector.detect(prefix: xgboost, declared: nil) == .xgboostJSON)
        #expect(try ModelFormatDetector.detect(prefix: lightgbm, declared: nil) == .lightgbmText)
        #expect(try ModelFormatDetector.detect(prefix: onnx, declared: nil) == .onnx)
        #expect(try ModelFormatDetector.detect(prefix: native, declared: .slipway) == .slipway)
    }

    @Test(
        "refuses formats that can execute code when loaded",
        arguments: [
            [0x80, 0x04, 0x95, 0x00],  // pickle protocol 4
            [0x80, 0x02, 0x63, 0x5F],  // pickle protocol 2
            [0x50, 0x4B, 0x03, 0x04],  // zip: torch.save
            [0x78, 0x9C, 0x00, 0x00],  // zlib: joblib compressed
            [0x1F, 0x8B, 0x08, 0x00],  // gzip
        ] as [[UInt8]])
    func refusesUnsafe(prefix: [UInt8]) {
        #expect(throws: SlipwayError.self) {
            try ModelFormatDetector.detect(prefix: prefix, declared: nil)
        }
        do {
            _ = try ModelFormatDetector.detect(prefix: prefix, declared: .onnx)
        } catch {
            #expect(error.code == "unsafe_model_format")
        }
    }

    @Test("a declared format must agree with the content")
    func declaredMismatch() {
        #expect {
            try ModelFormatDetector.detect(prefix: xgboost, declared: .onnx)
        } throws: { error in
            (error as? SlipwayError)?.code == "format_mismatch"
        }
    }

    @Test("unknown content is refused with the list of supported formats")
    func unknown() {
        #expect {
            try ModelFormatDetector.detect(prefix: Array("hello,world\n1,2\n".utf8), declared: nil)
        } throws: { error in
            guard let error = error as? SlipwayError else { return false }
            return error.code == "unknown_model_format" && error.message.contains("xgboost_json")
        }
        #expect(throws: SlipwayError.self) { try ModelFormatDetector.detect(prefix: [], declared: nil) }
    }
}
