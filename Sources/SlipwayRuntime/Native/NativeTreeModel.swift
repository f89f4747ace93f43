import SlipwayCore

/// A validated native tree ensemble on the shared flattened ``TreeEnsemble``.
///
/// The native split rule is the ensemble's own (`x <= threshold` goes left, NaN follows `default_left`),
/// so thresholds are stored unchanged. Leaf values are summed in `Double` in tree order, starting from
/// the base margins; outputs are rounded to `Float` once, after the link.
struct NativeTreeModel: Sendable {
    let featureCount: Int
    let outputCount: Int
    let link: NativeModelDocument.Link
    let ensemble: TreeEnsemble
    /// Values per leaf: 1, or ``outputCount``.
    let leafSize: Int
    /// Indexed by `leaf payload × leafSize`.
    let leafValues: [Float]
    /// Each tree's output when ``leafSize`` is 1.
    let treeOutputs: [Int32]
    let baseMargins: [Double]

    init(document: NativeModelDocument) throws(SlipwayError) {
        let header = try NativeModelValidator.header(document)
        guard let section = document.treeEnsemble else {
            throw NativeModelValidator.invalid("tree_ensemble is missing")
        }
        let outputs = header.outputCount
        try NativeModelValidator.link(section.link, task: document.task, field: "tree_ensemble.link")
        try NativeModelValidator.count(
            section.baseMargin.count, outputs, field: "tree_ensemble.base_margin", per: "per output")
        try NativeModelValidator.finite(section.baseMargin, field: "tree_ensemble.base_margin")
        let leafSize = section.leafSize ?? 1
        guard leafSize == 1 || leafSize == outputs else {
            throw NativeModelValidator.invalid(
                "tree_ensemble.leaf_size must be 1 or the output count (\(outputs)), not \(leafSize)")
        }
        guard section.trees.count <= NativeModelLimits.maxTrees else {
            throw NativeModelValidator.invalid(
                "tree_ensemble.trees holds more than \(NativeModelLimits.maxTrees) trees")
        }

        var ensemble = TreeEnsemble()
        var leafValues: [Float] = []
        var treeOutputs: [Int32] = []
        treeOutputs.reserveCapacity(section.trees.count)
        for (index, tree) in section.trees.enumerated() {
            let name = "tree_ensemble.trees[\(index)]"
            let output = tree.output ?? 0
            guard output >= 0, output < (leafSize == 1 ? outputs : 1) else {
                throw NativeModelValidator.invalid(
                    leafSize == 1
                        ? "\(name).output \(output) is outside the model's \(outputs) outputs"
                        : "\(name).output must be absent or 0 when leaves hold a value per output")
            }
            let (draft, values) = try Self.draft(tree, leafSize: leafSize, name: name)
            let leaves: [Int]
            do {
                leaves = try ensemble.append(draft, featureCount: header.featureCount, name: name)
            } catch {
                throw NativeModelValidator.invalid(error.message)
            }
            assert(leaves.count * leafSize == values.count)
            leafValues.append(contentsOf: values)
            treeOutputs.append(Int32(output))
        }

        featureCount = header.featureCount
        outputCount = outputs
        link = section.link
        self.ensemble = ensemble
        self.leafSize = leafSize
        self.leafValues = leafValues
        self.treeOutputs = treeOutputs
        baseMargins = section.baseMargin.map(Double.init)
    }

    /// Converts one document tree into draft nodes (root first) and its leaf values in node order.
    static func draft(
        _ tree: NativeModelDocument.TreeEnsembleSection.Tree, leafSize: Int, name: String
    ) throws(SlipwayError) -> ([TreeEnsemble.DraftNode], [Float]) {
        let count = tree.left.count
        guard (1...NativeModelLimits.maxNodesPerTree).contains(count) else {
            throw NativeModelValidator.invalid(
                "\(name) must have 1...\(NativeModelLimits.maxNodesPerTree) nodes, it has \(count)")
        }
        for (field, actual) in [
            ("right", tree.right.count), ("feature", tree.feature.count), ("threshold", tree.threshold.count),
            ("default_left", tree.defaultLeft.count),
        ] {
            try NativeModelValidator.count(actual, count, field: "\(name).\(field)", per: "per node, as left has")
        }
        try NativeModelValidator.count(
            tree.value.count, count * leafSize, field: "\(name).value", per: "per node and leaf value")

        var draft: [TreeEnsemble.DraftNode] = []
        var leafValues: [Float] = []
        draft.reserveCapacity(count)
        for node in 0..<count {
            let left = tree.left[node]
            let right = tree.right[node]
            if left == -1 || right == -1 {
                guard left == -1, right == -1 else {
                    throw NativeModelValidator.invalid(
                        "\(name) node \(node): a leaf has left and right -1, a split has both children")
                }
                let values = tree.value[(node * leafSize)..<((node + 1) * leafSize)]
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw NativeModelValidator.invalid("\(name).value[\(bad)] is not a finite number")
                }
                leafValues.append(contentsOf: values)
                draft.append(TreeEnsemble.DraftNode(split: nil))
            } else {
                guard tree.threshold[node].isFinite else {
                    throw NativeModelValidator.invalid("\(name).threshold[\(node)] is not a finite number")
                }
                // TreeEnsemble.append checks children and features are in range and the nodes form a tree.
                draft.append(
                    TreeEnsemble.DraftNode(
                        split: .init(
                            feature: tree.feature[node], threshold: tree.threshold[node], left: left, right: right,
                            kind: .numericalMissingNaN, defaultLeft: tree.defaultLeft[node])))
            }
        }
        return (draft, leafValues)
    }

    /// Predicts `rows` rows; the caller has validated the buffers' sizes.
    func predict(_ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>) {
        let features = featureCount
        let outputs = outputCount
        let leafSize = leafSize
        withUnsafeTemporaryAllocation(of: Double.self, capacity: outputs) { margins in
            ensemble.withStorage { nodes, words in
                leafValues.withUnsafeBufferPointer { leafValues in
                    treeOutputs.withUnsafeBufferPointer { treeOutputs in
                        for row in 0..<rows {
                            let x = input + row * features
                            for k in 0..<outputs { margins[k] = baseMargins[k] }
                            for tree in 0..<ensemble.treeCount {
                                let leaf = ensemble.leaf(tree: tree, row: x, nodes: nodes, categoryWords: words)
                                if leafSize == 1 {
                                    margins[Int(treeOutputs[tree])] += Double(leafValues[leaf])
                                } else {
                                    let values = leaf * leafSize
                                    for k in 0..<outputs { margins[k] += Double(leafValues[values + k]) }
                                }
                            }
                            NativeLink.apply(link, margins: margins, into: output + row * outputs)
                        }
                    }
                }
            }
        }
    }
}
