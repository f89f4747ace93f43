import Foundation
import SlipwayCore
import Testing

@testable import SlipwayRuntime

/// Behaviour of the ai.onnx.ml kernels on the cases where onnxruntime's results are easy to get wrong.
/// Expected values were produced with onnxruntime 1.32 on the same attributes and inputs.
@Suite("ai.onnx.ml operators")
struct ONNXMLOperatorTests {
    // MARK: Tree ensembles: regression

    /// Two trees, two targets: tree 0 splits x0 <= 0.5 into 1.5 / -2.0 (target 0); tree 1 splits x1 < 0.25
    /// into 0.75 (target 0) / 3.0 (target 1).
    static func twoTreeRegressor(
        targets: Int = 2, aggregate: String = "SUM", post: String = "NONE", base: [Float]? = nil
    ) throws(SlipwayError) -> any ONNXKernel {
        var attributes: [Onnx_AttributeProto] = [
            .ints("nodes_treeids", [0, 0, 0, 1, 1, 1]), .ints("nodes_nodeids", [0, 1, 2, 0, 1, 2]),
            .ints("nodes_featureids", [0, 0, 0, 1, 0, 0]), .floats("nodes_values", [0.5, 0, 0, 0.25, 0, 0]),
            .strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"]),
            .ints("nodes_truenodeids", [1, 0, 0, 1, 0, 0]), .ints("nodes_falsenodeids", [2, 0, 0, 2, 0, 0]),
            .ints("target_treeids", [0, 0, 1, 1]), .ints("target_nodeids", [1, 2, 1, 2]),
            .ints("target_ids", [0, 0, 0, targets > 1 ? 1 : 0]), .floats("target_weights", [1.5, -2.0, 0.75, 3.0]),
            .int("n_targets", Int64(targets)), .string("aggregate_function", aggregate),
            .string("post_transform", post),
        ]
        if let base { attributes.append(.floats("base_values", base)) }
        return try kernel("TreeEnsembleRegressor", attributes)
    }

    static let regressorRows = ONNXValue.tensor(ONNXTensor(shape: [3, 2], floats: [0, 0, 1, 1, .nan, 0.1]))

    @Test func regressorAggregatesAndBaseValues() throws {
        func scores(_ kernel: any ONNXKernel) throws -> [Float] { try floats(kernel.run([Self.regressorRows])[0]) }
        // A target no leaf reached reads 0, whatever its base value.
        expectClose(try scores(Self.twoTreeRegressor()), [2.25, 0, -2, 3, -1.25, 0])
        expectClose(try scores(Self.twoTreeRegressor(base: [0.5, -1])), [2.75, 0, -1.5, 2, -0.75, 0])
        expectClose(
            try scores(Self.twoTreeRegressor(aggregate: "AVERAGE", base: [0.5, -1])), [1.625, 0, -0.5, 0.5, -0.125, 0])
        expectClose(try scores(Self.twoTreeRegressor(aggregate: "MIN", base: [0.5, -1])), [1.25, 0, -1.5, 2, -1.5, 0])
        expectClose(try scores(Self.twoTreeRegressor(aggregate: "MAX", base: [0.5, -1])), [2, 0, -1.5, 2, 1.25, 0])
        // One target: the base value applies to every row.
        expectClose(try scores(Self.twoTreeRegressor(targets: 1, base: [0.5])), [2.75, 1.5, -0.75])
        expectClose(try scores(Self.twoTreeRegressor(targets: 1, aggregate: "MIN", base: [0.5])), [1.25, -1.5, -1.5])
        expectClose(try scores(Self.twoTreeRegressor(targets: 1, aggregate: "MAX")), [1.5, 3, 0.75])
    }

    @Test func regressorPostTransforms() throws {
        func scores(_ post: String, targets: Int = 2) throws -> [Float] {
            try floats(Self.twoTreeRegressor(targets: targets, post: post).run([Self.regressorRows])[0])
        }
        expectClose(try scores("LOGISTIC"), [0.9046505, 0.5, 0.11920297, 0.95257413, 0.22270012, 0.5])
        expectClose(try scores("SOFTMAX"), [0.9046505, 0.09534946, 0.00669285, 0.9933072, 0.22270015, 0.7772999])
        // SOFTMAX_ZERO leaves zero scores at zero instead of exp(0).
        expectClose(try scores("SOFTMAX_ZERO"), [1, 0, 0.00669285, 0.9933072, 1, 0])
        expectClose(try scores("PROBIT"), [.nan, -.infinity, .nan, .nan, .nan, -.infinity])
        // With one target onnxruntime applies only PROBIT.
        expectClose(try scores("LOGISTIC", targets: 1), [2.25, 1, -1.25])
        expectClose(try scores("SOFTMAX", targets: 1), [2.25, 1, -1.25])
        expectClose(try scores("PROBIT", targets: 1), [.nan, .infinity, .nan])
    }

    @Test func probitMatchesOnnxruntimeApproximation() {
        expectClose(
            [ONNXPostTransform.probit(0.3), ONNXPostTransform.probit(0.4), ONNXPostTransform.probit(0.8)],
            [-0.5244459, -0.2533535, 0.8417561])
    }

    @Test func everyComparisonModeAndNaN() throws {
        // Six trees, one per mode, each comparing x0 with 1.0 and scoring 1 on its true branch.
        let modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
        var treeIds: [Int64] = []
        var nodeIds: [Int64] = []
        var names: [String] = []
        var values: [Float] = []
        var trueIds: [Int64] = []
        var falseIds: [Int64] = []
        var wTrees: [Int64] = []
        var wNodes: [Int64] = []
        var wIds: [Int64] = []
        var weights: [Float] = []
        for (t, mode) in modes.enumerated() {
            treeIds += [Int64(t), Int64(t), Int64(t)]
            nodeIds += [0, 1, 2]
            names += [mode, "LEAF", "LEAF"]
            values += [1, 0, 0]
            trueIds += [1, 0, 0]
            falseIds += [2, 0, 0]
            wTrees += [Int64(t), Int64(t)]
            wNodes += [1, 2]
            wIds += [Int64(t), Int64(t)]
            weights += [1, 0]
        }
        let regressor = try kernel(
            "TreeEnsembleRegressor",
            [
                .ints("nodes_treeids", treeIds), .ints("nodes_nodeids", nodeIds),
                .ints("nodes_featureids", [Int64](repeating: 0, count: 18)),
                .floats("nodes_values", values), .strings("nodes_modes", names), .ints("nodes_truenodeids", trueIds),
                .ints("nodes_falsenodeids", falseIds), .ints("target_treeids", wTrees), .ints("target_nodeids", wNodes),
                .ints("target_ids", wIds), .floats("target_weights", weights), .int("n_targets", 6),
            ])
        let output = try regressor.run([.tensor(ONNXTensor(shape: [4, 1], floats: [1, 0, 2, .nan]))])
        // NaN fails every comparison except !=, as in C++ (and onnxruntime).
        #expect(try floats(output[0]) == [1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    }

    @Test func missingValuesTrackTrue() throws {
        func split(tracks: Int64, mode: String) throws -> [Float] {
            let regressor = try kernel(
                "TreeEnsembleRegressor",
                [
                    .ints("nodes_treeids", [0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2]),
                    .ints("nodes_featureids", [0, 0, 0]),
                    .floats("nodes_values", [0.5, 0, 0]), .strings("nodes_modes", [mode, "LEAF", "LEAF"]),
                    .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_falsenodeids", [2, 0, 0]),
                    .ints("nodes_missing_value_tracks_true", [tracks, 0, 0]), .ints("target_treeids", [0, 0]),
                    .ints("target_nodeids", [1, 2]), .ints("target_ids", [0, 0]), .floats("target_weights", [10, 20]),
                    .int("n_targets", 1),
                ])
            return try floats(regressor.run([.tensor(ONNXTensor(shape: [3, 1], floats: [.nan, 0, 1]))])[0])
        }
        #expect(try split(tracks: 1, mode: "BRANCH_LEQ") == [10, 10, 20])
        #expect(try split(tracks: 0, mode: "BRANCH_LEQ") == [20, 10, 20])
        #expect(try split(tracks: 1, mode: "BRANCH_LT") == [10, 10, 20])
        #expect(try split(tracks: 1, mode: "BRANCH_GT") == [10, 20, 10])
    }

    @Test func doubleThresholdsCompareInDouble() throws {
        // 0.1 as a double threshold: a double input just above it goes right, which a float
        // threshold (0.1f > 0.1) would not.
        var thresholds = Onnx_TensorProto()
        thresholds.dataType = 11
        thresholds.dims = [3]
        thresholds.doubleData = [0.1, 0, 0]
        let regressor = try kernel(
            "TreeEnsembleRegressor",
            [
                .ints("nodes_treeids", [0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2]),
                .ints("nodes_featureids", [0, 0, 0]),
                .tensor("nodes_values_as_tensor", thresholds), .strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]),
                .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_falsenodeids", [2, 0, 0]),
                .ints("target_treeids", [0, 0]), .ints("target_nodeids", [1, 2]), .ints("target_ids", [0, 0]),
                .floats("target_weights", [10, 20]), .int("n_targets", 1),
            ])
        let output = try regressor.run([.tensor(ONNXTensor(shape: [2, 1], doubles: [0.1, 0.1000000001]))])
        #expect(try floats(output[0]) == [10, 20])
    }

    // MARK: Tree ensembles: opset 5

    /// One BRANCH_MEMBER split on x0 in {1, 3}: leaf 0 (true) and leaf 1 (false).
    static func membershipEnsemble(
        targets: [Int64] = [0, 0], weights: [Float] = [10, 20], post: Int64 = 0, tracks: Int64? = nil,
        members: [Float] = [1, 3, .nan]
    ) throws(SlipwayError) -> any ONNXKernel {
        var attributes: [Onnx_AttributeProto] = [
            .int("n_targets", Int64(Set(targets).count)), .ints("nodes_featureids", [0]),
            .tensor("nodes_splits", floats: [0]),
            .tensor("nodes_modes", uint8s: [6]), .ints("nodes_truenodeids", [0]), .ints("nodes_falsenodeids", [1]),
            .ints("nodes_trueleafs", [1]), .ints("nodes_falseleafs", [1]), .ints("leaf_targetids", targets),
            .tensor("leaf_weights", floats: weights), .ints("tree_roots", [0]),
            .tensor("membership_values", floats: members), .int("post_transform", post),
        ]
        if let tracks { attributes.append(.ints("nodes_missing_value_tracks_true", [tracks])) }
        return try kernel("TreeEnsemble", opset: 5, attributes)
    }

    @Test func opset5SetMembership() throws {
        let input = ONNXValue.tensor(ONNXTensor(shape: [7, 1], floats: [1, 1.5, 0.999, 3, .nan, -1, 2]))
        #expect(try floats(Self.membershipEnsemble().run([input])[0]) == [10, 20, 20, 10, 20, 20, 20])
        #expect(try floats(Self.membershipEnsemble(tracks: 1).run([input])[0]) == [10, 20, 20, 10, 10, 20, 20])
        // onnxruntime tests a set with values outside [0, 31) against the input truncated to an integer.
        let fractions = ONNXValue.tensor(ONNXTensor(shape: [5, 1], floats: [2.5, 40.5, -1.5, 3, 41]))
        #expect(
            try floats(Self.membershipEnsemble(members: [2, 3, .nan]).run([fractions])[0]) == [20, 20, 20, 10, 20])
        #expect(
            try floats(Self.membershipEnsemble(members: [2, 40, -1, .nan]).run([fractions])[0]) == [10, 10, 10, 20, 20])
        // A double input keeps the double type.
        let doubles = try Self.membershipEnsemble().run([.tensor(ONNXTensor(shape: [2, 1], doubles: [3, 4]))])
        #expect(doubles[0].tensor == ONNXTensor(shape: [2, 1], doubles: [10, 20]))
    }

    @Test func opset5PostTransformCodesFollowOnnxruntime() throws {
        // onnxruntime reads code 1 as LOGISTIC and 2 as SOFTMAX (the ONNX spec numbers them the other way).
        let input = ONNXValue.tensor(ONNXTensor(shape: [2, 1], floats: [1, 2]))
        let logistic = try Self.membershipEnsemble(targets: [0, 1], weights: [1, -1], post: 1).run([input])
        expectClose(try floats(logistic[0]), [0.7310586, 0.5, 0.5, 0.2689414])
        let softmax = try Self.membershipEnsemble(targets: [0, 1], weights: [1, -1], post: 2).run([input])
        expectClose(try floats(softmax[0]), [0.7310586, 0.26894143, 0.7310586, 0.26894143])
    }

    // MARK: Tree ensembles: classification

    /// One split x0 <= 0.5; the two leaves carry `weights` for `classIds`.
    static func binaryClassifier(
        post: String, weights: [Float], classIds: [Int64] = [0, 0], base: [Float]? = nil, labels: [Int64] = [0, 1]
    ) throws(SlipwayError) -> any ONNXKernel {
        var attributes: [Onnx_AttributeProto] = [
            .ints("nodes_treeids", [0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2]), .ints("nodes_featureids", [0, 0, 0]),
            .floats("nodes_values", [0.5, 0, 0]), .strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]),
            .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_falsenodeids", [2, 0, 0]),
            .ints("class_treeids", [0, 0]), .ints("class_nodeids", [1, 2]), .ints("class_ids", classIds),
            .floats("class_weights", weights), .ints("classlabels_int64s", labels), .string("post_transform", post),
        ]
        if let base { attributes.append(.floats("base_values", base)) }
        return try kernel("TreeEnsembleClassifier", attributes)
    }

    static let binaryRows = ONNXValue.tensor(ONNXTensor(shape: [2, 1], floats: [0, 1]))

    @Test func binaryClassifierExpandsItsSingleScore() throws {
        func run(_ kernel: any ONNXKernel) throws -> (labels: [Int64], scores: [Float]) {
            let output = try kernel.run([Self.binaryRows])
            return (try int64s(output[0]), try floats(output[1]))
        }
        // Mixed-sign weights: [-s, s], or [logistic(-s), logistic(s)]; other transforms are not applied.
        var result = try run(Self.binaryClassifier(post: "NONE", weights: [0.3, -0.2]))
        #expect(result.labels == [1, 0])
        expectClose(result.scores, [-0.3, 0.3, 0.2, -0.2])
        result = try run(Self.binaryClassifier(post: "LOGISTIC", weights: [0.3, -0.2]))
        expectClose(result.scores, [0.4255575, 0.5744425, 0.54983395, 0.45016605])
        result = try run(Self.binaryClassifier(post: "SOFTMAX", weights: [0.3, -0.2]))
        expectClose(result.scores, [-0.3, 0.3, 0.2, -0.2])
        // Non-negative weights (probabilities): [1 - s, s], labelled by s > 0.5.
        result = try run(Self.binaryClassifier(post: "NONE", weights: [0.3, 0.7]))
        #expect(result.labels == [0, 1])
        expectClose(result.scores, [0.7, 0.3, 0.3, 0.7])
        result = try run(Self.binaryClassifier(post: "LOGISTIC", weights: [0.3, 0.7]))
        expectClose(result.scores, [0.4255575, 0.5744425, 0.33181226, 0.66818774])
        // PROBIT fills only the first column; onnxruntime leaves the second unwritten.
        result = try run(Self.binaryClassifier(post: "PROBIT", weights: [0.3, 0.7]))
        expectClose([result.scores[0], result.scores[2]], [-0.5244459, 0.5244459])
        #expect(result.scores[1].isNaN && result.scores[3].isNaN)
        // The labels are the class labels, not indices.
        result = try run(Self.binaryClassifier(post: "LOGISTIC", weights: [0.3, -0.2], labels: [5, 9]))
        #expect(result.labels == [9, 5])
    }

    @Test func binaryClassifierBaseValues() throws {
        var output = try Self.binaryClassifier(post: "NONE", weights: [0.3, -0.2], base: [0.1]).run([Self.binaryRows])
        expectClose(try floats(output[1]), [-0.4, 0.4, 0.1, -0.1])
        // Two base values with all weights on class 0: class 1 never gets a score and reads 0.
        output = try Self.binaryClassifier(post: "NONE", weights: [0.3, -0.2], base: [0.1, 0.2]).run([Self.binaryRows])
        #expect(try int64s(output[0]) == [1, 0])
        expectClose(try floats(output[1]), [0.4, 0, -0.1, 0])
        output = try Self.binaryClassifier(post: "SOFTMAX", weights: [0.3, 0.7], base: [0.1, 0.2]).run([Self.binaryRows]
        )
        expectClose(try floats(output[1]), [0.59868765, 0.40131232, 0.6899745, 0.31002554])
    }

    @Test func twoClassesWithBothIdsLabelLikeOnnxruntime() throws {
        // Weights on both class ids is not onnxruntime's binary case: the label is the literal 1 or 0 by
        // the sign of class 1's score, whatever the class labels are.
        let output = try Self.binaryClassifier(post: "NONE", weights: [0.3, -0.2], classIds: [0, 1], labels: [5, 9])
            .run([Self.binaryRows])
        #expect(try int64s(output[0]) == [1, 0])
        expectClose(try floats(output[1]), [-0.3, 0.3, 0, -0.2])
    }

    @Test func multiclassArgmaxSkipsClassesWithoutScore() throws {
        func classifier(post: String, base: [Float]?) throws -> [ONNXValue] {
            var attributes: [Onnx_AttributeProto] = [
                .ints("nodes_treeids", [0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2]),
                .ints("nodes_featureids", [0, 0, 0]),
                .floats("nodes_values", [0.5, 0, 0]), .strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]),
                .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_falsenodeids", [2, 0, 0]),
                .ints("class_treeids", [0, 0, 0, 0]), .ints("class_nodeids", [1, 1, 1, 2]),
                .ints("class_ids", [0, 1, 2, 0]),
                .floats("class_weights", [1, 2, 3, -0.5]), .strings("classlabels_strings", ["a", "b", "c"]),
                .string("post_transform", post),
            ]
            if let base { attributes.append(.floats("base_values", base)) }
            return try kernel("TreeEnsembleClassifier", attributes).run([Self.binaryRows])
        }
        // Row 2 reaches a leaf that only scores class a (-0.5); b and c read 0 but have no score.
        var output = try classifier(post: "NONE", base: nil)
        #expect(output[0].tensor == ONNXTensor(shape: [2], strings: ["c", "a"]))
        expectClose(try floats(output[1]), [1, 2, 3, -0.5, 0, 0])
        output = try classifier(post: "SOFTMAX", base: nil)
        expectClose(try floats(output[1]), [0.09003057, 0.24472848, 0.66524094, 0.23269653, 0.38365173, 0.38365173])
        // Base values give every class a score.
        output = try classifier(post: "SOFTMAX", base: [0, 0.25, 0])
        #expect(output[0].tensor == ONNXTensor(shape: [2], strings: ["c", "b"]))
        expectClose(try floats(output[1]), [0.08417934, 0.29381478, 0.6220059, 0.20983182, 0.444214, 0.3459542])
    }

    @Test func classifierAcceptsIntegerAndOneDimensionalInputs() throws {
        let classifier = try Self.binaryClassifier(post: "NONE", weights: [0.3, 0.7])
        let ints = try classifier.run([.tensor(ONNXTensor(shape: [2, 1], int64s: [0, 1]))])
        #expect(try int64s(ints[0]) == [0, 1])
        let one = try classifier.run([.tensor(ONNXTensor(shape: [1], int32s: [1]))])
        #expect(one[1].tensor?.shape == [1, 2])
    }

    // MARK: Tree ensembles: hostile models

    @Test func treeCycleIsRefused() {
        let error = loadError(
            "TreeEnsembleRegressor",
            [
                .ints("nodes_treeids", [0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2]),
                .ints("nodes_featureids", [0, 0, 0]),
                .floats("nodes_values", [0, 0, 0]), .strings("nodes_modes", ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"]),
                .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_falsenodeids", [2, 2, 0]),
                .ints("target_treeids", [0]), .ints("target_nodeids", [2]), .ints("target_ids", [0]),
                .floats("target_weights", [1]), .int("n_targets", 1),
            ])
        #expect(error?.code == "invalid_model")
        #expect(error?.message.contains("cycle") == true)
        #expect(error?.message.contains("tree 0, node 1") == true)
    }

    @Test func badIndicesAreRefusedNamingTheAttribute() {
        let base: [Onnx_AttributeProto] = [
            .ints("nodes_treeids", [0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2]), .floats("nodes_values", [0, 0, 0]),
            .strings("nodes_modes", ["BRANCH_LEQ", "LEAF", "LEAF"]), .ints("nodes_falsenodeids", [2, 0, 0]),
            .ints("class_treeids", [0]), .ints("class_nodeids", [1]), .floats("class_weights", [1]),
            .ints("classlabels_int64s", [0, 1]),
        ]
        let missingChild = loadError(
            "TreeEnsembleClassifier",
            base + [
                .ints("nodes_truenodeids", [7, 0, 0]), .ints("nodes_featureids", [0, 0, 0]), .ints("class_ids", [0]),
            ])
        #expect(missingChild?.message.contains("nodes_truenodeids[0] is 7") == true)
        let negativeFeature = loadError(
            "TreeEnsembleClassifier",
            base + [
                .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_featureids", [-3, 0, 0]), .ints("class_ids", [0]),
            ])
        #expect(negativeFeature?.message.contains("nodes_featureids[0]") == true)
        let badClass = loadError(
            "TreeEnsembleClassifier",
            base + [
                .ints("nodes_truenodeids", [1, 0, 0]), .ints("nodes_featureids", [0, 0, 0]), .ints("class_ids", [2]),
            ])
        #expect(badClass?.message.contains("class_ids[0] is 2") == true)
        let badLeaf = loadError(
            "TreeEnsemble",
            [
                .int("n_targets", 1), .ints("nodes_featureids", [0]), .tensor("nodes_splits", floats: [0]),
                .tensor("nodes_modes", uint8s: [0]), .ints("nodes_truenodeids", [5]), .ints("nodes_falsenodeids", [1]),
                .ints("nodes_trueleafs", [1]), .ints("nodes_falseleafs", [1]), .ints("leaf_targetids", [0, 0]),
                .tensor("leaf_weights", floats: [1, 2]), .ints("tree_roots", [0]),
            ])
        #expect(badLeaf?.message.contains("nodes_truenodeids[0] is 5") == true)
    }

    @Test func deepTreesAreRefused() {
        // A chain deeper than the bound: node i's true child is node i + 1, its false child the last leaf.
        let depth = 9000
        let count = depth + 2
        let error = loadError(
            "TreeEnsembleRegressor",
            [
                .ints("nodes_treeids", [Int64](repeating: 0, count: count)),
                .ints("nodes_nodeids", (0..<count).map { Int64($0) }),
                .ints("nodes_featureids", [Int64](repeating: 0, count: count)),
                .floats("nodes_values", [Float](repeating: 0, count: count)),
                .strings("nodes_modes", [String](repeating: "BRANCH_LEQ", count: depth) + ["LEAF", "LEAF"]),
                .ints("nodes_truenodeids", (0..<count).map { Int64(min($0 + 1, depth)) }),
                .ints("nodes_falsenodeids", [Int64](repeating: Int64(depth + 1), count: count)),
                .ints("target_treeids", [0]), .ints("target_nodeids", [Int64(depth)]), .ints("target_ids", [0]),
                .floats("target_weights", [1]), .int("n_targets", 1),
            ])
        #expect(error?.message.contains("deeper than") == true)
    }

    @Test func sharedChildrenAreAccepted() throws {
        // onnxmltools writes a LightGBM categorical split as a chain of BRANCH_EQ nodes whose true
        // branches share one leaf: x0 in {1, 3} scores 10, anything else 20.
        let regressor = try kernel(
            "TreeEnsembleRegressor",
            [
                .ints("nodes_treeids", [0, 0, 0, 0]), .ints("nodes_nodeids", [0, 1, 2, 3]),
                .ints("nodes_featureids", [0, 0, 0, 0]),
                .floats("nodes_values", [1, 3, 0, 0]),
                .strings("nodes_modes", ["BRANCH_EQ", "BRANCH_EQ", "LEAF", "LEAF"]),
                .ints("nodes_truenodeids", [2, 2, 0, 0]), .ints("nodes_falsenodeids", [1, 3, 0, 0]),
                .ints("target_treeids", [0, 0]), .ints("target_nodeids", [2, 3]), .ints("target_ids", [0, 0]),
                .floats("target_weights", [10, 20]), .int("n_targets", 1),
            ])
        let output = try regressor.run([.tensor(ONNXTensor(shape: [4, 1], floats: [1, 2, 3, 1.5]))])
        #expect(try floats(output[0]) == [10, 20, 10, 20])
    }

    @Test func badInputsAreBadRequests() throws {
        let classifier = try Self.binaryClassifier(post: "NONE", weights: [0.3, 0.7])
        func error(_ input: ONNXTensor) -> SlipwayError? {
            do {
                _ = try classifier.run([.tensor(input)])
                return nil
            } catch {
                return error
            }
        }
        let tooFew = error(ONNXTensor(shape: [2, 0], floats: []))
        #expect(tooFew?.kind == .badRequest)
        #expect(tooFew?.message.contains("feature") == true)
        #expect(error(ONNXTensor(shape: [1, 1], strings: ["x"]))?.kind == .badRequest)
        #expect(error(ONNXTensor(shape: [1, 1, 1], floats: [0]))?.kind == .badRequest)
    }

    // MARK: Linear models

    static let linearRows = ONNXValue.tensor(ONNXTensor(shape: [3, 2], floats: [1, 2, -1, 0.5, 4, 1]))

    @Test func linearClassifierBinaryCase() throws {
        func run(_ post: String) throws -> [ONNXValue] {
            try kernel(
                "LinearClassifier",
                [
                    .floats("coefficients", [0.5, -0.25]), .floats("intercepts", [0.1]),
                    .strings("classlabels_strings", ["no", "yes"]), .string("post_transform", post),
                ]
            ).run([Self.linearRows])
        }
        var output = try run("NONE")
        #expect(output[0].tensor == ONNXTensor(shape: [3], strings: ["yes", "no", "yes"]))
        expectClose(try floats(output[1]), [0.9, 0.1, 1.525, -0.525, -0.85, 1.85])
        output = try run("LOGISTIC")
        expectClose(try floats(output[1]), [0.47502083, 0.5249792, 0.62831616, 0.37168384, 0.1358729, 0.8641271])
        // PROBIT: onnxruntime packs the N probits at the start of the [N, 2] output.
        let probit = try kernel(
            "LinearClassifier",
            [
                .floats("coefficients", [0.1, 0.1]), .floats("intercepts", [0.2]), .ints("classlabels_ints", [0, 1]),
                .string("post_transform", "PROBIT"),
            ]
        ).run([.tensor(ONNXTensor(shape: [3, 2], floats: [1, 2, 0, 0, 2, 3]))])
        #expect(probit[1].tensor?.shape == [3, 2])
        expectClose(Array(try floats(probit[1]).prefix(3)), [0, -0.8417561, 0.5244459])
    }

    @Test func linearClassifierMulticlassAndRegressor() throws {
        func classify(_ post: String) throws -> [ONNXValue] {
            try kernel(
                "LinearClassifier",
                [
                    .floats("coefficients", [1, 0, 0, 1, 1, 1]), .floats("intercepts", [0, 0.5, -1]),
                    .ints("classlabels_ints", [10, 20, 30]), .string("post_transform", post),
                ]
            ).run([.tensor(ONNXTensor(shape: [2, 2], floats: [1, 2, -1, 0.5]))])
        }
        var output = try classify("SOFTMAX")
        #expect(try int64s(output[0]) == [20, 20])
        expectClose(try floats(output[1]), [0.121951655, 0.5465494, 0.33149895, 0.11116561, 0.821409, 0.067425355])
        output = try classify("LOGISTIC")
        expectClose(try floats(output[1]), [0.7310586, 0.9241418, 0.8807971, 0.26894143, 0.7310586, 0.18242556])
        let regressor = try kernel(
            "LinearRegressor",
            [.floats("coefficients", [0.5, -0.25, 1, 1]), .floats("intercepts", [0.1, 0.2]), .int("targets", 2)])
        let scores = try regressor.run([.tensor(ONNXTensor(shape: [2, 2], floats: [1, 2, -1, 0.5]))])
        expectClose(try floats(scores[0]), [0.1, 3.2, -0.525, -0.3])
    }

    // MARK: Encoders and maps

    @Test func labelEncoderDefaults() throws {
        let strings = ONNXValue.tensor(ONNXTensor(shape: [3], strings: ["a", "b", "zz"]))
        // Opset 1: index in classes_strings and back.
        let v1 = try kernel("LabelEncoder", opset: 1, [.strings("classes_strings", ["b", "a"])])
        #expect(try int64s(v1.run([strings])[0]) == [1, 0, -1])
        let back = try v1.run([.tensor(ONNXTensor(shape: [3], int64s: [0, 1, 5]))])
        #expect(back[0].tensor == ONNXTensor(shape: [3], strings: ["b", "a", "_Unused"]))
        // Opset 2: a repeated key keeps its first value; unknown keys get default_int64 (-1 if unset).
        let v2 = try kernel(
            "LabelEncoder", opset: 2, [.strings("keys_strings", ["a", "b", "a"]), .ints("values_int64s", [1, 2, 3])])
        #expect(try int64s(v2.run([strings])[0]) == [1, 2, -1])
        let v2Default = try kernel(
            "LabelEncoder", opset: 2,
            [.strings("keys_strings", ["a"]), .ints("values_int64s", [1]), .int("default_int64", 42)])
        #expect(try int64s(v2Default.run([strings])[0]) == [1, 42, 42])
        // Float keys: NaN matches NaN from opset 4 on; -0.0 and 0.0 are the same key.
        let floatKeys: [Onnx_AttributeProto] = [
            .floats("keys_floats", [1.5, .nan, -0.0]), .strings("values_strings", ["x", "n", "z"]),
        ]
        let floatInput = ONNXValue.tensor(ONNXTensor(shape: [4], floats: [1.5, .nan, 0, 2]))
        #expect(
            try kernel("LabelEncoder", opset: 2, floatKeys).run([floatInput])[0].tensor
                == ONNXTensor(shape: [4], strings: ["x", "_Unused", "z", "_Unused"]))
        #expect(
            try kernel("LabelEncoder", opset: 4, floatKeys).run([floatInput])[0].tensor
                == ONNXTensor(shape: [4], strings: ["x", "n", "z", "_Unused"]))
        // The float default is -0.0.
        let toFloat = try kernel(
            "LabelEncoder", opset: 4, [.ints("keys_int64s", [1, 2]), .floats("values_floats", [1.5, 2.5])])
        let mapped = try floats(toFloat.run([.tensor(ONNXTensor(shape: [2], int64s: [1, 3]))])[0])
        #expect(mapped[0] == 1.5 && mapped[1] == 0 && mapped[1].sign == .minus)
        // Opset 4 tensors, with default_tensor.
        let tensors = try kernel(
            "LabelEncoder", opset: 4,
            [
                .tensor("keys_tensor", int64s: [1, 2]), .tensor("values_tensor", strings: ["p", "q"]),
                .tensor("default_tensor", strings: ["D"]),
            ])
        #expect(
            try tensors.run([.tensor(ONNXTensor(shape: [2], int64s: [1, 3]))])[0].tensor
                == ONNXTensor(shape: [2], strings: ["p", "D"]))
        // The input type must match the keys.
        #expect(throws: SlipwayError.self) { try v2.run([.tensor(ONNXTensor(shape: [1], int64s: [1]))]) }
    }

    @Test func oneHotEncoder() throws {
        let ints = try kernel("OneHotEncoder", [.ints("cats_int64s", [3, 1, 7])])
        // Floats truncate to integers; unknown categories give zeros; the category axis is appended.
        let output = try ints.run([.tensor(ONNXTensor(shape: [2, 2], floats: [3.7, 1, -0.5, 7]))])
        #expect(output[0].tensor == ONNXTensor(shape: [2, 2, 3], floats: [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]))
        let strict = try kernel("OneHotEncoder", [.strings("cats_strings", ["a", "b"]), .int("zeros", 0)])
        #expect(
            try strict.run([.tensor(ONNXTensor(shape: [1, 1], strings: ["b"]))])[0].tensor
                == ONNXTensor(shape: [1, 1, 2], floats: [0, 1]))
        do {
            _ = try strict.run([.tensor(ONNXTensor(shape: [2, 1], strings: ["a", "c"]))])
            Issue.record("an unknown category with zeros=0 must fail")
        } catch {
            #expect(error.kind == .badRequest)
            #expect(error.message.contains("'c'"))
        }
    }

    @Test func zipMapWithStringAndIntegerLabels() throws {
        // A repeated label appears once, with its last column's score (onnxruntime builds a std::map).
        let strings = try kernel("ZipMap", [.strings("classlabels_strings", ["b", "a", "b"])])
        let output = try strings.run([.tensor(ONNXTensor(shape: [2, 3], floats: [0.1, 0.2, 0.3, 1, 2, 3]))])
        let keys = ONNXTensor(shape: [2], strings: ["b", "a"])
        #expect(
            output[0]
                == .sequence([
                    .map(keys: keys, values: ONNXTensor(shape: [2], floats: [0.3, 0.2])),
                    .map(keys: keys, values: ONNXTensor(shape: [2], floats: [3, 2])),
                ]))
        let ints = try kernel("ZipMap", [.ints("classlabels_int64s", [5, -1])])
        let one = try ints.run([.tensor(ONNXTensor(shape: [2], floats: [0.25, 0.75]))])
        #expect(
            one[0]
                == .sequence([
                    .map(
                        keys: ONNXTensor(shape: [2], int64s: [5, -1]),
                        values: ONNXTensor(shape: [2], floats: [0.25, 0.75]))
                ]))
        #expect(throws: SlipwayError.self) { try ints.run([.tensor(ONNXTensor(shape: [1, 3], floats: [0, 0, 0]))]) }
    }

    @Test func castMapDenseAndSparse() throws {
        let map = ONNXValue.map(
            keys: ONNXTensor(shape: [3], int64s: [3, 0, 1]), values: ONNXTensor(shape: [3], floats: [1.5, -2.25, 1e10]))
        func cast(_ attributes: [Onnx_AttributeProto]) throws -> ONNXTensor? {
            try kernel("CastMap", attributes).run([map])[0].tensor
        }
        // Dense: every entry, in key order.
        #expect(try cast([]) == ONNXTensor(shape: [1, 3], floats: [-2.25, 1e10, 1.5]))
        #expect(
            try cast([.string("cast_to", "TO_STRING")])
                == ONNXTensor(shape: [1, 3], strings: ["-2.250000", "10000000000.000000", "1.500000"]))
        #expect(
            try cast([.string("cast_to", "TO_INT64")]) == ONNXTensor(shape: [1, 3], int64s: [-2, 10_000_000_000, 1]))
        // Sparse: max_map columns, missing keys padded (strings with onnxruntime's "0.f").
        #expect(
            try cast([.string("map_form", "SPARSE"), .int("max_map", 5)])
                == ONNXTensor(shape: [1, 5], floats: [-2.25, 1e10, 0, 1.5, 0]))
        #expect(
            try cast([.string("map_form", "SPARSE"), .int("max_map", 2)])
                == ONNXTensor(shape: [1, 2], floats: [-2.25, 1e10]))
        #expect(
            try cast([.string("map_form", "SPARSE"), .int("max_map", 5), .string("cast_to", "TO_STRING")])
                == ONNXTensor(shape: [1, 5], strings: ["-2.250000", "10000000000.000000", "0.f", "1.500000", "0.f"]))
        // String values convert from their leading number.
        let strings = ONNXValue.map(
            keys: ONNXTensor(shape: [2], int64s: [1, 0]), values: ONNXTensor(shape: [2], strings: ["2.5", " 3e2xyz"]))
        #expect(try kernel("CastMap", []).run([strings])[0].tensor == ONNXTensor(shape: [1, 2], floats: [300, 2.5]))
        let negative = ONNXValue.map(
            keys: ONNXTensor(shape: [1], int64s: [-1]), values: ONNXTensor(shape: [1], floats: [2]))
        #expect(throws: SlipwayError.self) { try kernel("CastMap", [.string("map_form", "SPARSE")]).run([negative]) }
    }

    // MARK: Preprocessing

    @Test func normalizerScalerImputerBinarizer() throws {
        let rows = ONNXValue.tensor(ONNXTensor(shape: [3, 3], floats: [1, -2, 3, 0, 0, 0, -1, -2, -4]))
        // MAX divides by the largest value, not the largest magnitude; zero rows are copied.
        expectClose(
            try floats(kernel("Normalizer", [.string("norm", "MAX")]).run([rows])[0]),
            [0.33333334, -0.6666667, 1, 0, 0, 0, 1, 2, 4])
        expectClose(
            try floats(kernel("Normalizer", [.string("norm", "L2")]).run([rows])[0]),
            [0.26726124, -0.5345225, 0.80178374, 0, 0, 0, -0.2182179, -0.4364358, -0.8728716])
        let scaler = try kernel("Scaler", [.floats("offset", [1, 2, 3]), .floats("scale", [2, 0.5, -1])])
        expectClose(try floats(scaler.run([.tensor(ONNXTensor(shape: [1, 3], int64s: [1, 0, -3]))])[0]), [0, -1, 6])
        let imputer = try kernel(
            "Imputer", [.floats("imputed_value_floats", [9, 8, 7]), .float("replaced_value_float", .nan)])
        let imputed = try imputer.run([
            .tensor(ONNXTensor(shape: [2, 3], floats: [1.5, .nan, -2, .nan, 3, .infinity]))
        ])
        #expect(try floats(imputed[0]) == [1.5, 8, -2, 9, 3, .infinity])
        let binarizer = try kernel("Binarizer", [.float("threshold", 0.5)])
        #expect(try floats(binarizer.run([.tensor(ONNXTensor(shape: [3], floats: [0.5, 0.6, -1]))])[0]) == [0, 1, 0])
        #expect(throws: SlipwayError.self) { try binarizer.run([.tensor(ONNXTensor(shape: [1], floats: [.nan]))]) }
    }

    @Test func arrayFeatureExtractor() throws {
        let extractor = try kernel("ArrayFeatureExtractor", [])
        let one = try extractor.run([
            .tensor(ONNXTensor(shape: [3], strings: ["a", "b", "c"])), .tensor(ONNXTensor(shape: [2], int64s: [2, 0])),
        ])
        #expect(one[0].tensor == ONNXTensor(shape: [1, 2], strings: ["c", "a"]))
        #expect(throws: SlipwayError.self) {
            try extractor.run([
                .tensor(ONNXTensor(shape: [3], floats: [1, 2, 3])), .tensor(ONNXTensor(shape: [1], int64s: [3])),
            ])
        }
    }
}

// MARK: - Helpers

/// Builds a kernel the way the model loader does, from attributes.
private func kernel(_ opType: String, opset: Int = 3, _ attributes: [Onnx_AttributeProto]) throws(SlipwayError)
    -> any ONNXKernel
{
    let context = ONNXNodeContext(
        opType: opType, domain: ONNXOperatorSet.mlDomain, name: "test", opset: opset, inputCount: 2, outputCount: 2,
        constantInputs: [],
        attributes: Dictionary(attributes.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last }))
    guard let factory = ONNXOperatorSet.kernels["ai.onnx.ml:\(opType)"] else {
        throw .internal("no kernel for \(opType)")
    }
    return try factory(context)
}

/// The load error for a node, or nil when it loads.
private func loadError(_ opType: String, opset: Int = 3, _ attributes: [Onnx_AttributeProto]) -> SlipwayError? {
    do {
        _ = try kernel(opType, opset: opset, attributes)
        return nil
    } catch {
        return error
    }
}

private func floats(_ value: ONNXValue) throws -> [Float] {
    guard let tensor = value.tensor, case .float(let values) = tensor.storage else {
        throw SlipwayError.internal("expected a float tensor, got \(value)")
    }
    return values
}

private func int64s(_ value: ONNXValue) throws -> [Int64] {
    guard let tensor = value.tensor, case .int64(let values) = tensor.storage else {
        throw SlipwayError.internal("expected an int64 tensor, got \(value)")
    }
    return values
}

/// Equal within 1e-6 relative (NaN equals NaN, infinities must match).
private func expectClose(_ actual: [Float], _ expected: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        let close = (a.isNaN && e.isNaN) || a == e || abs(a - e) <= 1e-6 * max(1, abs(e))
        #expect(close, "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }
}

extension Onnx_AttributeProto {
    fileprivate static func ints(_ name: String, _ values: [Int64]) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values
        return attribute
    }

    fileprivate static func floats(_ name: String, _ values: [Float]) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .floats
        attribute.floats = values
        return attribute
    }

    fileprivate static func strings(_ name: String, _ values: [String]) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .strings
        attribute.strings = values.map { Data($0.utf8) }
        return attribute
    }

    fileprivate static func int(_ name: String, _ value: Int64) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .int
        attribute.i = value
        return attribute
    }

    fileprivate static func float(_ name: String, _ value: Float) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    fileprivate static func string(_ name: String, _ value: String) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .string
        attribute.s = Data(value.utf8)
        return attribute
    }

    fileprivate static func tensor(_ name: String, _ tensor: Onnx_TensorProto) -> Self {
        var attribute = Self()
        attribute.name = name
        attribute.type = .tensor
        attribute.t = tensor
        return attribute
    }

    fileprivate static func tensor(_ name: String, floats values: [Float]) -> Self {
        var proto = Onnx_TensorProto()
        proto.dataType = 1
        proto.dims = [Int64(values.count)]
        proto.floatData = values
        return tensor(name, proto)
    }

    fileprivate static func tensor(_ name: String, int64s values: [Int64]) -> Self {
        var proto = Onnx_TensorProto()
        proto.dataType = 7
        proto.dims = [Int64(values.count)]
        proto.int64Data = values
        return tensor(name, proto)
    }

    fileprivate static func tensor(_ name: String, strings values: [String]) -> Self {
        var proto = Onnx_TensorProto()
        proto.dataType = 8
        proto.dims = [Int64(values.count)]
        proto.stringData = values.map { Data($0.utf8) }
        return tensor(name, proto)
    }

    /// A uint8 tensor (TreeEnsemble's `nodes_modes`), as raw bytes.
    fileprivate static func tensor(_ name: String, uint8s values: [UInt8]) -> Self {
        var proto = Onnx_TensorProto()
        proto.dataType = 2
        proto.dims = [Int64(values.count)]
        proto.rawData = Data(values)
        return tensor(name, proto)
    }
}
