import SlipwayCore
import Testing

@testable import SlipwayRuntime

/// Slipway's predictions against XGBoost's and LightGBM's own, on the committed fixtures.
@Suite("Predictions agree with the reference libraries")
struct PredictorAgreementTests {
    static let xgboostFixtures = ["xgb_binary", "xgb_regression", "xgb_multiclass", "xgb_tiny"]
    static let lightgbmFixtures = ["lgb_binary", "lgb_regression", "lgb_multiclass", "lgb_categorical", "lgb_tiny"]

    @Test("XGBoost JSON models", arguments: xgboostFixtures)
    func xgboost(fixture: String) throws {
        let expected = try Fixtures.expected(fixture)
        let predictor = try XGBoostPredictor(artifact: Fixtures.bytes(expected.model))
        try check(predictor, against: expected)
    }

    @Test("LightGBM text models", arguments: lightgbmFixtures)
    func lightgbm(fixture: String) throws {
        let expected = try Fixtures.expected(fixture)
        let predictor = try LightGBMPredictor(artifact: Fixtures.bytes(expected.model))
        try check(predictor, against: expected)
    }

    @Test("a batch predicts the same as its rows one at a time")
    func batchMatchesSingleRows() throws {
        let expected = try Fixtures.expected("lgb_multiclass")
        let predictor = try LightGBMPredictor(artifact: Fixtures.bytes(expected.model))
        let batch = try predictor.predict(expected.input, rows: expected.rows.count)
        for (index, row) in expected.rows.enumerated() {
            let single = try predictor.predict(row.map { $0 ?? .nan }, rows: 1)
            #expect(single[...] == batch[(index * 3)..<(index * 3 + 3)])
        }
    }

    @Test(
        "batches across the 64-row block edge predict bit for bit what single rows do",
        arguments: [
            "xgb_binary", "xgb_multiclass", "lgb_binary", "lgb_multiclass", "lgb_categorical", "lgb_regression",
        ])
    func blockedBatchesMatchSingleRows(fixture: String) throws {
        let expected = try Fixtures.expected(fixture)
        let bytes = try Fixtures.bytes(expected.model)
        let predictor: any Predictor =
            expected.model.hasSuffix(".json")
            ? try XGBoostPredictor(artifact: bytes) : try LightGBMPredictor(artifact: bytes)
        let rows = (0..<130).map { expected.rows[$0 % expected.rows.count] }
        let batch = try predictor.predict(rows.flatMap { $0.map { $0 ?? .nan } }, rows: rows.count)
        let width = predictor.outputCount
        for (index, row) in rows.enumerated() {
            let single = try predictor.predict(row.map { $0 ?? .nan }, rows: 1)
            let slice = Array(batch[(index * width)..<((index + 1) * width)])
            #expect(single.map(\.bitPattern) == slice.map(\.bitPattern), "row \(index)")
        }
    }

    @Test("signatures describe the input and output shapes")
    func signatures() throws {
        let binary = try XGBoostPredictor(artifact: Fixtures.bytes("xgb_binary.json"))
        #expect(binary.signature.inputs == [TensorSpec(name: "input", datatype: .fp32, shape: [-1, 8])])
        #expect(binary.signature.outputs == [TensorSpec(name: "probabilities", datatype: .fp32, shape: [-1, 1])])
        let multiclass = try LightGBMPredictor(artifact: Fixtures.bytes("lgb_multiclass.txt"))
        #expect(multiclass.signature.outputs == [TensorSpec(name: "probabilities", datatype: .fp32, shape: [-1, 3])])
        let regression = try LightGBMPredictor(artifact: Fixtures.bytes("lgb_regression.txt"))
        #expect(regression.signature.outputs == [TensorSpec(name: "predictions", datatype: .fp32, shape: [-1, 1])])
        try binary.signature.validate()
    }

    @Test("a batch whose shape does not match the model is a 400")
    func shapeMismatch() throws {
        let predictor = try XGBoostPredictor(artifact: Fixtures.bytes("xgb_tiny.json"))
        #expect(throws: SlipwayError.self) { try predictor.predict([Float](repeating: 0, count: 7), rows: 1) }
        var output = [Float](repeating: 0, count: 1)
        let input = [Float](repeating: 0, count: 16)
        let error = #expect(throws: SlipwayError.self) {
            try input.withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer { output in
                    try predictor.predict(input, rows: 2, features: 8, into: output)
                }
            }
        }
        #expect(error?.kind == .badRequest)
        #expect(try predictor.predict([], rows: 0).isEmpty)
    }

    /// Within 1e-5 relative, or 1e-6 absolute near zero.
    private func check(_ predictor: some Predictor, against expected: Fixtures.Expected) throws {
        #expect(predictor.featureCount == expected.features)
        #expect(predictor.outputCount == expected.outputs)
        let rows = expected.rows.count
        let output = try predictor.predict(expected.input, rows: rows)
        var worst = 0.0
        for row in 0..<rows {
            for k in 0..<expected.outputs {
                let got = Double(output[row * expected.outputs + k])
                let want = expected.expected[row][k]
                let error = abs(got - want)
                worst = max(worst, error / max(abs(want), 1e-6 / 1e-5))
                #expect(
                    error <= max(1e-5 * abs(want), 1e-6),
                    "\(expected.model) row \(row) output \(k): got \(got), \(expected.library) gives \(want)")
            }
        }
        print("\(expected.model): worst relative error \(worst) over \(rows) rows")
    }
}
