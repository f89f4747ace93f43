import SlipwayCore

/// Decision trees flattened into one contiguous node array, shared by the XGBoost and LightGBM
/// predictors.
///
/// Every numerical split is normalised to "go left when `x <= threshold`" on a 32-bit float: XGBoost's
/// `x < t` becomes `x <= t.nextDown`, and LightGBM's double threshold becomes the largest float not
/// above it. Both rewrites are exact for float inputs, so traversal needs no per-format branches.
///
/// A ``Builder`` validates each tree as it is added (every child and feature index in bounds, one
/// parent per node, every node reachable, bounded depth), which is what lets ``leaf(tree:row:nodes:categoryWords:)``
/// walk the nodes without bounds checks or a step limit.
struct TreeEnsemble: Sendable {
    /// How a split treats its feature value.
    enum SplitKind: UInt8, Sendable {
        /// NaN goes the default way; otherwise left when `x <= threshold`.
        case numericalMissingNaN
        /// NaN counts as 0, and values within ±``zeroThreshold`` go the default way (LightGBM `zero_as_missing`).
        case numericalMissingZero
        /// NaN counts as 0; no default direction (LightGBM `use_missing=false`).
        case numericalMissingNone
        /// Left when the integer category is in the node's set; NaN and negative values go right.
        case categorical
    }

    struct Node: Sendable {
        /// Left when `x <= threshold` (numerical splits).
        var threshold: Float
        /// The feature index, or -1 for a leaf.
        var feature: Int32
        /// Absolute node indices of the children (unused for leaves).
        var left: Int32
        var right: Int32
        /// A leaf's index into the predictor's leaf values, or a categorical split's index into
        /// ``categorySets``.
        var payload: UInt32
        var kind: SplitKind
        var defaultLeft: Bool
    }

    /// A compact node for the batch path's lockstep traversal, used when every split is
    /// ``SplitKind/numericalMissingNaN`` or ``SplitKind/numericalMissingNone``. A leaf points to itself on
    /// both sides (and reads feature 0), so walking a tree a fixed ``treeDepths`` steps lands every row on
    /// its leaf without a per-node leaf test.
    ///
    /// Each step is one comparison, `v <= threshold` with `v` the feature value, sign-flipped when the
    /// node says so; it is false for NaN, which then takes ``whenGreater``. A split whose NaN goes right
    /// is stored as is (`x <= t`: left, else right). One whose NaN goes left is stored as `-x <= -t.nextUp`,
    /// which is `x > t` (right, else left) for every non-NaN float, and false for NaN.
    struct BatchNode: Sendable {
        /// For a leaf, the bit pattern of its payload (compared, but both of a leaf's children are itself).
        var threshold: Float
        /// The feature index in the low 31 bits; the top bit set when the value's sign is flipped.
        var featureAndSign: UInt32
        /// The child when `v <= threshold`, then the other one; adjacent, so the walk picks one by
        /// address rather than by a select the compiler could turn back into a branch.
        var whenLessOrEqual: Int32
        var whenGreater: Int32
    }

    /// The byte offset of ``BatchNode/whenLessOrEqual``; ``BatchNode/whenGreater`` is the 4 bytes after it.
    static let batchChildrenOffset: Int = {
        let offset = MemoryLayout<BatchNode>.offset(of: \BatchNode.whenLessOrEqual)!
        precondition(MemoryLayout<BatchNode>.offset(of: \BatchNode.whenGreater) == offset + 4)
        return offset
    }()

    /// A range of ``categoryWords`` holding one categorical split's bitset.
    struct CategorySet: Sendable {
        var start: Int32
        var count: Int32
    }

    /// LightGBM's `kZeroThreshold` (`1e-35f`): values this close to zero count as zero.
    static let zeroThreshold: Float = 1e-35

    /// The longest root-to-leaf path accepted; far beyond what boosting produces, it bounds the
    /// per-row cost of a hostile file.
    static let maxDepth = 1024

    private(set) var nodes: [Node] = []
    /// The index in ``nodes`` of each tree's root.
    private(set) var roots: [Int32] = []
    private(set) var categorySets: [CategorySet] = []
    private(set) var categoryWords: [UInt32] = []
    /// How many leaves all trees have together; leaf payloads index `0..<leafCount`.
    private(set) var leafCount = 0
    /// ``nodes`` in ``BatchNode`` form (same indices); meaningful only when ``batchNodesUsable``.
    private(set) var batchNodes: [BatchNode] = []
    /// Each tree's depth: the most splits on any root-to-leaf path.
    private(set) var treeDepths: [Int32] = []
    /// Whether every split so far is ``SplitKind/numericalMissingNaN`` or ``SplitKind/numericalMissingNone``
    /// (and every feature index fits in 31 bits), so ``batchNodes`` can be walked.
    private(set) var batchNodesUsable = true

    var treeCount: Int { roots.count }

    /// One tree before flattening, with node indices local to the tree and the root at 0.
    struct DraftNode {
        /// `nil` for a leaf.
        var split: Split?

        struct Split {
            var feature: Int
            var threshold: Float
            var left: Int
            var right: Int
            var kind: SplitKind
            var defaultLeft: Bool
            /// For categorical splits: the bitset of categories that go left.
            var categories: ArraySlice<UInt32> = []
        }
    }

    /// Validates a tree and appends it.
    /// - Parameters:
    ///   - draft: the tree's nodes, root first.
    ///   - featureCount: the model's feature count; every split feature must be below it.
    ///   - name: how to name this tree in error messages, e.g. `tree 3`.
    /// - Returns: for each draft node that is a leaf, its leaf index (in draft order); callers store
    ///   leaf values at those indices.
    mutating func append(_ draft: [DraftNode], featureCount: Int, name: String) throws(SlipwayError) -> [Int] {
        guard !draft.isEmpty else { throw .unprocessable("\(name) has no nodes", code: "invalid_model") }
        guard nodes.count + draft.count <= Int(Int32.max) else {
            throw .unprocessable("the model has too many nodes", code: "invalid_model")
        }
        // Each node but the root has exactly one parent and the root has none; together with every node
        // being reachable from the root, that makes the draft a tree (no cycles, no shared subtrees).
        var hasParent = [Bool](repeating: false, count: draft.count)
        for (index, node) in draft.enumerated() {
            guard let split = node.split else { continue }
            for child in [split.left, split.right] {
                guard child > 0, child < draft.count else {
                    throw .unprocessable(
                        "\(name), node \(index): child index \(child) is outside the tree's \(draft.count) nodes",
                        code: "invalid_model")
                }
                guard !hasParent[child] else {
                    throw .unprocessable(
                        "\(name), node \(index): node \(child) has two parents (the tree has a cycle or shared node)",
                        code: "invalid_model")
                }
                hasParent[child] = true
            }
            guard split.feature >= 0, split.feature < featureCount else {
                throw .unprocessable(
                    "\(name), node \(index): feature index \(split.feature) is outside the model's \(featureCount) features",
                    code: "invalid_model")
            }
        }
        var reached = 0
        var treeDepth = 0
        var stack: [(node: Int, depth: Int)] = [(0, 0)]
        while let (node, depth) = stack.popLast() {
            reached += 1
            treeDepth = max(treeDepth, depth)
            guard depth <= Self.maxDepth else {
                throw .unprocessable("\(name) is deeper than \(Self.maxDepth) levels", code: "invalid_model")
            }
            if let split = draft[node].split {
                stack.append((split.left, depth + 1))
                stack.append((split.right, depth + 1))
            }
        }
        guard reached == draft.count else {
            throw .unprocessable(
                "\(name): \(draft.count - reached) of its \(draft.count) nodes are not reachable from the root",
                code: "invalid_model")
        }

        let base = nodes.count
        var leafIndices: [Int] = []
        roots.append(Int32(base))
        treeDepths.append(Int32(treeDepth))
        for node in draft {
            guard let split = node.split else {
                let index = Int32(nodes.count)
                batchNodes.append(
                    BatchNode(
                        threshold: Float(bitPattern: UInt32(leafCount)), featureAndSign: 0, whenLessOrEqual: index,
                        whenGreater: index))
                leafIndices.append(leafCount)
                nodes.append(
                    Node(
                        threshold: 0, feature: -1, left: -1, right: -1, payload: UInt32(leafCount),
                        kind: .numericalMissingNaN, defaultLeft: false))
                leafCount += 1
                continue
            }
            var payload: UInt32 = 0
            if split.kind == .categorical {
                payload = UInt32(categorySets.count)
                categorySets.append(
                    CategorySet(start: Int32(categoryWords.count), count: Int32(split.categories.count)))
                categoryWords.append(contentsOf: split.categories)
            }
            // A split with no missing value (NaN counts as 0) is a NaN-as-missing split whose NaN goes the
            // way 0 goes: `0 <= threshold` is fixed per node.
            let batchFeature = UInt32(truncatingIfNeeded: split.feature) & 0x7fff_ffff
            let nanLeft: Bool
            switch split.kind {
            case .numericalMissingNaN: nanLeft = split.defaultLeft
            case .numericalMissingNone: nanLeft = 0 <= split.threshold
            case .numericalMissingZero, .categorical:
                nanLeft = false
                batchNodesUsable = false
            }
            if Int(batchFeature) != split.feature { batchNodesUsable = false }
            let left = Int32(base + split.left)
            let right = Int32(base + split.right)
            if nanLeft {
                // `x > t` as `-x <= -t.nextUp`. Nothing is above +inf and nothing compares with NaN: both
                // send every value left, as the NaN threshold does.
                let t = split.threshold
                let negated: Float = t.isNaN || t == .infinity ? .nan : -t.nextUp
                batchNodes.append(
                    BatchNode(
                        threshold: negated, featureAndSign: batchFeature | 0x8000_0000, whenLessOrEqual: right,
                        whenGreater: left))
            } else {
                batchNodes.append(
                    BatchNode(
                        threshold: split.threshold, featureAndSign: batchFeature, whenLessOrEqual: left,
                        whenGreater: right))
            }
            nodes.append(
                Node(
                    threshold: split.threshold, feature: Int32(split.feature), left: Int32(base + split.left),
                    right: Int32(base + split.right), payload: payload, kind: split.kind,
                    defaultLeft: split.defaultLeft))
        }
        return leafIndices
    }

    /// Calls `body` with the node and category storage that ``leaf(tree:row:nodes:categoryWords:)``
    /// reads. Either array may be empty (a model with no trees, or no categorical splits); a dummy
    /// pointer stands in then, never dereferenced.
    func withStorage<R>(_ body: (UnsafePointer<Node>, UnsafePointer<UInt32>) -> R) -> R {
        nodes.withUnsafeBufferPointer { nodes in
            categoryWords.withUnsafeBufferPointer { words in
                var dummyNode = Node(
                    threshold: 0, feature: -1, left: -1, right: -1, payload: 0, kind: .numericalMissingNaN,
                    defaultLeft: false)
                var dummyWord: UInt32 = 0
                return withUnsafePointer(to: &dummyNode) { dummyNode in
                    withUnsafePointer(to: &dummyWord) { dummyWord in
                        body(nodes.baseAddress ?? dummyNode, words.baseAddress ?? dummyWord)
                    }
                }
            }
        }
    }

    /// Walks one tree for `count` rows (row `r` at `rows + r * stride`) and writes each row's leaf payload
    /// (its leaf index) to `leaves[r]`; the same leaves as ``leaf(tree:row:nodes:categoryWords:)``.
    ///
    /// When every split is numerical with NaN as missing or no missing value, the rows advance in lockstep
    /// through ``batchNodes``, one level at a time and without branches, so the walks of different rows
    /// overlap instead of each waiting on its own chain of loads. Otherwise each row walks ``nodes`` alone.
    ///
    /// - Precondition: as for ``leaf(tree:row:nodes:categoryWords:)``, for each of the rows, and
    ///   `batchNodes` is ``batchNodes``' storage (or any pointer when ``batchNodesUsable`` is false).
    @inline(__always)
    func leaves(
        tree: Int, rows: UnsafePointer<Float>, count: Int, stride: Int, nodes: UnsafePointer<Node>,
        batchNodes: UnsafePointer<BatchNode>, categoryWords: UnsafePointer<UInt32>,
        into leaves: UnsafeMutablePointer<Int32>
    ) {
        guard batchNodesUsable else {
            for r in 0..<count {
                let leaf = leaf(tree: tree, row: rows + r * stride, nodes: nodes, categoryWords: categoryWords)
                leaves[r] = Int32(truncatingIfNeeded: leaf)
            }
            return
        }
        let root = roots[tree]
        for r in 0..<count { leaves[r] = root }
        for _ in 0..<Int(treeDepths[tree]) {
            var row = rows
            for r in 0..<count {
                let node = batchNodes[Int(leaves[r])]
                let x = row[Int(node.featureAndSign & 0x7fff_ffff)]
                let v = Float(bitPattern: x.bitPattern ^ (node.featureAndSign & 0x8000_0000))
                let greater = Int(UInt8(unsafeBitCast(v <= node.threshold, to: UInt8.self)) ^ 1)
                leaves[r] = UnsafeRawPointer(batchNodes + Int(leaves[r])).load(
                    fromByteOffset: Self.batchChildrenOffset &+ greater &* 4, as: Int32.self)
                row += stride
            }
        }
        for r in 0..<count {
            leaves[r] = Int32(truncatingIfNeeded: batchNodes[Int(leaves[r])].threshold.bitPattern)
        }
    }

    /// Calls `body` with ``batchNodes``' storage (a dummy pointer, never dereferenced, when it is empty).
    func withBatchNodes<R>(_ body: (UnsafePointer<BatchNode>) -> R) -> R {
        batchNodes.withUnsafeBufferPointer { batchNodes in
            var dummy = BatchNode(threshold: 0, featureAndSign: 0, whenLessOrEqual: 0, whenGreater: 0)
            return withUnsafePointer(to: &dummy) { dummy in body(batchNodes.baseAddress ?? dummy) }
        }
    }

    /// Walks one tree for one row and returns the leaf's payload (its leaf index).
    ///
    /// - Precondition: `row` points at `featureCount` floats, `nodes` is ``nodes``' storage, and
    ///   `categoryWords` is ``categoryWords``' storage.
    @inline(__always)
    func leaf(
        tree: Int, row: UnsafePointer<Float>, nodes: UnsafePointer<Node>, categoryWords: UnsafePointer<UInt32>
    ) -> Int {
        var index = Int(roots[tree])
        while true {
            let node = nodes[index]
            if node.feature < 0 { return Int(node.payload) }
            let x = row[Int(node.feature)]
            let goLeft: Bool
            switch node.kind {
            case .numericalMissingNaN:
                goLeft = x.isNaN ? node.defaultLeft : x <= node.threshold
            case .numericalMissingZero:
                let value = x.isNaN ? 0 : x
                goLeft = abs(value) <= Self.zeroThreshold ? node.defaultLeft : value <= node.threshold
            case .numericalMissingNone:
                goLeft = (x.isNaN ? 0 : x) <= node.threshold
            case .categorical:
                goLeft = Self.categoryGoesLeft(x, set: categorySets[Int(node.payload)], words: categoryWords)
            }
            index = Int(goLeft ? node.left : node.right)
        }
    }

    /// LightGBM's rule: the value is truncated to an integer; NaN, negative and (as x86 converts them)
    /// out-of-`Int32`-range values go right, as do categories beyond the bitset.
    @inline(__always)
    private static func categoryGoesLeft(_ x: Float, set: CategorySet, words: UnsafePointer<UInt32>) -> Bool {
        // Also false for NaN. Values in (-1, 0) truncate to category 0, as in LightGBM.
        guard x > -1, x < 2_147_483_648 else { return false }
        let category = Int(x.rounded(.towardZero))
        let word = category >> 5
        guard word < Int(set.count) else { return false }
        return (words[Int(set.start) + word] >> UInt32(category & 31)) & 1 == 1
    }
}
