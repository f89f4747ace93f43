/// A trained linear model: `margin_k = intercepts[k] + Σ_j weights[k][j] · x'_j`, then ``link``, where
/// `x'_j = (x_j - mean[j]) / scale[j]` and a missing `x_j` is first replaced by `imputation[j]`.
///
/// Mirrors the native format's `linear` section, so the platform writes it out field by field.
public struct LinearModelParameters: Sendable, Equatable {
    public var link: OutputLink
    /// One row per output (one for binary and regression, one per class for multiclass).
    public var weights: [[Double]]
    public var intercepts: [Double]
    /// Per-feature mean and scale applied before the weights (scale is never 0).
    public var mean: [Double]
    public var scale: [Double]
    /// Per-feature replacement for missing values, in raw units.
    public var imputation: [Double]

    public init(
        link: OutputLink, weights: [[Double]], intercepts: [Double], mean: [Double], scale: [Double],
        imputation: [Double]
    ) {
        self.link = link
        self.weights = weights
        self.intercepts = intercepts
        self.mean = mean
        self.scale = scale
        self.imputation = imputation
    }

    /// Outputs for every row: `[row][output]`, after the link.
    public func predict(_ matrix: FeatureMatrix) -> [[Double]] {
        var outputs = Array(repeating: intercepts, count: matrix.rowCount)
        for feature in 0..<matrix.columnCount {
            let column = matrix.columns[feature]
            for row in 0..<matrix.rowCount {
                let raw = column[row].isNaN ? imputation[feature] : column[row]
                let x = (raw - mean[feature]) / scale[feature]
                for output in weights.indices { outputs[row][output] += weights[output][feature] * x }
            }
        }
        for row in outputs.indices { link.apply(&outputs[row]) }
        return outputs
    }
}

/// A trained tree ensemble: `margin = baseMargin + Σ leaf values reached`, then ``link``.
///
/// A split sends `x <= threshold` left, larger values right and a missing value (NaN) left when
/// `defaultLeft`. Mirrors the native format's `tree_ensemble` section (leaf size 1).
public struct TreeEnsembleParameters: Sendable, Equatable {
    public var link: OutputLink
    /// One starting margin per output.
    public var baseMargin: [Double]
    public var trees: [Tree]

    /// One tree as parallel arrays, one entry per node; node 0 is the root; a leaf has `left == right == -1`.
    public struct Tree: Sendable, Equatable {
        /// Which output this tree adds to (always 0 except for multiclass).
        public var output: Int
        public var feature: [Int]
        public var threshold: [Double]
        public var left: [Int]
        public var right: [Int]
        public var defaultLeft: [Bool]
        /// The leaf value of each node (0 for splits).
        public var value: [Double]

        public init(
            output: Int, feature: [Int], threshold: [Double], left: [Int], right: [Int], defaultLeft: [Bool],
            value: [Double]
        ) {
            self.output = output
            self.feature = feature
            self.threshold = threshold
            self.left = left
            self.right = right
            self.defaultLeft = defaultLeft
            self.value = value
        }

        /// The leaf value this tree gives `row` of `matrix`.
        public func leafValue(_ matrix: FeatureMatrix, row: Int) -> Double {
            var node = 0
            while left[node] >= 0 {
                let x = matrix[row, feature[node]]
                let goLeft = x.isNaN ? defaultLeft[node] : x <= threshold[node]
                node = goLeft ? left[node] : right[node]
            }
            return value[node]
        }
    }

    public init(link: OutputLink, baseMargin: [Double], trees: [Tree]) {
        self.link = link
        self.baseMargin = baseMargin
        self.trees = trees
    }

    /// Outputs for every row: `[row][output]`, after the link.
    public func predict(_ matrix: FeatureMatrix) -> [[Double]] {
        var outputs = Array(repeating: baseMargin, count: matrix.rowCount)
        for tree in trees {
            for row in 0..<matrix.rowCount { outputs[row][tree.output] += tree.leafValue(matrix, row: row) }
        }
        for row in outputs.indices { link.apply(&outputs[row]) }
        return outputs
    }
}

/// A trained matrix factorization: `score(user, item) = Σ_d userFactors[user][d] · itemFactors[item][d]`.
///
/// Mirrors the native format's `factorization` section.
public struct FactorizationParameters: Sendable, Equatable {
    public var dimensions: Int
    public var userIDs: [String]
    public var itemIDs: [String]
    /// `userIDs.count × dimensions`, row-major.
    public var userFactors: [Double]
    /// `itemIDs.count × dimensions`, row-major.
    public var itemFactors: [Double]

    public init(dimensions: Int, userIDs: [String], itemIDs: [String], userFactors: [Double], itemFactors: [Double]) {
        self.dimensions = dimensions
        self.userIDs = userIDs
        self.itemIDs = itemIDs
        self.userFactors = userFactors
        self.itemFactors = itemFactors
    }

    /// The affinity of user index `user` for item index `item`.
    public func score(user: Int, item: Int) -> Double {
        var sum = 0.0
        for d in 0..<dimensions { sum += userFactors[user * dimensions + d] * itemFactors[item * dimensions + d] }
        return sum
    }

    /// The `k` best-scoring item indices for `user`, best first, leaving out `excluding`; ties go to the
    /// lower item index.
    public func topK(_ k: Int, forUser user: Int, excluding: Set<Int> = []) -> [Int] {
        let scored = (0..<itemIDs.count).filter { !excluding.contains($0) }.map { ($0, score(user: user, item: $0)) }
        return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(max(0, k)).map(\.0)
    }
}
