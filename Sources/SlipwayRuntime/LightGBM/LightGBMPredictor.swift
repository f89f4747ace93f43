import Foundation
import SlipwayCore

/// Predicts with a gradient-boosted tree model saved by LightGBM as text (`save_model("model.txt")`).
///
/// Supported objectives: `binary` (output: the probability of the positive class, through the
/// objective's `sigmoid` parameter), `multiclass` (one probability per class, softmax) and the
/// regression family with an identity link (`regression`, `regression_l1`, `huber`, `fair`,
/// `quantile`, `mape`). Splits follow LightGBM's `Tree::Predict`: numerical splits go left when
/// `x <= threshold`, with missing values handled per the node's missing type (NaN, zero or none) and
/// default direction; categorical splits go left when the value's integer category is in the node's
/// bitset. Leaf values are summed in double precision, as LightGBM does.
///
/// Refused with a 422: other objectives, `sqrt`-transformed regression, linear trees, averaged
/// (random forest) output, and any file whose trees are not well-formed.
public struct LightGBMPredictor: Predictor {
    enum Link: Equatable {
        case identity
        case sigmoid(Double)
        case softmax
    }

    static let identityObjectives: Set<Substring> = [
        "regression", "regression_l1", "huber", "fair", "quantile", "mape",
    ]
    static let maxFeatures = 1 << 24
    static let maxClasses = 1 << 16

    public let signature: ModelSignature
    public let featureCount: Int
    public let outputCount: Int
    let link: Link
    let ensemble: TreeEnsemble
    /// Leaf values, indexed by the leaf payloads in ``ensemble``.
    let leafValues: [Double]

    public init(artifact: [UInt8]) throws(SlipwayError) {
        let file = try LightGBMModelFile.parse(artifact)
        let header = LightGBMFields(fields: file.header, name: "header")

        guard try header.string("version").hasPrefix("v") else {
            throw .unprocessable("LightGBM header: unrecognised 'version'", code: "invalid_model")
        }
        let classes = try header.int("num_class", in: 1...Self.maxClasses)
        let treesPerIteration = try header.int("num_tree_per_iteration", in: 1...Self.maxClasses)
        let featureCount = try header.int("max_feature_idx", in: 0...(Self.maxFeatures - 1)) + 1
        if file.header["average_output"] != nil {
            throw .unprocessable(
                "LightGBM models with averaged output (boosting=rf) are not supported yet", code: "unsupported_model")
        }

        let objective = try header.string("objective").split(separator: " ")
        guard let objectiveName = objective.first else {
            throw .unprocessable("LightGBM header: 'objective' is empty", code: "invalid_model")
        }
        func parameter(_ key: String) -> Substring? {
            objective.dropFirst().first { $0.hasPrefix(key + ":") }?.dropFirst(key.count + 1)
        }
        let link: Link
        switch objectiveName {
        case "binary":
            guard let sigmoid = Double(parameter("sigmoid") ?? "1"), sigmoid.isFinite, sigmoid > 0 else {
                throw .unprocessable("LightGBM binary objective: 'sigmoid' must be positive", code: "invalid_model")
            }
            guard classes == 1, treesPerIteration == 1 else {
                throw .unprocessable("LightGBM binary models must have num_class=1", code: "invalid_model")
            }
            link = .sigmoid(sigmoid)
        case "multiclass":
            guard parameter("num_class").flatMap({ Int($0) }) == classes, classes >= 2, treesPerIteration == classes
            else {
                throw .unprocessable(
                    "LightGBM multiclass: num_class and num_tree_per_iteration must agree", code: "invalid_model")
            }
            link = .softmax
        case let name where Self.identityObjectives.contains(name):
            guard !objective.contains("sqrt") else {
                throw .unprocessable(
                    "LightGBM regression with reg_sqrt is not supported yet", code: "unsupported_model")
            }
            guard classes == 1, treesPerIteration == 1 else {
                throw .unprocessable("LightGBM \(name) models must have num_class=1", code: "invalid_model")
            }
            link = .identity
        default:
            throw .unprocessable(
                "LightGBM objective '\(objectiveName.prefix(64))' is not supported; supported are binary, multiclass, "
                    + Self.identityObjectives.sorted().joined(separator: ", "),
                code: "unsupported_model")
        }
        guard file.trees.count % treesPerIteration == 0 else {
            throw .unprocessable(
                "LightGBM model has \(file.trees.count) trees, not a multiple of num_tree_per_iteration "
                    + "(\(treesPerIteration))",
                code: "invalid_model")
        }

        var ensemble = TreeEnsemble()
        var leafValues: [Double] = []
        for (index, fields) in file.trees.enumerated() {
            let tree = LightGBMFields(fields: fields, name: "tree \(index)")
            let (draft, values) = try Self.draft(tree)
            let leaves = try ensemble.append(draft, featureCount: featureCount, name: "LightGBM tree \(index)")
            // Leaves are appended in draft order, so the values line up with the leaf indices.
            assert(leaves.count == values.count && leaves.first.map { $0 == leafValues.count } ?? true)
            leafValues.append(contentsOf: values)
        }

        self.featureCount = featureCount
        self.outputCount = treesPerIteration
        self.link = link
        self.ensemble = ensemble
        self.leafValues = leafValues
        self.signature = .tabular(
            features: featureCount, output: link == .identity ? "predictions" : "probabilities",
            outputs: treesPerIteration)
    }

    public func predict(
        _ input: UnsafeBufferPointer<Float>, rows: Int, features: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(SlipwayError) {
        try validateBatch(inputCount: input.count, outputCapacity: output.count, rows: rows, features: features)
        guard rows > 0, let inputBase = input.baseAddress, let outputBase = output.baseAddress else { return }
        let outputs = outputCount
        if rows > 1 {
            predictBlocks(inputBase, rows: rows, into: outputBase)
            return
        }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: outputs) { sums in
            ensemble.withStorage { nodes, words in
                leafValues.withUnsafeBufferPointer { leafValues in
                    for row in 0..<rows {
                        let x = inputBase + row * featureCount
                        for k in 0..<outputs { sums[k] = 0 }
                        // Tree t belongs to class t % outputs; summed in LightGBM's order, in Double.
                        var tree = 0
                        while tree < ensemble.treeCount {
                            for k in 0..<outputs {
                                let leaf = ensemble.leaf(tree: tree + k, row: x, nodes: nodes, categoryWords: words)
                                sums[k] += leafValues[leaf]
                            }
                            tree += outputs
                        }
                        transform(sums)
                        let out = outputBase + row * outputs
                        for k in 0..<outputs { out[k] = Float(sums[k]) }
                    }
                }
            }
        }
    }

    /// The batch path: blocks of rows, each walked tree by tree (the tree stays in cache and the rows'
    /// walks overlap). Each row still sums its trees' leaf values in the one-row path's order in Double,
    /// so the outputs are bit-identical to it.
    private func predictBlocks(_ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>) {
        let outputs = outputCount
        let blockRows = Self.blockRows
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: blockRows) { leaves in
            let leaves = leaves.baseAddress!
            withUnsafeTemporaryAllocation(of: Double.self, capacity: blockRows * outputs) { sums in
                ensemble.withStorage { nodes, words in
                    ensemble.withBatchNodes { batchNodes in
                        leafValues.withUnsafeBufferPointer { leafValues in
                            var start = 0
                            while start < rows {
                                let count = min(blockRows, rows - start)
                                let x = input + start * featureCount
                                for index in 0..<(count * outputs) { sums[index] = 0 }
                                // Tree t belongs to class t % outputs; summed in LightGBM's order, in Double.
                                var tree = 0
                                while tree < ensemble.treeCount {
                                    for k in 0..<outputs {
                                        ensemble.leaves(
                                            tree: tree + k, rows: x, count: count, stride: featureCount, nodes: nodes,
                                            batchNodes: batchNodes, categoryWords: words, into: leaves)
                                        for r in 0..<count { sums[r * outputs + k] += leafValues[Int(leaves[r])] }
                                    }
                                    tree += outputs
                                }
                                let out = output + start * outputs
                                for r in 0..<count {
                                    let rowSums = UnsafeMutableBufferPointer(
                                        rebasing: sums[(r * outputs)..<((r + 1) * outputs)])
                                    transform(rowSums)
                                    for k in 0..<outputs { out[r * outputs + k] = Float(rowSums[k]) }
                                }
                                start += count
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rows per block on the batch path.
    static let blockRows = 64

    /// Applies the objective's link, as LightGBM's `ConvertOutput` does.
    @inline(__always)
    private func transform(_ values: UnsafeMutableBufferPointer<Double>) {
        switch link {
        case .identity:
            break
        case .sigmoid(let sigmoid):
            values[0] = 1 / (1 + exp(-sigmoid * values[0]))
        case .softmax:
            var largest = values[0]
            for value in values { largest = max(largest, value) }
            var sum = 0.0
            for index in values.indices {
                values[index] = exp(values[index] - largest)
                sum += values[index]
            }
            for index in values.indices { values[index] /= sum }
        }
    }

    /// Converts one `Tree=` block into draft nodes and leaf values. LightGBM numbers internal nodes
    /// `0..<num_leaves-1` and leaves separately, a child `c < 0` meaning leaf `~c`; the draft puts
    /// internal nodes first (root at 0) and leaf `j` at `num_leaves - 1 + j`.
    static func draft(_ tree: LightGBMFields) throws(SlipwayError) -> ([TreeEnsemble.DraftNode], [Double]) {
        if let linear = tree.fields["is_linear"], linear != "0" {
            throw .unprocessable(
                "LightGBM \(tree.name) is a linear tree, which is not supported", code: "unsupported_model")
        }
        let leafCount = try tree.int("num_leaves", in: 1...(1 << 24))
        let splits = leafCount - 1
        let leafValues = try tree.list("leaf_value", count: leafCount) { Double($0) }
        guard leafValues.allSatisfy(\.isFinite) else {
            throw .unprocessable("LightGBM \(tree.name): a leaf value is not finite", code: "invalid_model")
        }
        let features = try tree.list("split_feature", count: splits) { Int($0) }
        let thresholds = try tree.list("threshold", count: splits) { Double($0) }
        let decisionTypes = try tree.list("decision_type", count: splits) { UInt8($0) }
        let lefts = try tree.list("left_child", count: splits) { Int($0) }
        let rights = try tree.list("right_child", count: splits) { Int($0) }

        let categorySetCount = try tree.fields["num_cat"] == nil ? 0 : tree.int("num_cat", in: 0...splits)
        var boundaries: [Int] = []
        var words: [UInt32] = []
        if categorySetCount > 0 {
            boundaries = try tree.list("cat_boundaries", count: categorySetCount + 1) { Int($0) }
            guard boundaries.first == 0, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }),
                let wordCount = boundaries.last, wordCount <= 1 << 24
            else {
                throw .unprocessable(
                    "LightGBM \(tree.name): 'cat_boundaries' must rise from 0", code: "invalid_model")
            }
            words = try tree.list("cat_threshold", count: wordCount) { UInt32($0) }
        }

        func draftIndex(_ child: Int) -> Int {
            // Out-of-range values map to -1, which TreeEnsemble rejects with the node named.
            if child >= 0 { return child < splits ? child : -1 }
            let leaf = ~child
            return leaf < leafCount ? splits + leaf : -1
        }
        var draft: [TreeEnsemble.DraftNode] = []
        draft.reserveCapacity(splits + leafCount)
        for node in 0..<splits {
            let decision = decisionTypes[node]
            var split = TreeEnsemble.DraftNode.Split(
                feature: features[node], threshold: 0, left: draftIndex(lefts[node]), right: draftIndex(rights[node]),
                kind: .numericalMissingNaN, defaultLeft: decision & 2 != 0)
            if decision & 1 != 0 {
                let setIndex = thresholds[node]
                guard setIndex >= 0, setIndex < Double(categorySetCount), setIndex == setIndex.rounded(.towardZero)
                else {
                    throw .unprocessable(
                        "LightGBM \(tree.name), node \(node): categorical threshold is not one of the tree's \(categorySetCount) category sets",
                        code: "invalid_model")
                }
                let set = Int(setIndex)
                split.kind = .categorical
                split.categories = words[boundaries[set]..<boundaries[set + 1]]
            } else {
                switch (decision >> 2) & 3 {
                case 0: split.kind = .numericalMissingNone
                case 1: split.kind = .numericalMissingZero
                case 2: split.kind = .numericalMissingNaN
                default:
                    throw .unprocessable(
                        "LightGBM \(tree.name), node \(node): unknown missing-value type in decision_type",
                        code: "invalid_model")
                }
                split.threshold = splitThreshold(thresholds[node])
            }
            draft.append(TreeEnsemble.DraftNode(split: split))
        }
        draft.append(contentsOf: repeatElement(TreeEnsemble.DraftNode(split: nil), count: leafCount))
        return (draft, leafValues)
    }

    /// The float threshold that makes `x <= result` decide exactly as LightGBM decides `x <= threshold`.
    ///
    /// LightGBM's predictor reads a dense row as sparse, dropping values within ±`kZeroThreshold`, so
    /// those compare as 0. Folding that into the threshold keeps the traversal a single comparison:
    /// only a threshold inside that band needs moving to the band's edge.
    static func splitThreshold(_ threshold: Double) -> Float {
        let zero = TreeEnsemble.zeroThreshold
        if threshold >= -Double(zero), threshold < 0 { return (-zero).nextDown }
        if threshold >= 0, threshold < Double(zero) { return zero }
        return floatAtOrBelow(threshold)
    }

    /// The largest float not above `threshold`: for any float `x`, `x <= result` exactly when
    /// `Double(x) <= threshold`, so splits can compare in single precision.
    static func floatAtOrBelow(_ threshold: Double) -> Float {
        guard !threshold.isNaN else { return .nan }
        let rounded = Float(threshold)
        return Double(rounded) > threshold ? rounded.nextDown : rounded
    }
}
