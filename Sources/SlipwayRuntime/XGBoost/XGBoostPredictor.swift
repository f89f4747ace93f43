import Foundation
import SlipwayCore

/// Predicts with a gradient-boosted tree model saved by XGBoost as JSON (`save_model("model.json")`).
///
/// Supported objectives: `binary:logistic` and `reg:logistic` (output: the probability of the positive
/// class), `reg:squarederror` (the value) and `multi:softprob` (one probability per class). The
/// arithmetic follows XGBoost's CPU predictor: features are compared as 32-bit floats, a split sends
/// `x < split_condition` left and a missing value (NaN) the way `default_left` says, leaf values are
/// summed in 32-bit floats starting from the model's intercept (`base_score`, mapped through the
/// objective's link function), then the objective's transform is applied.
///
/// Refused with a 422: other objectives, `gblinear` and `dart` boosters, categorical splits,
/// multi-target trees, and any file whose trees are not well-formed.
public struct XGBoostPredictor: Predictor {
    enum Objective: String, CaseIterable {
        case binaryLogistic = "binary:logistic"
        case regLogistic = "reg:logistic"
        case squaredError = "reg:squarederror"
        case softprob = "multi:softprob"
    }

    /// Upper bounds that keep a hostile file from declaring absurd shapes.
    static let maxFeatures = 1 << 24
    static let maxClasses = 1 << 16

    public let signature: ModelSignature
    public let featureCount: Int
    public let outputCount: Int
    let objective: Objective
    let ensemble: TreeEnsemble
    /// Each tree's output group (class), as XGBoost's `tree_info`.
    let treeGroups: [Int32]
    /// Leaf values, indexed by the leaf payloads in ``ensemble``.
    let leafValues: [Float]
    /// The starting margin of each output group.
    let baseMargins: [Float]

    public init(artifact: [UInt8]) throws(SlipwayError) {
        let file = try XGBoostModelFile.decode(artifact)
        let learner = file.learner

        guard let objective = Objective(rawValue: learner.objective.name) else {
            throw .unprocessable(
                "XGBoost objective '\(learner.objective.name.prefix(64))' is not supported; supported are "
                    + Objective.allCases.map(\.rawValue).joined(separator: ", "),
                code: "unsupported_model")
        }
        guard learner.gradientBooster.name == "gbtree", let model = learner.gradientBooster.model else {
            throw .unprocessable(
                "XGBoost booster '\(learner.gradientBooster.name.prefix(64))' is not supported; only gbtree is",
                code: "unsupported_model")
        }
        let param = learner.learnerModelParam
        guard let featureCount = Int(param.numFeature), (1...Self.maxFeatures).contains(featureCount) else {
            throw .unprocessable("XGBoost num_feature must be 1...\(Self.maxFeatures)", code: "invalid_model")
        }
        guard let numClass = Int(param.numClass), (0...Self.maxClasses).contains(numClass) else {
            throw .unprocessable("XGBoost num_class must be 0...\(Self.maxClasses)", code: "invalid_model")
        }
        guard param.numTarget.map({ $0 == "1" || $0 == "0" }) ?? true else {
            throw .unprocessable("multi-target XGBoost models are not supported", code: "unsupported_model")
        }
        let groups: Int
        switch objective {
        case .softprob:
            guard numClass >= 2 else {
                throw .unprocessable("multi:softprob needs num_class ≥ 2", code: "invalid_model")
            }
            groups = numClass
        case .binaryLogistic, .regLogistic, .squaredError:
            guard numClass <= 1 else {
                throw .unprocessable(
                    "\(objective.rawValue) models have one output, but num_class is \(numClass)", code: "invalid_model")
            }
            groups = 1
        }

        let baseScores = try Self.parseBaseScore(param.baseScore, groups: groups)
        baseMargins = try baseScores.map { score throws(SlipwayError) in
            switch objective {
            case .binaryLogistic, .regLogistic:
                // base_score is a probability; the margin starts at its logit (ProbToMargin).
                guard score > 0, score < 1 else {
                    throw .unprocessable(
                        "base_score must be a probability in (0, 1) for \(objective.rawValue)", code: "invalid_model")
                }
                return -log(1 / score - 1)
            case .squaredError, .softprob:
                return score
            }
        }

        guard model.treeInfo.count == model.trees.count else {
            throw .unprocessable(
                "XGBoost tree_info has \(model.treeInfo.count) entries for \(model.trees.count) trees",
                code: "invalid_model")
        }
        var ensemble = TreeEnsemble()
        var leafValues: [Float] = []
        var treeGroups: [Int32] = []
        for (index, tree) in model.trees.enumerated() {
            let group = model.treeInfo[index]
            guard group >= 0, group < groups else {
                throw .unprocessable(
                    "XGBoost tree \(index) belongs to output group \(group), but the model has \(groups)",
                    code: "invalid_model")
            }
            let (draft, values) = try Self.draft(tree, name: "tree \(index)")
            let leaves = try ensemble.append(draft, featureCount: featureCount, name: "tree \(index)")
            assert(leaves.count == values.count && leaves.first.map { $0 == leafValues.count } ?? true)
            leafValues.append(contentsOf: values)
            treeGroups.append(Int32(group))
        }

        self.objective = objective
        self.featureCount = featureCount
        self.outputCount = groups
        self.ensemble = ensemble
        self.leafValues = leafValues
        self.treeGroups = treeGroups
        self.signature = .tabular(
            features: featureCount, output: objective == .squaredError ? "predictions" : "probabilities",
            outputs: groups)
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
        ensemble.withStorage { nodes, words in
            leafValues.withUnsafeBufferPointer { leafValues in
                treeGroups.withUnsafeBufferPointer { treeGroups in
                    for row in 0..<rows {
                        let x = inputBase + row * featureCount
                        let out = outputBase + row * outputs
                        for group in 0..<outputs { out[group] = baseMargins[group] }
                        // Summed tree by tree in Float, in XGBoost's order.
                        for tree in 0..<ensemble.treeCount {
                            let leaf = ensemble.leaf(tree: tree, row: x, nodes: nodes, categoryWords: words)
                            out[Int(treeGroups[tree])] += leafValues[leaf]
                        }
                        transform(UnsafeMutableBufferPointer(start: out, count: outputs))
                    }
                }
            }
        }
    }

    /// The batch path: blocks of rows, each walked tree by tree (the tree stays in cache and the rows'
    /// walks overlap). Each row still sums its trees' leaf values in tree order in Float, from the same
    /// base margin, so the outputs are bit-identical to the one-row path's.
    private func predictBlocks(_ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>) {
        let outputs = outputCount
        let blockRows = Self.blockRows
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: blockRows) { leaves in
            let leaves = leaves.baseAddress!
            ensemble.withStorage { nodes, words in
                ensemble.withBatchNodes { batchNodes in
                    leafValues.withUnsafeBufferPointer { leafValues in
                        treeGroups.withUnsafeBufferPointer { treeGroups in
                            var start = 0
                            while start < rows {
                                let count = min(blockRows, rows - start)
                                let x = input + start * featureCount
                                let out = output + start * outputs
                                for r in 0..<count {
                                    for group in 0..<outputs { out[r * outputs + group] = baseMargins[group] }
                                }
                                for tree in 0..<ensemble.treeCount {
                                    ensemble.leaves(
                                        tree: tree, rows: x, count: count, stride: featureCount, nodes: nodes,
                                        batchNodes: batchNodes, categoryWords: words, into: leaves)
                                    let group = Int(treeGroups[tree])
                                    for r in 0..<count { out[r * outputs + group] += leafValues[Int(leaves[r])] }
                                }
                                for r in 0..<count {
                                    transform(UnsafeMutableBufferPointer(start: out + r * outputs, count: outputs))
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

    /// Turns one row's margins into the objective's output, with XGBoost's float arithmetic.
    @inline(__always)
    private func transform(_ margins: UnsafeMutableBufferPointer<Float>) {
        switch objective {
        case .squaredError:
            break
        case .binaryLogistic, .regLogistic:
            margins[0] = 1 / (1 + exp(-margins[0]))
        case .softprob:
            var largest = margins[0]
            for value in margins { largest = max(largest, value) }
            var sum = 0.0
            for index in margins.indices {
                margins[index] = exp(margins[index] - largest)
                sum += Double(margins[index])
            }
            let total = Float(sum)
            for index in margins.indices { margins[index] /= total }
        }
    }

    /// Parses `base_score`: `"5E-1"` (XGBoost ≤ 2.x) or `"[5E-1]"` / `"[a,b,c]"` (3.x, one per output group).
    static func parseBaseScore(_ text: String, groups: Int) throws(SlipwayError) -> [Float] {
        var body = Substring(text)
        if body.hasPrefix("[") && body.hasSuffix("]") { body = body.dropFirst().dropLast() }
        let parts = body.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == parts.count, values.allSatisfy(\.isFinite), values.count == 1 || values.count == groups
        else {
            throw .unprocessable(
                "XGBoost base_score must be one number or one per output group (\(groups))", code: "invalid_model")
        }
        return values.count == groups ? values : Array(repeating: values[0], count: groups)
    }

    /// Converts one JSON tree into draft nodes (root first) and its leaf values in node order.
    static func draft(_ tree: XGBoostModelFile.Tree, name: String) throws(SlipwayError) -> (
        [TreeEnsemble.DraftNode], [Float]
    ) {
        let count = tree.leftChildren.count
        guard count > 0,
            [tree.rightChildren.count, tree.splitIndices.count, tree.splitConditions.count, tree.defaultLeft.count]
                .allSatisfy({ $0 == count })
        else {
            throw .unprocessable(
                "XGBoost \(name): left_children, right_children, split_indices, split_conditions and default_left "
                    + "must all have one entry per node",
                code: "invalid_model")
        }
        if let size = tree.treeParam?.sizeLeafVector, size != "1", size != "0" {
            throw .unprocessable(
                "XGBoost \(name) has vector leaves (multi-target), which are not supported", code: "unsupported_model")
        }
        if (tree.splitType ?? []).contains(where: { $0 != 0 }) || !(tree.categoriesNodes ?? []).isEmpty {
            throw .unprocessable(
                "XGBoost \(name) has categorical splits, which are not supported yet; train with numeric features",
                code: "unsupported_model")
        }
        var draft: [TreeEnsemble.DraftNode] = []
        var leafValues: [Float] = []
        draft.reserveCapacity(count)
        for node in 0..<count {
            let left = tree.leftChildren[node]
            let right = tree.rightChildren[node]
            if left == -1 {
                guard right == -1 else {
                    throw .unprocessable(
                        "XGBoost \(name), node \(node): a leaf has a right child", code: "invalid_model")
                }
                let value = tree.splitConditions[node]
                guard value.isFinite else {
                    throw .unprocessable(
                        "XGBoost \(name), node \(node): leaf value is not finite", code: "invalid_model")
                }
                leafValues.append(value)
                draft.append(TreeEnsemble.DraftNode(split: nil))
            } else {
                // XGBoost goes left when x < t; for floats that is x <= t.nextDown. Nothing is below -inf,
                // so a -inf threshold becomes NaN, which sends every value right, as `x < -inf` does.
                let condition = tree.splitConditions[node]
                let threshold = condition == -.infinity ? .nan : condition.nextDown
                draft.append(
                    TreeEnsemble.DraftNode(
                        split: .init(
                            feature: tree.splitIndices[node], threshold: threshold, left: left, right: right,
                            kind: .numericalMissingNaN, defaultLeft: tree.defaultLeft[node])))
            }
        }
        return (draft, leafValues)
    }
}
