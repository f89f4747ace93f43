import Foundation
import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayRuntime

/// Malformed, truncated and hostile model files are refused with a ``SlipwayError``, never a crash.
@Suite("Hostile model files")
struct HostileModelTests {
    // MARK: Fuzz

    /// Seeded mutations of the tiny fixtures: each either loads (and then predicts without trapping) or
    /// throws. A crash fails the whole run.
    @Test("mutated model bytes load or throw, never crash", arguments: ["xgb_tiny.json", "lgb_tiny.txt"])
    func mutations(fixture: String) throws {
        let original = try Fixtures.bytes(fixture)
        let load: ([UInt8]) throws(SlipwayError) -> any Predictor =
            fixture.hasSuffix(".json")
            ? { bytes throws(SlipwayError) in try XGBoostPredictor(artifact: bytes) }
            : { bytes throws(SlipwayError) in try LightGBMPredictor(artifact: bytes) }
        var random = SplitMix64(seed: 20_261_125)
        var loaded = 0
        var refused = 0
        for _ in 0..<300 {
            let mutant = Self.mutate(original, using: &random)
            do {
                let predictor = try load(mutant)
                loaded += 1
                try Self.predictOddRows(with: predictor)
            } catch {
                refused += 1
                #expect(!error.message.isEmpty)
            }
        }
        print("\(fixture): \(loaded) mutants loaded and predicted, \(refused) refused")
        // Both outcomes must actually occur, or the mutations are not exercising the validation.
        #expect(loaded > 0)
        #expect(refused > 0)
    }

    /// One random edit: truncation, a changed byte, a changed digit (which keeps the file parseable
    /// but moves indices and thresholds), a deleted range, or a duplicated range.
    static func mutate(_ bytes: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        let position = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<5, using: &random) {
        case 0:
            bytes.removeSubrange(position...)
        case 1:
            bytes[position] = UInt8.random(in: 0...255, using: &random)
        case 2:
            let digits = bytes.indices.filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }
            if let target = digits.randomElement(using: &random) {
                bytes[target] = Array("0123456789-9".utf8).randomElement(using: &random)!
            }
        case 3:
            bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...64, using: &random)))
        default:
            let end = min(bytes.count, position + Int.random(in: 1...64, using: &random))
            bytes.insert(contentsOf: bytes[position..<end], at: position)
        }
        return bytes
    }

    /// Predicts rows of NaNs, infinities, extremes and negative zero with a loaded model.
    static func predictOddRows(with predictor: any Predictor) throws(SlipwayError) {
        let features = predictor.featureCount
        let values: [Float] = [.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -0.0, 1e-40, -1e9, 3e9, 0.5]
        let input = (0..<(values.count * features)).map { values[($0 / features + $0) % values.count] }
        let output = try predictor.predict(input, rows: values.count)
        #expect(output.count == values.count * predictor.outputCount)
    }

    @Test("the fixture models also survive odd input values")
    func oddRows() throws {
        for name in ["xgb_multiclass.json", "xgb_binary.json"] {
            try Self.predictOddRows(with: XGBoostPredictor(artifact: Fixtures.bytes(name)))
        }
        for name in ["lgb_categorical.txt", "lgb_regression.txt", "lgb_multiclass.txt"] {
            try Self.predictOddRows(with: LightGBMPredictor(artifact: Fixtures.bytes(name)))
        }
    }

    // MARK: XGBoost

    /// Rewrites the tiny XGBoost fixture's JSON, then loads it, expecting a refusal mentioning `message`.
    private func expectXGBoostRefusal(
        containing message: String, code: String = "invalid_model",
        _ edit: (inout [String: Any]) -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var json = try #require(
            try JSONSerialization.jsonObject(with: Data(Fixtures.bytes("xgb_tiny.json"))) as? [String: Any])
        edit(&json)
        let bytes = Array(try JSONSerialization.data(withJSONObject: json))
        let error = #expect(throws: SlipwayError.self, sourceLocation: sourceLocation) {
            try XGBoostPredictor(artifact: bytes)
        }
        #expect(error?.kind == .unprocessable, sourceLocation: sourceLocation)
        #expect(error?.code == code, sourceLocation: sourceLocation)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
    }

    /// Applies `edit` to the first tree of an XGBoost model document.
    private static func editFirstTree(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var learner = json["learner"] as! [String: Any]
        var booster = learner["gradient_booster"] as! [String: Any]
        var model = booster["model"] as! [String: Any]
        var trees = model["trees"] as! [[String: Any]]
        edit(&trees[0])
        model["trees"] = trees
        booster["model"] = model
        learner["gradient_booster"] = booster
        json["learner"] = learner
    }

    @Test("XGBoost: an unsupported objective is named, with the supported list")
    func xgboostObjective() throws {
        try expectXGBoostRefusal(containing: "'reg:gamma' is not supported", code: "unsupported_model") { json in
            var learner = json["learner"] as! [String: Any]
            learner["objective"] = ["name": "reg:gamma"]
            json["learner"] = learner
        }
    }

    @Test("XGBoost: cycles, out-of-range children and features are refused")
    func xgboostStructure() throws {
        try expectXGBoostRefusal(containing: "has two parents") { json in
            Self.editFirstTree(&json) { tree in tree["left_children"] = [1, 1, 5, -1, -1, -1, -1] }
        }
        try expectXGBoostRefusal(containing: "outside the tree's 7 nodes") { json in
            Self.editFirstTree(&json) { tree in tree["right_children"] = [2, 4, 70_000, -1, -1, -1, -1] }
        }
        try expectXGBoostRefusal(containing: "outside the tree's 7 nodes") { json in
            Self.editFirstTree(&json) { tree in tree["left_children"] = [0, 3, 5, -1, -1, -1, -1] }
        }
        try expectXGBoostRefusal(containing: "feature index 8 is outside") { json in
            Self.editFirstTree(&json) { tree in tree["split_indices"] = [8, 2, 2, 0, 0, 0, 0] }
        }
        try expectXGBoostRefusal(containing: "one entry per node") { json in
            Self.editFirstTree(&json) { tree in tree["default_left"] = [0, 1] }
        }
    }

    @Test("XGBoost: categorical splits are refused as unsupported")
    func xgboostCategorical() throws {
        try expectXGBoostRefusal(containing: "categorical splits", code: "unsupported_model") { json in
            Self.editFirstTree(&json) { tree in tree["split_type"] = [1, 0, 0, 0, 0, 0, 0] }
        }
    }

    @Test("XGBoost: base_score is parsed in every form XGBoost writes")
    func xgboostBaseScore() throws {
        #expect(try XGBoostPredictor.parseBaseScore("5E-1", groups: 1) == [0.5])
        #expect(try XGBoostPredictor.parseBaseScore("[5E-1]", groups: 3) == [0.5, 0.5, 0.5])
        #expect(try XGBoostPredictor.parseBaseScore("[1E0,2E0,-3E-1]", groups: 3) == [1, 2, -0.3])
        #expect(throws: SlipwayError.self) { try XGBoostPredictor.parseBaseScore("[1E0,2E0]", groups: 3) }
        #expect(throws: SlipwayError.self) { try XGBoostPredictor.parseBaseScore("nan", groups: 1) }
        try expectXGBoostRefusal(containing: "probability in (0, 1)") { json in
            var learner = json["learner"] as! [String: Any]
            var param = learner["learner_model_param"] as! [String: Any]
            param["base_score"] = "[1E0]"
            learner["learner_model_param"] = param
            json["learner"] = learner
        }
    }

    @Test("XGBoost: non-JSON, deeply nested and schema-breaking documents are refused")
    func xgboostGarbage() {
        for text in ["", "{", "not json", String(repeating: "[", count: 100_000), #"{"learner":{}}"#] {
            let error = #expect(throws: SlipwayError.self) { try XGBoostPredictor(artifact: Array(text.utf8)) }
            #expect(error?.code == "invalid_model")
        }
        let missing = #expect(throws: SlipwayError.self) {
            try XGBoostPredictor(artifact: Array(#"{"learner":{"objective":{"name":"binary:logistic"}}}"#.utf8))
        }
        #expect(missing?.message.contains("learner.learner_model_param is missing") == true, "\(missing!.message)")
    }

    // MARK: LightGBM

    private func expectLightGBMRefusal(
        containing message: String, code: String = "invalid_model", _ edit: (String) -> String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let text = String(decoding: try Fixtures.bytes("lgb_tiny.txt"), as: UTF8.self)
        let edited = edit(text)
        #expect(edited != text, "the edit did not apply", sourceLocation: sourceLocation)
        let error = #expect(throws: SlipwayError.self, sourceLocation: sourceLocation) {
            try LightGBMPredictor(artifact: Array(edited.utf8))
        }
        #expect(error?.code == code, sourceLocation: sourceLocation)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
    }

    @Test("LightGBM: an unsupported objective is named, with the supported list")
    func lightgbmObjective() throws {
        try expectLightGBMRefusal(containing: "'lambdarank' is not supported", code: "unsupported_model") {
            $0.replacingOccurrences(of: "objective=binary sigmoid:1", with: "objective=lambdarank")
        }
        try expectLightGBMRefusal(containing: "linear tree", code: "unsupported_model") {
            $0.replacingOccurrences(of: "is_linear=0", with: "is_linear=1")
        }
    }

    @Test("LightGBM: truncated files and bad children, features and category sets are refused")
    func lightgbmStructure() throws {
        let text = String(decoding: try Fixtures.bytes("lgb_tiny.txt"), as: UTF8.self)
        // Cut inside the last tree: what is left still parses line by line.
        let truncated = String(try #require(text.components(separatedBy: "shrinkage=0.5").first))
        let error = #expect(throws: SlipwayError.self) { try LightGBMPredictor(artifact: Array(truncated.utf8)) }
        #expect(error?.message.contains("truncated") == true)

        try expectLightGBMRefusal(containing: "has two parents") {
            $0.replacingOccurrences(of: "left_child=1 -1\n", with: "left_child=1 1\n")
        }
        try expectLightGBMRefusal(containing: "outside the tree's") {
            $0.replacingOccurrences(of: "right_child=-2 -3\n", with: "right_child=-2 -9\n")
        }
        try expectLightGBMRefusal(containing: "feature index 99 is outside") {
            $0.replacingOccurrences(of: "split_feature=1 2\n", with: "split_feature=1 99\n")
        }
        try expectLightGBMRefusal(containing: "'leaf_value' has 2 values, expected 3") {
            $0.replacingOccurrences(of: "leaf_value=0.26928486805941249 ", with: "leaf_value=")
        }
        try expectLightGBMRefusal(containing: "not one of the tree's 0 category sets") {
            $0.replacingOccurrences(of: "decision_type=8 8\n", with: "decision_type=9 8\n")
        }
    }

    @Test("LightGBM: a tree deeper than the limit is refused")
    func lightgbmDepth() {
        let leaves = TreeEnsemble.maxDepth + 10
        let splits = leaves - 1
        let text = """
            tree
            version=v4
            num_class=1
            num_tree_per_iteration=1
            max_feature_idx=0
            objective=regression

            Tree=0
            num_leaves=\(leaves)
            split_feature=\(repeatElement("0", count: splits).joined(separator: " "))
            threshold=\(repeatElement("0.5", count: splits).joined(separator: " "))
            decision_type=\(repeatElement("8", count: splits).joined(separator: " "))
            left_child=\((0..<splits).map { $0 + 1 < splits ? "\($0 + 1)" : "-\(splits + 1)" }.joined(separator: " "))
            right_child=\((0..<splits).map { "-\($0 + 1)" }.joined(separator: " "))
            leaf_value=\(repeatElement("1", count: leaves).joined(separator: " "))

            end of trees
            """
        let error = #expect(throws: SlipwayError.self) { try LightGBMPredictor(artifact: Array(text.utf8)) }
        #expect(error?.message.contains("deeper than \(TreeEnsemble.maxDepth)") == true, "\(error?.message ?? "")")
    }

    @Test("LightGBM: thresholds become exact float thresholds")
    func thresholds() {
        #expect(LightGBMPredictor.floatAtOrBelow(0.1) <= 0.1)
        #expect(Double(LightGBMPredictor.floatAtOrBelow(0.1).nextUp) > 0.1)
        #expect(LightGBMPredictor.floatAtOrBelow(1e300) == .greatestFiniteMagnitude)
        #expect(LightGBMPredictor.floatAtOrBelow(-1e300) == -.infinity)
        #expect(LightGBMPredictor.floatAtOrBelow(0.5) == 0.5)
        // Inside LightGBM's zero band, values compare as 0.
        #expect(LightGBMPredictor.splitThreshold(-1e-36) == (-TreeEnsemble.zeroThreshold).nextDown)
        #expect(LightGBMPredictor.splitThreshold(0) == TreeEnsemble.zeroThreshold)
    }
}
