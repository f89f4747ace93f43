import SlipwayCore

/// How an ONNX tree node decides between its children, or that it is a leaf.
///
/// A split sends a row to its true child when the comparison of the feature value `x` with the node's
/// value holds (`x <= value` for `leq`, …, `x` in the node's set for `member`), or when `x` is NaN and the
/// node's `missing_value_tracks_true` is set; otherwise to its false child. Comparisons involving NaN
/// are false, so without that flag NaN takes the false branch (for `neq` too: `NaN != v` is true in
/// IEEE arithmetic, and onnxruntime follows C++, where it is also true; so does Slipway).
enum ONNXTreeNodeMode: UInt8, Sendable {
    case leq, lt, gte, gt, eq, neq, member, leaf

    /// The `nodes_modes` strings of TreeEnsembleClassifier and TreeEnsembleRegressor.
    init?(legacyName: String) {
        switch legacyName {
        case "BRANCH_LEQ": self = .leq
        case "BRANCH_LT": self = .lt
        case "BRANCH_GTE": self = .gte
        case "BRANCH_GT": self = .gt
        case "BRANCH_EQ": self = .eq
        case "BRANCH_NEQ": self = .neq
        case "LEAF": self = .leaf
        default: return nil
        }
    }

    /// The `nodes_modes` codes of TreeEnsemble (ai.onnx.ml opset 5), which has no leaf mode.
    init?(opset5Code: Int) {
        switch opset5Code {
        case 0: self = .leq
        case 1: self = .lt
        case 2: self = .gte
        case 3: self = .gt
        case 4: self = .eq
        case 5: self = .neq
        case 6: self = .member
        default: return nil
        }
    }
}

/// How the leaf weights the trees reach for one row combine per target.
enum ONNXTreeAggregate: Sendable {
    case sum, average, min, max

    init?(name: String) {
        switch name {
        case "SUM": self = .sum
        case "AVERAGE": self = .average
        case "MIN": self = .min
        case "MAX": self = .max
        default: return nil
        }
    }

    /// TreeEnsemble's (opset 5) integer codes.
    init?(code: Int) {
        switch code {
        case 0: self = .average
        case 1: self = .sum
        case 2: self = .min
        case 3: self = .max
        default: return nil
        }
    }
}

/// An ONNX tree ensemble flattened into one node array, evaluated the way onnxruntime does.
///
/// Every tree operator (TreeEnsembleClassifier, TreeEnsembleRegressor and opset 5's TreeEnsemble) is
/// parsed into an ``ONNXTreeEnsembleBuilder`` and then into this form. Nodes are laid out tree by tree in
/// depth-first order with each false child right after its parent where possible, so the common path
/// through a tree walks forward in memory. Children are absolute node indices.
///
/// Trees are directed acyclic graphs rather than strict trees: onnxmltools' LightGBM converter expresses
/// a categorical split as a chain of `BRANCH_EQ` nodes whose true branches share one child, and
/// onnxruntime accepts that. ``ONNXTreeEnsembleBuilder/build(invalid:describe:)`` checks every child index,
/// rejects cycles and bounds the longest root-to-leaf path, which is what lets the walk run without
/// bounds checks or a step limit.
///
/// `Threshold` is the precision of thresholds and leaf weights as stored; the walk compares and
/// accumulates in the precision of the input (`Value`), like onnxruntime's `ThresholdType`, which is
/// `double` for double inputs and `float` otherwise.
struct ONNXTreeEnsemble<Threshold: BinaryFloatingPoint & Sendable>: Sendable {
    struct Node: Sendable {
        /// A split's threshold. For a `member` split, the index of its set in ``memberBounds`` (exact:
        /// the builder keeps set counts below 2^24). For a leaf, the weight onnxruntime's single-target
        /// path adds: its first weight, or the leaf's own `nodes_values` entry when it has none.
        var value: Threshold
        /// The feature a split reads (0 for a leaf).
        var feature: Int32
        /// A split's children. A leaf is its own child on both sides, so a walk that takes a fixed number
        /// of steps stays on it (see ``accumulate(rows:count:stride:aggregate:scores:hasScore:)``).
        var trueChild: Int32
        var falseChild: Int32
        var mode: ONNXTreeNodeMode
        var missingTracksTrue: Bool
    }

    struct LeafWeights: Sendable {
        var start: Int32
        var count: Int32
    }

    /// The byte offset of ``Node/trueChild``; ``Node/falseChild`` is the 4 bytes after it, so a walk can
    /// pick a child by address arithmetic instead of a branch.
    static var childrenOffset: Int {
        let offset = MemoryLayout<Node>.offset(of: \Node.trueChild)!
        assert(MemoryLayout<Node>.offset(of: \Node.falseChild) == offset + 4)
        return offset
    }

    let nodes: [Node]
    /// Each tree's first node, in tree order (the order onnxruntime sums in).
    let roots: [Int32]
    /// Each tree's depth: the most splits on a path from its root.
    let depths: [Int32]
    /// For each leaf (by node index), the range of its weights in ``weightTargets`` and ``weightValues``.
    let leafWeights: [LeafWeights]
    /// Leaf weights: the target (or class) each is for, and its value.
    let weightTargets: [Int32]
    let weightValues: [Threshold]
    /// Set `k` of a `member` split is `memberValues[memberBounds[k]..<memberBounds[k + 1]]`, sorted.
    let memberBounds: [Int32]
    let memberValues: [Threshold]
    /// Per set: whether membership tests the input truncated to an `Int32` (see
    /// ``ONNXTreeEnsembleBuilder/Draft/truncatesMembers``) rather than the value itself.
    let memberTruncates: [Bool]
    /// How many targets (regressors) or classes (classifiers) the weights go to.
    let targetCount: Int
    /// One more than the largest feature index any split reads: the fewest features a row may have.
    let requiredFeatures: Int
    /// The comparison every split uses, when they all use the same one (and it is not `member`); the
    /// walk then runs without a per-node switch.
    let uniformMode: ONNXTreeNodeMode?
    /// Whether any split sends NaN to its true child (`missing_value_tracks_true`).
    let tracksMissing: Bool

    /// The longest root-to-leaf path accepted. A generous bound (onnxmltools' BRANCH_EQ chains for
    /// categorical splits add one level per category), it caps the per-row cost of a hostile file.
    static var maxDepth: Int { 8192 }

    var treeCount: Int { roots.count }

    /// Walks every tree for `count` rows (row `r` at `rows + r * stride`) and combines the weights of the
    /// leaves reached into `scores` and `hasScore` (`count * targetCount` each, zero and false on entry).
    ///
    /// `hasScore` records which targets some leaf contributed to: onnxruntime's `ScoreValue::has_score`,
    /// which decides several of its outputs (a target no leaf reached reads as 0, whatever its base
    /// value). With one target the weights come from each leaf's ``Node/value``, as in onnxruntime's
    /// single-target path; `hasScore` then only tracks MIN and MAX.
    ///
    /// Rows are processed in blocks of 128 with the trees in the outer loop, so a tree's nodes stay in
    /// cache while it is walked for every row of the block; each row still sums its trees in tree
    /// order, the order onnxruntime uses, so float sums agree bit for bit with its single-threaded path.
    /// When every split uses the same comparison, the rows of a block walk a tree in lockstep, one
    /// level at a time for the tree's depth (a leaf steps to itself), so the loads of different rows
    /// overlap instead of each row waiting on its own chain of dependent loads.
    ///
    /// - Precondition: `stride >= requiredFeatures`.
    func accumulate<Value: BinaryFloatingPoint>(
        rows: UnsafePointer<Value>, count: Int, stride: Int, aggregate: ONNXTreeAggregate,
        scores: UnsafeMutablePointer<Value>, hasScore: UnsafeMutablePointer<Bool>
    ) {
        precondition(stride >= requiredFeatures, "rows are shorter than the features the trees read")
        nodes.withUnsafeBufferPointer { nodeBuffer in
            memberValues.withUnsafeBufferPointer { memberBuffer in
                leafWeights.withUnsafeBufferPointer { leafBuffer in
                    weightTargets.withUnsafeBufferPointer { targetBuffer in
                        weightValues.withUnsafeBufferPointer { valueBuffer in
                            guard let nodes = nodeBuffer.baseAddress else { return }  // no trees: nothing to add
                            let sink = LeafSink(
                                nodes: nodes, leafWeights: leafBuffer, weightTargets: targetBuffer,
                                weightValues: valueBuffer, targetCount: targetCount, aggregate: aggregate,
                                scores: scores, hasScore: hasScore)
                            walk(nodes, memberBuffer, rows, count, stride, sink)
                        }
                    }
                }
            }
        }
    }

    /// Picks the walker for the ensemble's split modes and runs it over every row.
    private func walk<Value: BinaryFloatingPoint>(
        _ nodes: UnsafePointer<Node>, _ members: UnsafeBufferPointer<Threshold>, _ rows: UnsafePointer<Value>,
        _ count: Int, _ stride: Int, _ sink: LeafSink<Threshold, Value>
    ) {
        if tracksMissing {
            walk(TrackMissing.self, nodes, members, rows, count, stride, sink)
        } else {
            walk(IgnoreMissing.self, nodes, members, rows, count, stride, sink)
        }
    }

    private func walk<Value: BinaryFloatingPoint, Missing: MissingPolicy>(
        _: Missing.Type, _ nodes: UnsafePointer<Node>, _ members: UnsafeBufferPointer<Threshold>,
        _ rows: UnsafePointer<Value>, _ count: Int, _ stride: Int, _ sink: LeafSink<Threshold, Value>
    ) {
        typealias Uniform<Rule: SplitRule> = UniformWalker<Threshold, Value, Rule, Missing>
        switch uniformMode {
        case .leq?: walkBlocks(Uniform<LessOrEqual>(nodes: nodes), rows, count, stride, sink)
        case .lt?: walkBlocks(Uniform<Less>(nodes: nodes), rows, count, stride, sink)
        case .gte?: walkBlocks(Uniform<GreaterOrEqual>(nodes: nodes), rows, count, stride, sink)
        case .gt?: walkBlocks(Uniform<Greater>(nodes: nodes), rows, count, stride, sink)
        default:
            let walker = MixedWalker<Threshold, Value>(
                nodes: nodes, memberBounds: memberBounds, memberValues: members, memberTruncates: memberTruncates)
            walkBlocks(walker, rows, count, stride, sink)
        }
    }

    private func walkBlocks<Walker: TreeWalker>(
        _ walker: Walker, _ rows: UnsafePointer<Walker.Value>, _ count: Int, _ stride: Int,
        _ sink: LeafSink<Threshold, Walker.Value>
    ) where Walker.Threshold == Threshold {
        let blockSize = 128
        // Lockstep pays off once a block has a few rows to interleave; a lone row walks to its leaf.
        let lockstep = Walker.canStep && count >= 8
        var current = [Int32](repeating: 0, count: lockstep ? blockSize : 0)
        current.withUnsafeMutableBufferPointer { current in
            var start = 0
            while start < count {
                let end = Swift.min(count, start + blockSize)
                for (tree, root) in roots.enumerated() {
                    if lockstep {
                        let block = end - start
                        for r in 0..<block { current[r] = root }
                        for _ in 0..<depths[tree] {
                            var row = rows + start * stride
                            var moved: Int32 = 0
                            for r in 0..<block {
                                let next = walker.step(from: current[r], row: row)
                                moved |= next ^ current[r]
                                current[r] = next
                                row += stride
                            }
                            if moved == 0 { break }  // every row of the block is on its leaf
                        }
                        for r in 0..<block { sink.add(leaf: Int(current[r]), row: start + r) }
                    } else {
                        for row in start..<end {
                            sink.add(leaf: walker.leaf(from: Int(root), row: rows + row * stride), row: row)
                        }
                    }
                }
                start = end
            }
        }
    }
}

// MARK: - Walking

/// Finds the leaf a row reaches in one tree.
private protocol TreeWalker {
    associatedtype Threshold: BinaryFloatingPoint & Sendable
    associatedtype Value: BinaryFloatingPoint
    /// Whether ``step(from:row:)`` is available (uniform splits only).
    static var canStep: Bool { get }
    /// Walks from `root` to the leaf the row reaches.
    func leaf(from root: Int, row: UnsafePointer<Value>) -> Int
    /// One level of a walk: the child the row takes (a leaf's child is itself).
    func step(from node: Int32, row: UnsafePointer<Value>) -> Int32
}

/// One comparison, for walks where every split uses it.
private protocol SplitRule {
    static func holds<Value: BinaryFloatingPoint>(_ x: Value, _ threshold: Value) -> Bool
}

private enum LessOrEqual: SplitRule {
    @inline(__always) static func holds<Value: BinaryFloatingPoint>(_ x: Value, _ t: Value) -> Bool { x <= t }
}

private enum Less: SplitRule {
    @inline(__always) static func holds<Value: BinaryFloatingPoint>(_ x: Value, _ t: Value) -> Bool { x < t }
}

private enum GreaterOrEqual: SplitRule {
    @inline(__always) static func holds<Value: BinaryFloatingPoint>(_ x: Value, _ t: Value) -> Bool { x >= t }
}

private enum Greater: SplitRule {
    @inline(__always) static func holds<Value: BinaryFloatingPoint>(_ x: Value, _ t: Value) -> Bool { x > t }
}

/// What NaN does at a split: nothing special (NaN fails every comparison and goes false), or go true
/// where the node's `missing_value_tracks_true` is set. Ensembles without that flag skip the check.
private protocol MissingPolicy {
    static func goesTrue<Value: BinaryFloatingPoint>(_ holds: Bool, _ x: Value, tracksTrue: Bool) -> Bool
}

private enum IgnoreMissing: MissingPolicy {
    @inline(__always)
    static func goesTrue<Value: BinaryFloatingPoint>(_ holds: Bool, _ x: Value, tracksTrue: Bool) -> Bool { holds }
}

private enum TrackMissing: MissingPolicy {
    /// `holds || (tracksTrue && x.isNaN)`, without the branches `||` and `&&` would add.
    @inline(__always)
    static func goesTrue<Value: BinaryFloatingPoint>(_ holds: Bool, _ x: Value, tracksTrue: Bool) -> Bool {
        (bit(holds) | (bit(tracksTrue) & bit(x.isNaN))) != 0
    }
}

@inline(__always)
private func bit(_ value: Bool) -> UInt8 { unsafeBitCast(value, to: UInt8.self) }

/// The walk when every split uses `Rule`: one comparison per level, and the child picked by address
/// arithmetic rather than a branch (tree splits are as unpredictable as the data).
private struct UniformWalker<
    Threshold: BinaryFloatingPoint & Sendable, Value: BinaryFloatingPoint, Rule: SplitRule, Missing: MissingPolicy
>: TreeWalker {
    let nodes: UnsafePointer<ONNXTreeEnsemble<Threshold>.Node>

    static var canStep: Bool { true }

    @inline(__always)
    func leaf(from root: Int, row: UnsafePointer<Value>) -> Int {
        var index = Int32(truncatingIfNeeded: root)
        while nodes[Int(index)].mode != .leaf { index = step(from: index, row: row) }
        return Int(index)
    }

    @inline(__always)
    func step(from index: Int32, row: UnsafePointer<Value>) -> Int32 {
        let node = nodes[Int(index)]
        let x = row[Int(node.feature)]
        let goTrue = Missing.goesTrue(Rule.holds(x, Value(node.value)), x, tracksTrue: node.missingTracksTrue)
        let offset = ONNXTreeEnsemble<Threshold>.childrenOffset &+ Int(bit(goTrue) ^ 1) &* 4
        return UnsafeRawPointer(nodes + Int(index)).load(fromByteOffset: offset, as: Int32.self)
    }
}

/// The walk for ensembles that mix comparisons or use set membership.
private struct MixedWalker<Threshold: BinaryFloatingPoint & Sendable, Value: BinaryFloatingPoint>: TreeWalker {
    let nodes: UnsafePointer<ONNXTreeEnsemble<Threshold>.Node>
    let memberBounds: [Int32]
    let memberValues: UnsafeBufferPointer<Threshold>
    let memberTruncates: [Bool]

    static var canStep: Bool { false }

    func step(from node: Int32, row: UnsafePointer<Value>) -> Int32 { node }  // not used: canStep is false

    @inline(__always)
    func leaf(from root: Int, row: UnsafePointer<Value>) -> Int {
        var index = root
        while true {
            let node = nodes[index]
            let holds: Bool
            switch node.mode {
            case .leaf: return index
            case .leq: holds = row[Int(node.feature)] <= Value(node.value)
            case .lt: holds = row[Int(node.feature)] < Value(node.value)
            case .gte: holds = row[Int(node.feature)] >= Value(node.value)
            case .gt: holds = row[Int(node.feature)] > Value(node.value)
            case .eq: holds = row[Int(node.feature)] == Value(node.value)
            case .neq: holds = row[Int(node.feature)] != Value(node.value)
            case .member: holds = isMember(row[Int(node.feature)], set: Int(node.value))
            }
            let goTrue = TrackMissing.goesTrue(holds, row[Int(node.feature)], tracksTrue: node.missingTracksTrue)
            index = Int(goTrue ? node.trueChild : node.falseChild)
        }
    }

    /// Whether `x` equals a value of the set, compared in the input's precision, or for a truncating set
    /// whether `Int32(x)` does (with NaN and out-of-range values converting to `Int32.min`, as C's
    /// conversion does on x86-64). The sets are sorted.
    private func isMember(_ x: Value, set: Int) -> Bool {
        var x = x
        if memberTruncates[set] {
            x = x.isNaN || x >= 2_147_483_648 || x <= -2_147_483_649 ? -2_147_483_648 : x.rounded(.towardZero)
        }
        var low = Int(memberBounds[set])
        var high = Int(memberBounds[set + 1])
        while low < high {
            let middle = (low + high) / 2
            let member = Value(memberValues[middle])
            if member == x { return true }
            if member < x { low = middle + 1 } else { high = middle }
        }
        return false
    }
}

/// Adds a reached leaf's weights to its row's scores, per the aggregate function.
private struct LeafSink<Threshold: BinaryFloatingPoint & Sendable, Value: BinaryFloatingPoint> {
    let nodes: UnsafePointer<ONNXTreeEnsemble<Threshold>.Node>
    let leafWeights: UnsafeBufferPointer<ONNXTreeEnsemble<Threshold>.LeafWeights>
    let weightTargets: UnsafeBufferPointer<Int32>
    let weightValues: UnsafeBufferPointer<Threshold>
    let targetCount: Int
    let aggregate: ONNXTreeAggregate
    let scores: UnsafeMutablePointer<Value>
    let hasScore: UnsafeMutablePointer<Bool>

    @inline(__always)
    func add(leaf: Int, row: Int) {
        let node = nodes[leaf]
        let base = row * targetCount
        if targetCount == 1 {
            combine(Value(node.value), at: base)
            return
        }
        let range = leafWeights[leaf]
        let start = Int(range.start)
        for k in start..<(start + Int(range.count)) {
            combine(Value(weightValues[k]), at: base + Int(weightTargets[k]))
        }
    }

    @inline(__always)
    private func combine(_ weight: Value, at index: Int) {
        switch aggregate {
        case .sum, .average:
            scores[index] += weight
        case .min:
            if !hasScore[index] || weight < scores[index] { scores[index] = weight }
        case .max:
            if !hasScore[index] || weight > scores[index] { scores[index] = weight }
        }
        hasScore[index] = true
    }
}

// MARK: - Building

/// Collects an ensemble's nodes in the order a file lists them, then validates and flattens them.
///
/// The format parsers (``ONNXTreeFormats``) resolve every child reference to an index into ``drafts``
/// before adding it, so the builder only has to check the structure: no cycles, bounded depth.
struct ONNXTreeEnsembleBuilder<Threshold: BinaryFloatingPoint & Sendable> {
    struct Draft {
        var mode: ONNXTreeNodeMode
        var feature: Int32 = 0
        var value: Threshold = 0
        var missingTracksTrue = false
        /// Indices into ``drafts`` (splits only).
        var trueChild = 0
        var falseChild = 0
        /// The range of a `member` split's values in ``memberValues``.
        var members: Range<Int> = 0..<0
        /// Whether a `member` split tests the input truncated to an integer. onnxruntime (1.32) keeps a set
        /// whose values all lie in [0, 31) as exact comparisons, but stores any other set as 32-bit
        /// integers (refusing non-integer values) and tests `Int32(x)`: 2.5 is then in {2, 40}, though
        /// not in {2, 3}. Slipway follows it, so a model agrees with onnxruntime even on non-integer
        /// inputs to categorical splits (integer inputs are unaffected).
        var truncatesMembers = false
    }

    var drafts: [Draft] = []
    /// Draft indices of each tree's root, in tree order.
    var roots: [Int] = []
    var memberValues: [Threshold] = []
    /// Leaf weights as (leaf draft index, target, value), in the file's order.
    var weights: [(leaf: Int, target: Int32, value: Threshold)] = []
    let targetCount: Int

    init(targetCount: Int) {
        self.targetCount = targetCount
    }

    /// Validates the structure and lays the nodes out for evaluation.
    /// - Parameters:
    ///   - invalid: makes the load error for a message (``ONNXNodeContext/invalid(_:)``).
    ///   - describe: names a draft node in error messages, e.g. `tree 3, node 7`.
    func build(
        invalid: (String) -> SlipwayError, describe: (Int) -> String
    ) throws(SlipwayError) -> ONNXTreeEnsemble<Threshold> {
        guard drafts.count < Int(Int32.max) / 2, weights.count < Int(Int32.max) else {
            throw invalid("the tree ensemble has too many nodes")
        }

        // Depth-first from every root: rejects cycles, measures depth, finds the reachable nodes.
        // state: 0 unseen, 1 on the current path, 2 finished; height: longest path below, in splits.
        var state = [UInt8](repeating: 0, count: drafts.count)
        var height = [Int32](repeating: 0, count: drafts.count)
        for root in roots where state[root] == 0 {
            var stack: [(node: Int, expanded: Bool)] = [(root, false)]
            while let (node, expanded) = stack.popLast() {
                let draft = drafts[node]
                if draft.mode == .leaf {
                    state[node] = 2
                    continue
                }
                if expanded {
                    let below = Swift.max(height[draft.trueChild], height[draft.falseChild]) + 1
                    guard below <= ONNXTreeEnsemble<Threshold>.maxDepth else {
                        throw invalid(
                            "\(describe(node)): the tree is deeper than \(ONNXTreeEnsemble<Threshold>.maxDepth) levels")
                    }
                    height[node] = below
                    state[node] = 2
                    continue
                }
                if state[node] == 2 { continue }  // shared with a path walked before
                state[node] = 1
                stack.append((node, true))
                for child in [draft.trueChild, draft.falseChild] {
                    switch state[child] {
                    case 1:
                        throw invalid(
                            "\(describe(node)): its child, \(describe(child)), leads back to it (the tree has a cycle)")
                    case 0: stack.append((child, false))
                    default: break
                    }
                }
            }
        }

        // Lay out reachable nodes tree by tree, depth first, false child next to its parent.
        var position = [Int32](repeating: -1, count: drafts.count)
        var order: [Int] = []
        order.reserveCapacity(drafts.count)
        for root in roots {
            var stack = [root]
            while let node = stack.popLast() {
                guard position[node] < 0 else { continue }
                position[node] = Int32(order.count)
                order.append(node)
                let draft = drafts[node]
                if draft.mode != .leaf {
                    stack.append(draft.trueChild)
                    stack.append(draft.falseChild)
                }
            }
        }

        // Leaf weights, grouped per leaf in the file's order.
        var weightsPerLeaf = [Int32](repeating: 0, count: drafts.count)
        for weight in weights { weightsPerLeaf[weight.leaf] += 1 }
        var weightStart = [Int32](repeating: 0, count: drafts.count)
        var total: Int32 = 0
        for node in order where drafts[node].mode == .leaf {
            weightStart[node] = total
            total += weightsPerLeaf[node]
        }
        var weightTargets = [Int32](repeating: 0, count: Int(total))
        var weightValues = [Threshold](repeating: 0, count: Int(total))
        var firstWeight = [Threshold?](repeating: nil, count: drafts.count)
        var filled = [Int32](repeating: 0, count: drafts.count)
        for weight in weights where position[weight.leaf] >= 0 {
            let slot = Int(weightStart[weight.leaf] + filled[weight.leaf])
            filled[weight.leaf] += 1
            weightTargets[slot] = weight.target
            weightValues[slot] = weight.value
            if firstWeight[weight.leaf] == nil { firstWeight[weight.leaf] = weight.value }
        }

        // Member sets, sorted for binary search, numbered in layout order.
        var leafWeights = [ONNXTreeEnsemble<Threshold>.LeafWeights](
            repeating: .init(start: 0, count: 0), count: order.count)
        var memberBounds: [Int32] = [0]
        var memberTruncates: [Bool] = []
        var sortedMembers: [Threshold] = []
        var nodes: [ONNXTreeEnsemble<Threshold>.Node] = []
        nodes.reserveCapacity(order.count)
        var requiredFeatures = 0
        var modes = Set<ONNXTreeNodeMode>()
        var tracksMissing = false
        for node in order {
            let draft = drafts[node]
            if draft.mode == .leaf {
                let index = Int32(nodes.count)
                leafWeights[nodes.count] = .init(start: weightStart[node], count: weightsPerLeaf[node])
                nodes.append(
                    .init(
                        value: firstWeight[node] ?? draft.value, feature: 0, trueChild: index, falseChild: index,
                        mode: .leaf, missingTracksTrue: false))
                continue
            }
            modes.insert(draft.mode)
            tracksMissing = tracksMissing || draft.missingTracksTrue
            requiredFeatures = Swift.max(requiredFeatures, Int(draft.feature) + 1)
            var value = draft.value
            if draft.mode == .member {
                guard memberBounds.count < 1 << 24 else {
                    throw invalid("the tree ensemble has too many set-membership splits")
                }
                value = Threshold(memberBounds.count - 1)
                sortedMembers.append(contentsOf: memberValues[draft.members].sorted())
                guard sortedMembers.count < Int(Int32.max) else { throw invalid("membership_values is too long") }
                memberBounds.append(Int32(sortedMembers.count))
                memberTruncates.append(draft.truncatesMembers)
            }
            nodes.append(
                .init(
                    value: value, feature: draft.feature, trueChild: position[draft.trueChild],
                    falseChild: position[draft.falseChild], mode: draft.mode,
                    missingTracksTrue: draft.missingTracksTrue))
        }
        let uniform: ONNXTreeNodeMode? = modes.count == 1 && modes.first != .member ? modes.first : nil
        return ONNXTreeEnsemble(
            nodes: nodes, roots: roots.map { position[$0] }, depths: roots.map { height[$0] }, leafWeights: leafWeights,
            weightTargets: weightTargets, weightValues: weightValues,
            memberBounds: memberBounds, memberValues: sortedMembers, memberTruncates: memberTruncates,
            targetCount: targetCount,
            requiredFeatures: requiredFeatures, uniformMode: uniform, tracksMissing: tracksMissing)
    }
}

/// A tree ensemble in the precision its attributes call for.
enum ONNXTreeModel: Sendable {
    case float(ONNXTreeEnsemble<Float>)
    case double(ONNXTreeEnsemble<Double>)

    var treeCount: Int {
        switch self {
        case .float(let ensemble): ensemble.treeCount
        case .double(let ensemble): ensemble.treeCount
        }
    }

    var targetCount: Int {
        switch self {
        case .float(let ensemble): ensemble.targetCount
        case .double(let ensemble): ensemble.targetCount
        }
    }

    /// Raw per-row scores, in the precision onnxruntime accumulates in for the input's type.
    enum Scores {
        case float([Float], hasScore: [Bool])
        case double([Double], hasScore: [Bool])
    }

    /// Evaluates every tree on `input` (`[N, F]`, or `[F]` for one row).
    ///
    /// Double inputs are compared and summed in double; float and integer inputs in float, unless the
    /// model stores double thresholds (`*_as_tensor` attributes), which need double. Integer inputs are
    /// converted to float first, as onnxruntime's comparisons of integers with float thresholds do.
    /// - Throws: ``SlipwayError`` (400) for a string or boolean input, a rank other than 1 or 2, or rows
    ///   with fewer features than the trees read.
    func evaluate(_ input: ONNXTensor, aggregate: ONNXTreeAggregate) throws(SlipwayError) -> (rows: Int, Scores) {
        let rows: Int
        let stride: Int
        switch input.rank {
        case 1: (rows, stride) = (1, input.shape[0])
        case 2: (rows, stride) = (input.shape[0], input.shape[1])
        default:
            throw ONNXRunError.input("the input must be [N, F] or [F] (one row), got shape \(input.shape)")
        }
        guard input.count == rows * stride else {
            throw ONNXRunError.input("the input's shape \(input.shape) does not match its \(input.count) values")
        }
        guard input.elementType != .bool, input.elementType != .string else {
            throw ONNXRunError.input(
                "the input must be numeric (float, double, int64 or int32), got \(input.elementType)")
        }
        switch self {
        case .float(let ensemble):
            try Self.checkFeatures(stride, ensemble.requiredFeatures)
            if case .double(let values) = input.storage {
                let (scores, hasScore) = Self.accumulate(ensemble, values, rows, stride, aggregate)
                return (rows, .double(scores, hasScore: hasScore))
            }
            let (scores, hasScore) = Self.accumulate(ensemble, input.floatValues ?? [], rows, stride, aggregate)
            return (rows, .float(scores, hasScore: hasScore))
        case .double(let ensemble):
            try Self.checkFeatures(stride, ensemble.requiredFeatures)
            let (scores, hasScore) = Self.accumulate(ensemble, input.doubleValues ?? [], rows, stride, aggregate)
            return (rows, .double(scores, hasScore: hasScore))
        }
    }

    private static func checkFeatures(_ stride: Int, _ required: Int) throws(SlipwayError) {
        guard stride >= required else {
            throw ONNXRunError.input(
                "the trees read feature \(required - 1), but each input row has \(stride) feature\(stride == 1 ? "" : "s")"
            )
        }
    }

    private static func accumulate<Threshold, Value: BinaryFloatingPoint>(
        _ ensemble: ONNXTreeEnsemble<Threshold>, _ values: [Value], _ rows: Int, _ stride: Int,
        _ aggregate: ONNXTreeAggregate
    ) -> ([Value], [Bool]) {
        let count = rows * ensemble.targetCount
        var scores = [Value](repeating: 0, count: count)
        var hasScore = [Bool](repeating: false, count: count)
        guard count > 0 else { return (scores, hasScore) }
        var placeholder: Value = 0  // stands in for an empty input (rows of zero features), never read
        values.withUnsafeBufferPointer { input in
            scores.withUnsafeMutableBufferPointer { scores in
                hasScore.withUnsafeMutableBufferPointer { hasScore in
                    withUnsafePointer(to: &placeholder) { placeholder in
                        ensemble.accumulate(
                            rows: input.baseAddress ?? placeholder, count: rows, stride: stride, aggregate: aggregate,
                            scores: scores.baseAddress!, hasScore: hasScore.baseAddress!)
                    }
                }
            }
        }
        return (scores, hasScore)
    }
}
