import SlipwayCore

extension ONNXOperators {
    /// ai.onnx.ml tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor and TreeEnsemble (opset 5).
    ///
    /// Results follow onnxruntime (the reference Slipway is tested against) where it departs from the
    /// ONNX reference implementation; each such place says so.
    static let treeKernels: [String: ONNXKernelFactory] = [
        "ai.onnx.ml:TreeEnsembleClassifier": { context throws(SlipwayError) in try TreeClassifierKernel(context) },
        "ai.onnx.ml:TreeEnsembleRegressor": { context throws(SlipwayError) in try TreeRegressorKernel(legacy: context)
        },
        "ai.onnx.ml:TreeEnsemble": { context throws(SlipwayError) in try TreeRegressorKernel(opset5: context) },
    ]
}

// MARK: - Parsing

/// Reads the two attribute layouts of ONNX tree ensembles into ``ONNXTreeModel``s.
enum ONNXTreeFormats {
    /// TreeEnsembleClassifier / TreeEnsembleRegressor: parallel `nodes_*` lists keyed by (tree id, node
    /// id), and leaf weights (`class_*` or `target_*`) that name their leaf by the same pair.
    ///
    /// Like onnxruntime, a tree's root is its first listed node, and weights attached to a split rather
    /// than a leaf are ignored (old onnxmltools versions wrote such weights). Unlike onnxruntime, all
    /// nodes with one tree id form one tree even when the list interleaves trees, and nodes no root
    /// reaches are ignored rather than refused.
    struct Legacy {
        var model: ONNXTreeModel
        /// `base_values` (or `base_values_as_tensor`), exact in double.
        var baseValues: [Double]
        /// How many distinct target or class ids the weights use, and whether no weight is negative: the
        /// two facts onnxruntime's binary-classifier rules depend on.
        var distinctTargetIds: Int
        var weightsAllNonNegative: Bool

        /// - Parameters:
        ///   - prefix: `class` (classifier) or `target` (regressor).
        ///   - targetCount: the number of classes or targets; weight ids must be below it.
        init(_ context: ONNXNodeContext, prefix: String, targetCount: Int) throws(SlipwayError) {
            let doubleAttributes = ["nodes_values_as_tensor", "\(prefix)_weights_as_tensor", "base_values_as_tensor"]
            var useDouble = false
            for name in doubleAttributes {
                if let tensor = try context.tensor(name) {
                    guard tensor.elementType == .float || tensor.elementType == .double else {
                        throw context.invalid(
                            "attribute '\(name)' must be a float or double tensor, got \(tensor.elementType)")
                    }
                    if tensor.elementType == .double { useDouble = true }
                }
            }
            let base = try Self.values(context, "base_values")
            baseValues = base
            let weightValues = try Self.values(context, "\(prefix)_weights")
            weightsAllNonNegative = !weightValues.contains { $0 < 0 }
            distinctTargetIds = Set(context.ints("\(prefix)_ids") ?? []).count
            if useDouble {
                model = .double(try Self.parse(context, Double.self, prefix: prefix, targetCount: targetCount))
            } else {
                model = .float(try Self.parse(context, Float.self, prefix: prefix, targetCount: targetCount))
            }
        }

        /// A float list attribute or its `_as_tensor` double twin, as doubles (empty when neither is set).
        static func values(_ context: ONNXNodeContext, _ name: String) throws(SlipwayError) -> [Double] {
            if let tensor = try context.tensor("\(name)_as_tensor") {
                guard context.floats(name)?.isEmpty ?? true else {
                    throw context.invalid("attributes '\(name)' and '\(name)_as_tensor' are both set; use one")
                }
                return tensor.doubleValues ?? []
            }
            return (context.floats(name) ?? []).map(Double.init)
        }

        private struct NodeKey: Hashable {
            var tree: Int64
            var node: Int64
        }

        private static func parse<T: BinaryFloatingPoint & Sendable>(
            _ context: ONNXNodeContext, _: T.Type, prefix: String, targetCount: Int
        ) throws(SlipwayError) -> ONNXTreeEnsemble<T> {
            let treeIds = context.ints("nodes_treeids") ?? []
            let nodeIds = context.ints("nodes_nodeids") ?? []
            let featureIds = context.ints("nodes_featureids") ?? []
            let modes = context.strings("nodes_modes") ?? []
            let trueIds = context.ints("nodes_truenodeids") ?? []
            let falseIds = context.ints("nodes_falsenodeids") ?? []
            let tracks = context.ints("nodes_missing_value_tracks_true") ?? []
            let thresholds = try values(context, "nodes_values")
            let count = treeIds.count
            for (name, actual) in [
                ("nodes_nodeids", nodeIds.count), ("nodes_featureids", featureIds.count), ("nodes_modes", modes.count),
                ("nodes_truenodeids", trueIds.count), ("nodes_falsenodeids", falseIds.count),
                ("nodes_values", thresholds.count),
            ] {
                guard actual == count else {
                    throw context.invalid(
                        "attribute '\(name)' has \(actual) entries but 'nodes_treeids' has \(count); every nodes_* list "
                            + "needs one entry per node")
                }
            }
            // `nodes_missing_value_tracks_true` may be shorter than the node lists (onnxruntime reads the
            // missing entries as 0); only the value 1 sends NaN to the true branch.

            var index: [NodeKey: Int] = [:]
            index.reserveCapacity(count)
            var builder = ONNXTreeEnsembleBuilder<T>(targetCount: targetCount)
            var treeRoots: [Int64: Int] = [:]
            for i in 0..<count {
                let key = NodeKey(tree: treeIds[i], node: nodeIds[i])
                guard index.updateValue(i, forKey: key) == nil else {
                    throw context.invalid("nodes_nodeids[\(i)]: tree \(treeIds[i]) lists node \(nodeIds[i]) twice")
                }
                if treeRoots[treeIds[i]] == nil {
                    treeRoots[treeIds[i]] = i
                    builder.roots.append(i)
                }
                guard let mode = ONNXTreeNodeMode(legacyName: modes[i]) else {
                    throw context.invalid(
                        "nodes_modes[\(i)] is '\(modes[i])'; expected BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, "
                            + "BRANCH_EQ, BRANCH_NEQ or LEAF")
                }
                builder.drafts.append(
                    .init(
                        mode: mode, value: T(thresholds[i]),
                        missingTracksTrue: i < tracks.count && tracks[i] == 1))
            }
            for i in 0..<count where builder.drafts[i].mode != .leaf {
                guard featureIds[i] >= 0, featureIds[i] < Int64(Int32.max) else {
                    throw context.invalid("nodes_featureids[\(i)] is \(featureIds[i]), not a feature index")
                }
                builder.drafts[i].feature = Int32(featureIds[i])
                guard let trueChild = index[NodeKey(tree: treeIds[i], node: trueIds[i])] else {
                    throw context.invalid(
                        "nodes_truenodeids[\(i)] is \(trueIds[i]), but tree \(treeIds[i]) has no node \(trueIds[i])")
                }
                guard let falseChild = index[NodeKey(tree: treeIds[i], node: falseIds[i])] else {
                    throw context.invalid(
                        "nodes_falsenodeids[\(i)] is \(falseIds[i]), but tree \(treeIds[i]) has no node \(falseIds[i])")
                }
                builder.drafts[i].trueChild = trueChild
                builder.drafts[i].falseChild = falseChild
            }

            let ids = context.ints("\(prefix)_ids") ?? []
            let weightNodes = context.ints("\(prefix)_nodeids") ?? []
            let weightTrees = context.ints("\(prefix)_treeids") ?? []
            let weights = try values(context, "\(prefix)_weights")
            for (name, actual) in [
                ("\(prefix)_nodeids", weightNodes.count), ("\(prefix)_treeids", weightTrees.count),
                ("\(prefix)_weights", weights.count),
            ] {
                guard actual == ids.count else {
                    throw context.invalid(
                        "attribute '\(name)' has \(actual) entries but '\(prefix)_ids' has \(ids.count); every "
                            + "\(prefix)_* list needs one entry per leaf weight")
                }
            }
            let what =
                prefix == "class" ? (targetCount == 1 ? "class" : "classes") : (targetCount == 1 ? "target" : "targets")
            for k in 0..<ids.count {
                guard let leaf = index[NodeKey(tree: weightTrees[k], node: weightNodes[k])] else {
                    throw context.invalid(
                        "\(prefix)_nodeids[\(k)]: tree \(weightTrees[k]) has no node \(weightNodes[k])")
                }
                guard builder.drafts[leaf].mode == .leaf else { continue }  // onnxruntime ignores these too
                guard ids[k] >= 0, ids[k] < Int64(targetCount) else {
                    throw context.invalid(
                        "\(prefix)_ids[\(k)] is \(ids[k]), outside the model's \(targetCount) \(what)")
                }
                builder.weights.append((leaf, Int32(ids[k]), T(weights[k])))
            }
            return try builder.build(invalid: context.invalid) { i in "tree \(treeIds[i]), node \(nodeIds[i])" }
        }
    }

    /// TreeEnsemble (ai.onnx.ml opset 5): nodes addressed by position, children flagged as nodes or
    /// leaves, one weight per leaf, and set-membership splits.
    static func opset5(_ context: ONNXNodeContext, targetCount: Int) throws(SlipwayError) -> ONNXTreeModel {
        guard let splits = try context.tensor("nodes_splits") else {
            throw context.invalid("attribute 'nodes_splits' is missing")
        }
        switch splits.elementType {
        case .float: return .float(try opset5(context, Float.self, splits: splits, targetCount: targetCount))
        case .double: return .double(try opset5(context, Double.self, splits: splits, targetCount: targetCount))
        default:
            throw context.invalid(
                "attribute 'nodes_splits' must be a float or double tensor, got \(splits.elementType)")
        }
    }

    private static func opset5<T: BinaryFloatingPoint & Sendable>(
        _ context: ONNXNodeContext, _: T.Type, splits: ONNXTensor, targetCount: Int
    ) throws(SlipwayError) -> ONNXTreeEnsemble<T> {
        let thresholds = splits.doubleValues ?? []
        let features = context.ints("nodes_featureids") ?? []
        let trueIds = context.ints("nodes_truenodeids") ?? []
        let falseIds = context.ints("nodes_falsenodeids") ?? []
        let trueLeafs = context.ints("nodes_trueleafs") ?? []
        let falseLeafs = context.ints("nodes_falseleafs") ?? []
        let tracks = context.ints("nodes_missing_value_tracks_true") ?? []
        let roots = context.ints("tree_roots") ?? []
        let leafTargets = context.ints("leaf_targetids") ?? []
        let modes = try modeCodes(context)
        guard let leafWeightTensor = try context.tensor("leaf_weights") else {
            throw context.invalid("attribute 'leaf_weights' is missing")
        }
        guard leafWeightTensor.elementType == splits.elementType else {
            throw context.invalid(
                "attribute 'leaf_weights' is \(leafWeightTensor.elementType) but 'nodes_splits' is \(splits.elementType)"
            )
        }
        let leafWeights = leafWeightTensor.doubleValues ?? []
        let count = features.count
        for (name, actual) in [
            ("nodes_splits", thresholds.count), ("nodes_modes", modes.count), ("nodes_truenodeids", trueIds.count),
            ("nodes_falsenodeids", falseIds.count), ("nodes_trueleafs", trueLeafs.count),
            ("nodes_falseleafs", falseLeafs.count),
        ] {
            guard actual == count else {
                throw context.invalid(
                    "attribute '\(name)' has \(actual) entries but 'nodes_featureids' has \(count); every nodes_* "
                        + "attribute needs one entry per node")
            }
        }
        guard tracks.isEmpty || tracks.count == count else {
            throw context.invalid(
                "attribute 'nodes_missing_value_tracks_true' has \(tracks.count) entries, expected \(count) (one per node)"
            )
        }
        guard leafTargets.count == leafWeights.count else {
            throw context.invalid(
                "attribute 'leaf_targetids' has \(leafTargets.count) entries but 'leaf_weights' has \(leafWeights.count)"
            )
        }

        // Set-membership values: one NaN-terminated run per BRANCH_MEMBER node, in node order.
        let membership = try context.tensor("membership_values")?.doubleValues ?? []
        var builder = ONNXTreeEnsembleBuilder<T>(targetCount: targetCount)
        var cursor = 0
        for i in 0..<count {
            guard let mode = ONNXTreeNodeMode(opset5Code: modes[i]) else {
                throw context.invalid("nodes_modes[\(i)] is \(modes[i]); expected 0 (BRANCH_LEQ) to 6 (BRANCH_MEMBER)")
            }
            guard features[i] >= 0, features[i] < Int64(Int32.max) else {
                throw context.invalid("nodes_featureids[\(i)] is \(features[i]), not a feature index")
            }
            var draft = ONNXTreeEnsembleBuilder<T>.Draft(
                mode: mode, feature: Int32(features[i]), value: T(thresholds[i]),
                missingTracksTrue: i < tracks.count && tracks[i] == 1)
            if mode == .member {
                let start = builder.memberValues.count
                while cursor < membership.count, !membership[cursor].isNaN {
                    builder.memberValues.append(T(membership[cursor]))
                    cursor += 1
                }
                cursor += 1  // the NaN that ends this node's set
                guard builder.memberValues.count > start else {
                    throw context.invalid(
                        "node \(i) is BRANCH_MEMBER but 'membership_values' has no values for it (each such node "
                            + "needs a run of values ended by NaN, in node order)")
                }
                draft.members = start..<builder.memberValues.count
                // onnxruntime's two representations of a set; see `Draft.truncatesMembers`.
                let values = builder.memberValues[draft.members]
                let small = values.allSatisfy { $0 >= 0 && $0 < 31 }
                let integral = values.allSatisfy {
                    $0.rounded(.towardZero) == $0 && $0 >= -2_147_483_648 && $0 < 2_147_483_648
                }
                draft.truncatesMembers = !small && integral
            }
            builder.drafts.append(draft)
        }
        // Leaves follow the nodes: leaf j is draft count + j.
        for j in 0..<leafTargets.count {
            guard leafTargets[j] >= 0, leafTargets[j] < Int64(targetCount) else {
                throw context.invalid(
                    "leaf_targetids[\(j)] is \(leafTargets[j]), outside the model's \(targetCount) target\(targetCount == 1 ? "" : "s")"
                )
            }
            builder.drafts.append(.init(mode: .leaf, value: T(leafWeights[j])))
            builder.weights.append((count + j, Int32(leafTargets[j]), T(leafWeights[j])))
        }
        func child(_ ids: [Int64], _ leafs: [Int64], _ i: Int, _ name: String) throws(SlipwayError) -> Int {
            let id = ids[i]
            if leafs[i] != 0 {
                guard id >= 0, id < Int64(leafTargets.count) else {
                    throw context.invalid(
                        "\(name)[\(i)] is \(id), but there are \(leafTargets.count) leaves (leaf_targetids, leaf_weights)"
                    )
                }
                return count + Int(id)
            }
            guard id >= 0, id < Int64(count) else {
                throw context.invalid("\(name)[\(i)] is \(id), but there are \(count) nodes")
            }
            return Int(id)
        }
        for i in 0..<count {
            builder.drafts[i].trueChild = try child(trueIds, trueLeafs, i, "nodes_truenodeids")
            builder.drafts[i].falseChild = try child(falseIds, falseLeafs, i, "nodes_falsenodeids")
        }
        for (t, root) in roots.enumerated() {
            guard root >= 0, root < Int64(count) else {
                throw context.invalid("tree_roots[\(t)] is \(root), but there are \(count) nodes")
            }
            // A tree that is a single leaf: a root whose two children are the same leaf stands for the leaf
            // at the root's own index (the ONNX reference's rule, which onnxruntime follows).
            let r = Int(root)
            if trueLeafs[r] != 0, falseLeafs[r] != 0, trueIds[r] == falseIds[r] {
                guard root < Int64(leafTargets.count) else {
                    throw context.invalid(
                        "tree_roots[\(t)] is \(root), a single-leaf tree, but there are \(leafTargets.count) leaves")
                }
                builder.roots.append(count + Int(root))
            } else {
                builder.roots.append(Int(root))
            }
        }
        return try builder.build(invalid: context.invalid) { i in i < count ? "node \(i)" : "leaf \(i - count)" }
    }

    /// `nodes_modes`, a uint8 tensor (which ``ONNXTensor`` does not model, so it is read from the proto);
    /// integer tensors of other widths are accepted too.
    private static func modeCodes(_ context: ONNXNodeContext) throws(SlipwayError) -> [Int] {
        guard let attribute = context.attributes["nodes_modes"], attribute.hasT else {
            throw context.invalid("attribute 'nodes_modes' is missing (a uint8 tensor of split modes)")
        }
        let proto = attribute.t
        if proto.dataType == 2 {  // uint8
            if proto.hasRawData { return proto.rawData.map { Int($0) } }
            return proto.int32Data.map { Int($0) }
        }
        let tensor = try ONNXTensor(proto: proto, context: "attribute 'nodes_modes' of node '\(context.name)'")
        guard tensor.elementType == .int32 || tensor.elementType == .int64, let codes = tensor.int64Values else {
            throw context.invalid("attribute 'nodes_modes' must be a uint8 tensor, got \(tensor.elementType)")
        }
        return codes.map { Int(clamping: $0) }
    }
}

// MARK: - Regression

/// TreeEnsembleRegressor and TreeEnsemble (opset 5): `[N, n_targets]` scores.
struct TreeRegressorKernel: ONNXKernel {
    let model: ONNXTreeModel
    let baseValues: [Double]
    let aggregate: ONNXTreeAggregate
    let postTransform: ONNXPostTransform
    /// TreeEnsembleRegressor always outputs float; TreeEnsemble outputs the input's type.
    let outputsInputType: Bool

    init(legacy context: ONNXNodeContext) throws(SlipwayError) {
        let targets = context.int("n_targets", default: 1)
        guard targets >= 1, targets <= 1 << 20 else {
            throw context.invalid("attribute 'n_targets' is \(targets); it must be between 1 and \(1 << 20)")
        }
        let parsed = try ONNXTreeFormats.Legacy(context, prefix: "target", targetCount: targets)
        guard parsed.baseValues.isEmpty || parsed.baseValues.count == targets else {
            throw context.invalid(
                "attribute 'base_values' has \(parsed.baseValues.count) entries; it needs \(targets) (one per target) or none"
            )
        }
        let aggregateName = context.string("aggregate_function", default: "SUM")
        guard let aggregate = ONNXTreeAggregate(name: aggregateName) else {
            throw context.invalid("aggregate_function '\(aggregateName)' is not one of SUM, AVERAGE, MIN, MAX")
        }
        self.model = parsed.model
        self.baseValues = parsed.baseValues
        self.aggregate = aggregate
        self.postTransform = try ONNXPostTransform(context)
        self.outputsInputType = false
    }

    init(opset5 context: ONNXNodeContext) throws(SlipwayError) {
        guard let targets = context.int("n_targets") else { throw context.invalid("attribute 'n_targets' is missing") }
        guard targets >= 1, targets <= 1 << 20 else {
            throw context.invalid("attribute 'n_targets' is \(targets); it must be between 1 and \(1 << 20)")
        }
        let aggregateCode = context.int("aggregate_function", default: 1)
        guard let aggregate = ONNXTreeAggregate(code: aggregateCode) else {
            throw context.invalid(
                "aggregate_function is \(aggregateCode); expected 0 (AVERAGE), 1 (SUM), 2 (MIN) or 3 (MAX)")
        }
        let postCode = context.int("post_transform", default: 0)
        guard let post = ONNXPostTransform(onnxruntimeCode: postCode) else {
            throw context.invalid(
                "post_transform is \(postCode); expected 0 (NONE), 1 (LOGISTIC), 2 (SOFTMAX), 3 (SOFTMAX_ZERO) or 4 (PROBIT)"
            )
        }
        self.model = try ONNXTreeFormats.opset5(context, targetCount: targets)
        self.baseValues = []
        self.aggregate = aggregate
        self.postTransform = post
        self.outputsInputType = true
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        let (rows, scores) = try model.evaluate(input, aggregate: aggregate)
        let targets = model.targetCount
        let shape = [rows, targets]
        switch scores {
        case .float(let values, let hasScore):
            let result = finish(values, hasScore, rows: rows)
            if outputsInputType, input.elementType == .double {
                return [.tensor(ONNXTensor(shape: shape, doubles: result.map(Double.init)))]
            }
            return [.tensor(ONNXTensor(shape: shape, floats: result))]
        case .double(let values, let hasScore):
            let result = finish(values, hasScore, rows: rows)
            if outputsInputType, input.elementType == .double {
                return [.tensor(ONNXTensor(shape: shape, doubles: result))]
            }
            return [.tensor(ONNXTensor(shape: shape, floats: result.map { Float($0) }))]
        }
    }

    /// onnxruntime's `FinalizeScores`: base values, averaging and the post-transform.
    ///
    /// With one target the base value is added even when no leaf contributed, and only PROBIT applies
    /// (onnxruntime ignores the other transforms for a single score). With several, a target no leaf
    /// reached reads 0 whatever its base value, and the transform sees those zeros. Transforms run in
    /// float, as in onnxruntime, even for double results.
    private func finish<V: BinaryFloatingPoint>(_ scores: [V], _ hasScore: [Bool], rows: Int) -> [V] {
        let targets = model.targetCount
        let trees = V(model.treeCount)
        var result = [V](repeating: 0, count: scores.count)
        if targets == 1 {
            let origin = baseValues.count == 1 ? V(baseValues[0]) : 0
            for row in 0..<rows {
                let score = scores[row]
                let value: V
                switch aggregate {
                case .sum: value = score + origin
                case .average: value = score / trees + origin
                case .min, .max: value = hasScore[row] ? score + origin : origin
                }
                result[row] = postTransform == .probit ? V(ONNXPostTransform.probit(Float(value))) : value
            }
            return result
        }
        let base = baseValues.count == targets ? baseValues.map { V($0) } : [V](repeating: 0, count: targets)
        var row = [Float](repeating: 0, count: targets)
        for r in 0..<rows {
            for j in 0..<targets {
                let index = r * targets + j
                guard hasScore[index] else {
                    result[index] = 0
                    continue
                }
                switch aggregate {
                case .sum, .min, .max: result[index] = scores[index] + base[j]
                case .average: result[index] = scores[index] / trees + base[j]
                }
            }
            guard postTransform != .none else { continue }
            for j in 0..<targets { row[j] = Float(result[r * targets + j]) }
            postTransform.apply(to: &row)
            for j in 0..<targets { result[r * targets + j] = V(row[j]) }
        }
        return result
    }
}

// MARK: - Classification

/// TreeEnsembleClassifier: the top label per row and `[N, C]` float scores.
struct TreeClassifierKernel: ONNXKernel {
    let model: ONNXTreeModel
    let baseValues: [Double]
    let postTransform: ONNXPostTransform
    let labels: ONNXClassLabels
    /// onnxruntime's `binary_case_`: two classes and every weight for the same class id. The score is
    /// then one number, expanded into two columns after the fact.
    let binaryCase: Bool
    let weightsAllNonNegative: Bool

    init(_ context: ONNXNodeContext) throws(SlipwayError) {
        labels = try ONNXClassLabels(context, ints: "classlabels_int64s", strings: "classlabels_strings")
        guard labels.count >= 2 else {
            throw context.invalid(
                "the classifier has \(labels.count) class label\(labels.count == 1 ? "" : "s"); Slipway needs at least 2 "
                    + "(a binary model lists both classes)")
        }
        let parsed = try ONNXTreeFormats.Legacy(context, prefix: "class", targetCount: labels.count)
        // As onnxruntime: one per class or none (a binary model may also give one).
        let baseCount = parsed.baseValues.count
        guard baseCount == 0 || baseCount == labels.count || (labels.count == 2 && baseCount == 1) else {
            throw context.invalid(
                "attribute 'base_values' has \(baseCount) entries; it needs \(labels.count) (one per class) or none")
        }
        model = parsed.model
        baseValues = parsed.baseValues
        postTransform = try ONNXPostTransform(context)
        binaryCase = labels.count == 2 && parsed.distinctTargetIds == 1
        weightsAllNonNegative = parsed.weightsAllNonNegative
    }

    func run(_ inputs: [ONNXValue?]) throws(SlipwayError) -> [ONNXValue] {
        let input = try inputs.tensor(0)
        let (rows, scores) = try model.evaluate(input, aggregate: .sum)
        let classes = labels.count
        var output = [Float](repeating: 0, count: rows * classes)
        var choices = [ONNXClassLabels.Choice](repeating: .index(0), count: rows)
        switch scores {
        case .float(let values, let hasScore):
            finish(values, hasScore, rows: rows, scores: &output, choices: &choices)
        case .double(let values, let hasScore):
            finish(values, hasScore, rows: rows, scores: &output, choices: &choices)
        }
        return [.tensor(labels.tensor(choices)), .tensor(ONNXTensor(shape: [rows, classes], floats: output))]
    }

    /// onnxruntime's `TreeAggregatorClassifier::FinalizeScores`, row by row.
    private func finish<V: BinaryFloatingPoint>(
        _ scores: [V], _ hasScore: [Bool], rows: Int, scores output: inout [Float],
        choices: inout [ONNXClassLabels.Choice]
    ) {
        let classes = labels.count
        let base = baseValues.map { V($0) }
        var row = [Float](repeating: 0, count: classes)
        for r in 0..<rows {
            let offset = r * classes
            if classes > 2 {
                // Base values give their classes a score; the label is the first highest among classes
                // that have one.
                var best = -1
                var bestScore: V = 0
                for j in 0..<classes {
                    var score = scores[offset + j]
                    var has = hasScore[offset + j]
                    if j < base.count {
                        score = has ? score + base[j] : base[j]
                        has = true
                    }
                    row[j] = has ? Float(score) : 0
                    if has, best < 0 || score > bestScore {
                        best = j
                        bestScore = score
                    }
                }
                choices[r] = .index(Swift.max(best, 0))
                postTransform.apply(to: &row)
                for j in 0..<classes { output[offset + j] = row[j] }
            } else {
                let (choice, pair) = binary(
                    scores[offset], hasScore[offset], scores[offset + 1], hasScore[offset + 1], base: base, row: &row)
                choices[r] = choice
                output[offset] = pair.0
                output[offset + 1] = pair.1
            }
        }
    }

    /// Two classes, following onnxruntime case by case.
    ///
    /// Which of its branches applies depends on the base values and on whether class 1 received a
    /// score. When it did not (the usual binary model, whose weights all go to class 0), the single
    /// score `s` becomes two columns: `[logistic(-s), logistic(s)]` under LOGISTIC, otherwise `[1 - s, s]`
    /// when all weights are non-negative (probabilities) and `[-s, s]` when not; SOFTMAX and SOFTMAX_ZERO
    /// are not applied. PROBIT fills only the first column (and, with one base value outside the binary
    /// case, nothing transforms it at all): onnxruntime leaves the second column unwritten, and Slipway
    /// writes NaN there. The label is the second
    /// class when `s > 0.5` (non-negative weights) or `s > 0`. Outside the binary case (both class ids
    /// used) onnxruntime labels by the sign of class 1's score and, for integer labels, returns the
    /// literal 1 or 0 rather than a class label; Slipway does the same so results agree.
    private func binary<V: BinaryFloatingPoint>(
        _ score0: V, _ has0: Bool, _ score1: V, _ has1: Bool, base: [V], row: inout [Float]
    ) -> (ONNXClassLabels.Choice, (Float, Float)) {
        var (s0, s1, h1) = (score0, score1, has1)
        var single = false  // class 1 got no score: one column, expanded below
        var expansion = -1  // onnxruntime's `write_additional_scores`
        switch base.count {
        case 2:
            if h1 {
                // onnxruntime assumes the weights are on class 0 here and drops class 1's sum.
                s1 = base[1] + s0
                s0 = -s1
            } else {
                s1 += base[1]
                s0 += base[0]
            }
        case 1:
            s0 += base[0]
            single = !h1
        case 0:
            expansion = 3
            single = !h1
        default:
            break
        }
        // A score without has_score reads as 0.
        let v0 = has0 ? s0 : 0
        let positive = !single && h1 ? s1 : v0
        let choice: ONNXClassLabels.Choice
        if binaryCase {
            if weightsAllNonNegative {
                expansion = positive > 0.5 ? 0 : 1
            } else {
                expansion = positive > 0 ? 2 : 3
            }
            choice = .index(positive > (weightsAllNonNegative ? 0.5 : 0) ? 1 : 0)
        } else {
            choice = .literal(positive > 0 ? 1 : 0)
        }
        if !single {
            (row[0], row[1]) = (Float(v0), h1 ? Float(s1) : 0)
            postTransform.apply(to: &row)
            return (choice, (row[0], row[1]))
        }
        if postTransform == .probit { return (choice, (ONNXPostTransform.probit(Float(v0)), .nan)) }
        switch expansion {
        case 0, 1, 2, 3:
            if postTransform == .logistic {
                return (choice, (ONNXPostTransform.logistic(Float(-v0)), ONNXPostTransform.logistic(Float(v0))))
            }
            return expansion <= 1 ? (choice, (Float(1 - v0), Float(v0))) : (choice, (Float(-v0), Float(v0)))
        default:
            return (choice, (Float(v0), .nan))
        }
    }
}
