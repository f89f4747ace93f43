import SlipwayCore
/// A tree as grown on bins: enough to score binned rows exactly as the raw-threshold tree scores raw rows.
struct BinnedTree {
    var feature: [Int32] = []
    /// Value bins `1...bin` go left; bin 0 (missing) goes left iff `defaultLeft`.
    var bin: [UInt8] = []
    var defaultLeft: [Bool] = []
    var left: [Int32] = []
    var right: [Int32] = []
    var value: [Double] = []

    /// Adds the tree's leaf value to `scores[row]` for each row in `range` of row-major `bins`, whose rows
    /// start `rowStride` bytes apart.
    func addLeafValues(
        bins: UnsafePointer<UInt8>, rowStride: Int, range: Range<Int>, scores: UnsafeMutablePointer<Double>
    ) {
        // Per node: a value bin b goes left iff (b - bias) <= limit in UInt8 arithmetic; with bias 1 the
        // missing bin wraps to 255 and goes right, with bias 0 it is <= any limit and goes left.
        let bias = defaultLeft.map { $0 ? UInt8(0) : 1 }
        let limit = zip(bin, bias).map { $0 &- $1 }
        feature.withUnsafeBufferPointer { feature in
            left.withUnsafeBufferPointer { left in
                right.withUnsafeBufferPointer { right in
                    for row in range {
                        let rowBins = bins + row * rowStride
                        var node = 0
                        while left[node] >= 0 {
                            let goLeft = rowBins[Int(feature[node])] &- bias[node] <= limit[node]
                            node = Int(goLeft ? left[node] : right[node])
                        }
                        scores[row] += value[node]
                    }
                }
            }
        }
    }
}

/// The result of growing one tree.
struct GrownTree {
    var tree: TreeEnsembleParameters.Tree
    var binned: BinnedTree
    /// Each leaf's rows as a range of ``HistogramTreeLearner``'s row indices, with its value.
    var leafRanges: [(range: Range<Int>, value: Double)]
    /// The split gain this tree earned per feature.
    var gainByFeature: [Double]
}

/// Grows one regression tree on fixed-point gradients, LightGBM style: histograms of binned features,
/// best-first (leaf-wise) growth, the smaller child's histogram built and the larger's derived by
/// subtraction, rows partitioned as index ranges.
///
/// Gradients and hessians arrive as Int32 fixed point (value × a power-of-two scale) and histograms sum them
/// in Int64. Integer sums do not
/// depend on order, so histograms, and therefore trees, are bit-identical for any thread count, and
/// histogram subtraction is exact.
final class HistogramTreeLearner {
    /// Below this many rows a partition or score update runs on one thread: the hand-off would cost more.
    static let parallelRowThreshold = 16_384
    /// The same for histograms, which cost more per row.
    static let parallelHistogramRowThreshold = 4096

    private let data: BinnedDataset
    private let configuration: GradientBoostingConfiguration
    private let pool: WorkerPool
    /// Row indices; every leaf owns a contiguous range.
    private let rows: UnsafeMutablePointer<Int32>
    private let scratchRows: UnsafeMutablePointer<Int32>
    /// One histogram per leaf slot: `(gradient, hessian)` Int64 pairs, `2 * totalBins` values each.
    private let histograms: UnsafeMutablePointer<Int64>
    /// Extra histograms for threads other than the first.
    private let threadHistograms: UnsafeMutablePointer<Int64>
    /// `2 * binOffsets[f]`.
    private let pairOffsets: UnsafeMutablePointer<Int>
    private let histogramStride: Int
    /// How many of ``rows`` the next tree grows from.
    private(set) var rootCount: Int

    init(data: BinnedDataset, configuration: GradientBoostingConfiguration, pool: WorkerPool) {
        self.data = data
        self.configuration = configuration
        self.pool = pool
        rows = .allocate(capacity: max(1, data.rowCount))
        scratchRows = .allocate(capacity: max(1, data.rowCount))
        histogramStride = 2 * data.totalBins
        histograms = .allocate(capacity: configuration.maxLeaves * histogramStride)
        threadHistograms = .allocate(capacity: max(1, pool.threads - 1) * histogramStride)
        pairOffsets = .allocate(capacity: data.featureCount + 1)
        for (feature, offset) in data.binOffsets.enumerated() { pairOffsets[feature] = 2 * offset }
        rootCount = data.rowCount
    }

    deinit {
        rows.deallocate()
        scratchRows.deallocate()
        histograms.deallocate()
        threadHistograms.deallocate()
        pairOffsets.deallocate()
    }

    /// Grows the next tree from every row.
    func useAllRows() {
        for row in 0..<data.rowCount { rows[row] = Int32(truncatingIfNeeded: row) }
        rootCount = data.rowCount
    }

    /// Grows the next tree from `baggingFraction` of the rows, each kept with that probability.
    func useBag(fraction: Double, generator: inout SeededGenerator) {
        var count = 0
        for row in 0..<data.rowCount where generator.nextUnit() < fraction {
            rows[count] = Int32(truncatingIfNeeded: row)
            count += 1
        }
        rootCount = count
    }

    /// Adds each leaf's value to the scores of the rows it holds (only the rows the tree was grown from).
    func addLeafValues(of tree: GrownTree, to scores: UnsafeMutablePointer<Double>) {
        let rows = self.rows
        let total = rootCount
        let chunks = total >= Self.parallelRowThreshold ? pool.threads : 1
        pool.forEachChunk(chunks) { chunk in
            let positions = WorkerPool.bounds(of: chunk, count: chunks, total: total)
            for (range, value) in tree.leafRanges {
                let overlap = range.clamped(to: positions)
                for position in overlap { scores[Int(rows[position])] += value }
            }
        }
    }

    /// Grows one tree on fixed-point gradients `gh` (`gh[2 * row]`, `gh[2 * row + 1]`), considering only features with
    /// `allowedFeatures[f]`.
    func grow(
        gh: UnsafePointer<Int32>, gradientScale: Double, hessianScale: Double, allowedFeatures: [Bool], output: Int
    ) -> GrownTree {
        let search = SplitSearch(
            data: data, pairOffsets: pairOffsets, configuration: configuration, allowedFeatures: allowedFeatures,
            gradientUnit: 1 / gradientScale, hessianUnit: 1 / hessianScale)
        var tree = TreeEnsembleParameters.Tree(
            output: output, feature: [], threshold: [], left: [], right: [], defaultLeft: [], value: [])
        var binned = BinnedTree()
        func appendLeafNode() -> Int {
            tree.feature.append(0)
            tree.threshold.append(0)
            tree.left.append(-1)
            tree.right.append(-1)
            tree.defaultLeft.append(false)
            tree.value.append(0)
            binned.feature.append(0)
            binned.bin.append(0)
            binned.defaultLeft.append(false)
            binned.left.append(-1)
            binned.right.append(-1)
            binned.value.append(0)
            return tree.feature.count - 1
        }
        var gainByFeature = [Double](repeating: 0, count: data.featureCount)
        var freeSlots = Array((1..<configuration.maxLeaves).reversed())

        let rootHistogram = histogram(slot: 0)
        buildHistogram(begin: 0, count: rootCount, gh: gh, into: rootHistogram)
        // Every row falls in exactly one bin of feature 0, so its bins sum to the leaf's totals.
        var rootGradient: Int64 = 0
        var rootHessian: Int64 = 0
        for bin in 0..<data.mappers[0].binCount {
            rootGradient &+= rootHistogram[2 * bin]
            rootHessian &+= rootHistogram[2 * bin + 1]
        }
        var root = GrowingLeaf(
            begin: 0, count: rootCount, gradient: rootGradient, hessian: rootHessian, depth: 0,
            node: appendLeafNode(), slot: 0)
        if isSplittable(root) { root.split = search.bestSplit(of: root, histogram: rootHistogram) }
        var leaves = [root]

        while leaves.count < configuration.maxLeaves {
            var chosen = -1
            for index in leaves.indices {
                guard let gain = leaves[index].split?.gain else { continue }
                if chosen < 0 || gain > leaves[chosen].split!.gain { chosen = index }
            }
            guard chosen >= 0, let split = leaves[chosen].split else { break }
            let parent = leaves[chosen]

            let leftCount = partition(parent, split)
            let leftNode = appendLeafNode()
            let rightNode = appendLeafNode()
            tree.feature[parent.node] = split.feature
            tree.threshold[parent.node] = data.mappers[split.feature].threshold(forBin: split.bin)
            tree.left[parent.node] = leftNode
            tree.right[parent.node] = rightNode
            tree.defaultLeft[parent.node] = split.defaultLeft
            binned.feature[parent.node] = Int32(split.feature)
            binned.bin[parent.node] = UInt8(split.bin)
            binned.defaultLeft[parent.node] = split.defaultLeft
            binned.left[parent.node] = Int32(leftNode)
            binned.right[parent.node] = Int32(rightNode)
            gainByFeature[split.feature] += split.gain

            var left = GrowingLeaf(
                begin: parent.begin, count: leftCount, gradient: split.leftGradient, hessian: split.leftHessian,
                depth: parent.depth + 1, node: leftNode, slot: -1)
            var right = GrowingLeaf(
                begin: parent.begin + leftCount, count: parent.count - leftCount,
                gradient: parent.gradient &- split.leftGradient, hessian: parent.hessian &- split.leftHessian,
                depth: parent.depth + 1, node: rightNode, slot: -1)
            // After the last split the children are never searched, so their histograms are not needed.
            let moreSplits = leaves.count + 1 < configuration.maxLeaves
            let searchLeft = moreSplits && isSplittable(left)
            let searchRight = moreSplits && isSplittable(right)
            if searchLeft || searchRight {
                let smallerIsLeft = left.count <= right.count
                let smallSlot = freeSlots.removeLast()
                let small = histogram(slot: smallSlot)
                let large = histogram(slot: parent.slot)
                let smaller = smallerIsLeft ? left : right
                buildHistogram(begin: smaller.begin, count: smaller.count, gh: gh, into: small)
                for index in 0..<histogramStride { large[index] &-= small[index] }
                left.slot = smallerIsLeft ? smallSlot : parent.slot
                right.slot = smallerIsLeft ? parent.slot : smallSlot
                // The two searches are independent; when both are needed they run side by side.
                let children = [left, right].enumerated().filter { [searchLeft, searchRight][$0.offset] }
                let found = UnsafeMutableBufferPointer<SplitCandidate?>.allocate(capacity: 2)
                defer { found.deallocate() }
                found.initialize(repeating: nil)
                pool.forEachChunk(children.count) { index in
                    let (side, leaf) = children[index]
                    found[side] = search.bestSplit(of: leaf, histogram: histogram(slot: leaf.slot))
                }
                left.split = found[0]
                right.split = found[1]
                // A leaf that will never split gives its histogram back.
                if left.split == nil { freeSlots.append(left.slot) }
                if right.split == nil { freeSlots.append(right.slot) }
            } else {
                freeSlots.append(parent.slot)
            }
            leaves[chosen] = left
            leaves.append(right)
        }

        var leafRanges: [(range: Range<Int>, value: Double)] = []
        for leaf in leaves {
            let value = search.leafValue(gradient: leaf.gradient, hessian: leaf.hessian)
            tree.value[leaf.node] = value
            binned.value[leaf.node] = value
            leafRanges.append((leaf.begin..<(leaf.begin + leaf.count), value))
        }
        return GrownTree(tree: tree, binned: binned, leafRanges: leafRanges, gainByFeature: gainByFeature)
    }

    private func histogram(slot: Int) -> UnsafeMutablePointer<Int64> { histograms + slot * histogramStride }

    private func isSplittable(_ leaf: GrowingLeaf) -> Bool {
        if let maxDepth = configuration.depthLimit, leaf.depth >= maxDepth { return false }
        return leaf.count >= 2 * configuration.minDataInLeaf
    }

    /// Sums the gradients of rows `rows[begin..<begin + count]` into `target`, bin by bin.
    private func buildHistogram(
        begin: Int, count: Int, gh: UnsafePointer<Int32>, into target: UnsafeMutablePointer<Int64>
    ) {
        let chunks = count >= Self.parallelHistogramRowThreshold ? pool.threads : 1
        let stride = histogramStride
        let rows = self.rows + begin
        let threadHistograms = self.threadHistograms
        let bins = data.rowMajor
        let rowStride = data.rowStride
        let features = data.featureCount
        let offsets = UnsafePointer(pairOffsets)
        pool.forEachChunk(chunks) { chunk in
            let histogram = chunk == 0 ? target : threadHistograms + (chunk - 1) * stride
            histogram.update(repeating: 0, count: stride)
            let range = WorkerPool.bounds(of: chunk, count: chunks, total: count)
            Self.accumulate(
                rows: rows + range.lowerBound, count: range.count, gh: gh, bins: bins, rowStride: rowStride,
                features: features, offsets: offsets, into: histogram)
        }
        for chunk in 1..<max(1, chunks) {
            let other = threadHistograms + (chunk - 1) * stride
            for index in 0..<stride { target[index] &+= other[index] }
        }
    }

    /// Rows gathered per block by ``accumulate``.
    private static let gatherBlock = 256

    /// Adds each row's gradient pair to its bin of every feature.
    ///
    /// Rows of a leaf are scattered over memory. Copying a block of them (gradients and bin rows) into
    /// small buffers first keeps dozens of cache misses in flight; accumulating straight from memory does
    /// about 20 read-modify-writes per row, so the processor stalls on one row's misses at a time.
    @inline(__always)
    private static func accumulate(
        rows: UnsafePointer<Int32>, count: Int, gh: UnsafePointer<Int32>, bins: UnsafePointer<UInt8>, rowStride: Int,
        features: Int, offsets: UnsafePointer<Int>, into histogram: UnsafeMutablePointer<Int64>
    ) {
        let block = gatherBlock
        let words = rowStride / 8
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: 2 * block) { gathered in
            let gatheredGH = gathered.baseAddress!
            withUnsafeTemporaryAllocation(byteCount: block * rowStride, alignment: 8) { gatheredBins in
                let binBytes = UnsafeMutableRawPointer(gatheredBins.baseAddress!)
                let source = UnsafeRawPointer(bins)
                var start = 0
                while start < count {
                    let blockCount = min(block, count - start)
                    for index in 0..<blockCount {
                        let row = Int(rows[start + index])
                        gatheredGH[2 * index] = Int64(gh[2 * row])
                        gatheredGH[2 * index + 1] = Int64(gh[2 * row + 1])
                        for word in 0..<words {
                            let value = source.loadUnaligned(
                                fromByteOffset: row * rowStride + 8 * word, as: UInt64.self)
                            binBytes.storeBytes(of: value, toByteOffset: index * rowStride + 8 * word, as: UInt64.self)
                        }
                    }
                    for index in 0..<blockCount {
                        let gradient = gatheredGH[2 * index]
                        let hessian = gatheredGH[2 * index + 1]
                        let rowBins = index * rowStride
                        for feature in 0..<features {
                            let bin = binBytes.load(fromByteOffset: rowBins + feature, as: UInt8.self)
                            let slot = offsets[feature] &+ 2 &* Int(bin)
                            histogram[slot] &+= gradient
                            histogram[slot &+ 1] &+= hessian
                        }
                    }
                    start += blockCount
                }
            }
        }
    }

    /// Reorders the leaf's rows so those going left come first (keeping their order); returns how many.
    private func partition(_ leaf: GrowingLeaf, _ split: SplitCandidate) -> Int {
        let column = UnsafePointer(data.columns + split.feature * data.rowCount)
        let bias: UInt8 = split.defaultLeft ? 0 : 1
        let limit = UInt8(split.bin) &- bias
        let chunks = leaf.count >= Self.parallelRowThreshold ? pool.threads : 1
        let rows = self.rows + leaf.begin
        let rights = scratchRows + leaf.begin
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: chunks) { leftCounts in
            let leftCounts = leftCounts.baseAddress!
            pool.forEachChunk(chunks) { chunk in
                let range = WorkerPool.bounds(of: chunk, count: chunks, total: leaf.count)
                let chunkRows = rows + range.lowerBound
                let chunkRights = rights + range.lowerBound
                var leftCount = 0
                var rightCount = 0
                for index in 0..<range.count {
                    let row = chunkRows[index]
                    // 1 when the row goes left, else 0, computed without a branch: the direction is as good
                    // as random, so a branch would be mispredicted half the time.
                    let excess = Int(column[Int(row)] &- bias) &- Int(limit)
                    let goesLeft = 0 &- ((excess &- 1) >> 63)
                    chunkRows[leftCount] = row
                    chunkRights[rightCount] = row
                    leftCount &+= goesLeft
                    rightCount &+= 1 &- goesLeft
                }
                leftCounts[chunk] = leftCount
            }
            var written = leftCounts[0]
            for chunk in 1..<max(1, chunks) {
                let start = WorkerPool.bounds(of: chunk, count: chunks, total: leaf.count).lowerBound
                // Moves towards lower addresses, so a forward copy is safe even where ranges overlap.
                for index in 0..<leftCounts[chunk] { rows[written + index] = rows[start + index] }
                written += leftCounts[chunk]
            }
            let totalLeft = written
            for chunk in 0..<chunks {
                let range = WorkerPool.bounds(of: chunk, count: chunks, total: leaf.count)
                let rightCount = range.count - leftCounts[chunk]
                (rows + written).update(from: rights + range.lowerBound, count: rightCount)
                written += rightCount
            }
            return totalLeft
        }
    }
}

/// A leaf while its tree grows.
struct GrowingLeaf {
    /// The leaf's rows are the learner's row indices `begin..<begin + count`.
    var begin: Int
    var count: Int
    /// Fixed-point sums over the leaf's rows.
    var gradient: Int64
    var hessian: Int64
    var depth: Int
    var node: Int
    /// The histogram slot, or -1 when the leaf has none.
    var slot: Int
    var split: SplitCandidate? = nil
}

/// The best split of a leaf: value bins `1...bin` of `feature` go left, missing values go left iff `defaultLeft`.
struct SplitCandidate {
    var gain: Double
    var feature: Int
    var bin: Int
    var defaultLeft: Bool
    var leftGradient: Int64
    var leftHessian: Int64
}

/// Finds the best split in a leaf's histogram and computes leaf values; holds the per-tree constants.
struct SplitSearch {
    let data: BinnedDataset
    let pairOffsets: UnsafePointer<Int>
    let configuration: GradientBoostingConfiguration
    let allowedFeatures: [Bool]
    /// The real value of one fixed-point unit.
    let gradientUnit: Double
    let hessianUnit: Double

    init(
        data: BinnedDataset, pairOffsets: UnsafeMutablePointer<Int>, configuration: GradientBoostingConfiguration,
        allowedFeatures: [Bool], gradientUnit: Double, hessianUnit: Double
    ) {
        self.data = data
        self.pairOffsets = UnsafePointer(pairOffsets)
        self.configuration = configuration
        self.allowedFeatures = allowedFeatures
        self.gradientUnit = gradientUnit
        self.hessianUnit = hessianUnit
    }

    /// `-G / (H + λ) · learningRate`, or 0 for a leaf without hessian.
    func leafValue(gradient: Int64, hessian: Int64) -> Double {
        let denominator = Double(hessian) * hessianUnit + configuration.lambdaL2
        guard denominator > 0 else { return 0 }
        return -(Double(gradient) * gradientUnit) / denominator * configuration.learningRate
    }

    /// The split with the largest gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) - G²/(H+λ)` that leaves both children
    /// at least `minDataInLeaf` rows and `minSumHessianInLeaf`; nil when no split gains anything.
    ///
    /// Each threshold is tried with missing values on the right and, when the leaf has any, on the left.
    /// Row counts per side are estimated from the hessian (count / H per unit of hessian), as LightGBM does.
    /// Ties keep the earlier feature, then the lower bin, then missing-right.
    func bestSplit(of leaf: GrowingLeaf, histogram: UnsafePointer<Int64>) -> SplitCandidate? {
        let lambda = configuration.lambdaL2
        let minHessian = configuration.minSumHessianInLeaf
        let minCount = Double(configuration.minDataInLeaf)
        let unitG = gradientUnit
        let unitH = hessianUnit
        let parentG = Double(leaf.gradient) * unitG
        let parentH = Double(leaf.hessian) * unitH
        let parentScore = parentH + lambda > 0 ? parentG * parentG / (parentH + lambda) : 0
        let countPerHessian = leaf.hessian > 0 ? Double(leaf.count) / Double(leaf.hessian) : 0
        // Guards against splits whose gain is only rounding noise.
        var bestGain = parentScore * 1e-12
        var best: SplitCandidate?

        for feature in 0..<data.featureCount where allowedFeatures[feature] {
            let binCount = data.mappers[feature].binCount
            guard binCount >= 3 else { continue }
            let bins = histogram + pairOffsets[feature]
            let missingG = bins[0]
            let missingH = bins[1]
            let hasMissing = missingG != 0 || missingH != 0
            var valueG: Int64 = 0
            var valueH: Int64 = 0
            for bin in 1..<(binCount - 1) {
                valueG &+= bins[2 * bin]
                valueH &+= bins[2 * bin + 1]
                for option in 0..<(hasMissing ? 2 : 1) {
                    let missingLeft = option == 1
                    let leftG = missingLeft ? valueG &+ missingG : valueG
                    let leftH = missingLeft ? valueH &+ missingH : valueH
                    let rightG = leaf.gradient &- leftG
                    let rightH = leaf.hessian &- leftH
                    let leftCount = Double(leftH) * countPerHessian
                    let rightCount = Double(rightH) * countPerHessian
                    guard leftCount + 0.5 >= minCount, rightCount + 0.5 >= minCount else { continue }
                    let gl = Double(leftG) * unitG
                    let hl = Double(leftH) * unitH
                    let gr = Double(rightG) * unitG
                    let hr = Double(rightH) * unitH
                    guard hl >= minHessian, hr >= minHessian, hl + lambda > 0, hr + lambda > 0 else { continue }
                    let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parentScore
                    if gain > bestGain {
                        bestGain = gain
                        // With no missing values in this leaf, unseen NaNs follow the majority.
                        let defaultLeft = hasMissing ? missingLeft : leftCount >= rightCount
                        best = SplitCandidate(
                            gain: gain, feature: feature, bin: bin, defaultLeft: defaultLeft, leftGradient: leftG,
                            leftHessian: leftH)
                    }
                }
            }
        }
        return best
    }
}
