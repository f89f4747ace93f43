import SlipwayCore

/// Hyperparameters of ``GradientBoostingTrainer``; names and defaults follow LightGBM's where they overlap.
///
/// Decoding fills every missing key with its default, so `{"task": "binary"}` is a complete configuration.
///
/// ```swift
/// var configuration = GradientBoostingConfiguration(task: .binary)
/// configuration.maxLeaves = 63
/// configuration.earlyStoppingRounds = 10
/// ```
public struct GradientBoostingConfiguration: Sendable, Codable, Equatable {
    /// The loss: logloss (`binary`), softmax cross-entropy (`multiclass`) or squared error (`regression`).
    public var task: LearningTask
    /// The number of classes for `multiclass` (labels are `0..<classCount`); ignored by other tasks.
    public var classCount: Int
    /// The most boosting rounds; a multiclass round adds one tree per class.
    public var numberOfTrees: Int
    /// The shrinkage applied to every leaf value.
    public var learningRate: Double
    /// The most leaves per tree; trees grow best-first (leaf-wise) until they have this many.
    public var maxLeaves: Int
    /// The deepest a leaf may be (the root has depth 0); nil, or as in LightGBM any value <= 0 (e.g. -1), for
    /// no limit.
    public var maxDepth: Int?
    /// The fewest training rows a leaf may hold (estimated from the hessian while searching splits, as LightGBM does).
    public var minDataInLeaf: Int
    /// The smallest sum of hessians a leaf may hold.
    public var minSumHessianInLeaf: Double
    /// L2 regularisation added to the hessian sum in leaf values and split gains.
    public var lambdaL2: Double
    /// The most value bins per feature (2...255); missing values get one more bin of their own.
    public var maxBins: Int
    /// The share of features each tree may split on, drawn per tree from ``seed``.
    public var featureFraction: Double
    /// The share of rows each tree is grown from, drawn per tree from ``seed``.
    public var baggingFraction: Double
    /// Fixes binning samples, feature and row sampling: the same inputs and seed give bit-identical trees.
    public var seed: UInt64
    /// Stop when the validation loss has not improved for this many rounds and keep the best round; needs
    /// a validation set. Nil trains every round.
    public var earlyStoppingRounds: Int?
    /// Worker threads for histogram building, partitioning and scoring. Results do not depend on it.
    public var threads: Int

    public init(
        task: LearningTask, classCount: Int = 2, numberOfTrees: Int = 100, learningRate: Double = 0.1,
        maxLeaves: Int = 31, maxDepth: Int? = nil, minDataInLeaf: Int = 20, minSumHessianInLeaf: Double = 1e-3,
        lambdaL2: Double = 0, maxBins: Int = 255, featureFraction: Double = 1, baggingFraction: Double = 1,
        seed: UInt64 = 0, earlyStoppingRounds: Int? = nil, threads: Int = 2
    ) {
        self.task = task
        self.classCount = classCount
        self.numberOfTrees = numberOfTrees
        self.learningRate = learningRate
        self.maxLeaves = maxLeaves
        self.maxDepth = maxDepth
        self.minDataInLeaf = minDataInLeaf
        self.minSumHessianInLeaf = minSumHessianInLeaf
        self.lambdaL2 = lambdaL2
        self.maxBins = maxBins
        self.featureFraction = featureFraction
        self.baggingFraction = baggingFraction
        self.seed = seed
        self.earlyStoppingRounds = earlyStoppingRounds
        self.threads = threads
    }

    /// The depth limit, nil when there is none.
    var depthLimit: Int? { maxDepth.flatMap { $0 > 0 ? $0 : nil } }

    /// The number of model outputs, and so of trees per boosting round.
    var outputCount: Int { task == .multiclass ? classCount : 1 }

    /// Checks every hyperparameter.
    ///
    /// - Throws: `SlipwayError.badRequest` naming the first out-of-range value and its allowed range.
    public func validate() throws(SlipwayError) {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(SlipwayError) {
            if !condition { throw .badRequest(message(), code: "invalid_hyperparameter") }
        }
        if task == .multiclass {
            try require(classCount >= 2, "classCount must be at least 2 for multiclass, got \(classCount)")
        }
        try require(numberOfTrees >= 1, "numberOfTrees must be at least 1, got \(numberOfTrees)")
        try require(
            learningRate.isFinite && learningRate > 0, "learningRate must be a positive number, got \(learningRate)")
        try require(maxLeaves >= 2, "maxLeaves must be at least 2, got \(maxLeaves)")
        try require(minDataInLeaf >= 1, "minDataInLeaf must be at least 1, got \(minDataInLeaf)")
        try require(
            minSumHessianInLeaf.isFinite && minSumHessianInLeaf >= 0,
            "minSumHessianInLeaf must be zero or positive, got \(minSumHessianInLeaf)")
        try require(lambdaL2.isFinite && lambdaL2 >= 0, "lambdaL2 must be zero or positive, got \(lambdaL2)")
        try require((2...255).contains(maxBins), "maxBins must be between 2 and 255, got \(maxBins)")
        try require(
            featureFraction > 0 && featureFraction <= 1, "featureFraction must be in (0, 1], got \(featureFraction)")
        try require(
            baggingFraction > 0 && baggingFraction <= 1, "baggingFraction must be in (0, 1], got \(baggingFraction)")
        if let earlyStoppingRounds {
            try require(
                earlyStoppingRounds >= 1,
                "earlyStoppingRounds must be at least 1 (or omitted to train every round), got \(earlyStoppingRounds)")
        }
        try require((1...256).contains(threads), "threads must be between 1 and 256, got \(threads)")
    }

    private enum CodingKeys: String, CodingKey {
        case task, classCount, numberOfTrees, learningRate, maxLeaves, maxDepth, minDataInLeaf, minSumHessianInLeaf
        case lambdaL2, maxBins, featureFraction, baggingFraction, seed, earlyStoppingRounds, threads
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GradientBoostingConfiguration(task: try container.decode(LearningTask.self, forKey: .task))
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        self.init(
            task: defaults.task,
            classCount: try value(.classCount, defaults.classCount),
            numberOfTrees: try value(.numberOfTrees, defaults.numberOfTrees),
            learningRate: try value(.learningRate, defaults.learningRate),
            maxLeaves: try value(.maxLeaves, defaults.maxLeaves),
            maxDepth: try container.decodeIfPresent(Int.self, forKey: .maxDepth),
            minDataInLeaf: try value(.minDataInLeaf, defaults.minDataInLeaf),
            minSumHessianInLeaf: try value(.minSumHessianInLeaf, defaults.minSumHessianInLeaf),
            lambdaL2: try value(.lambdaL2, defaults.lambdaL2),
            maxBins: try value(.maxBins, defaults.maxBins),
            featureFraction: try value(.featureFraction, defaults.featureFraction),
            baggingFraction: try value(.baggingFraction, defaults.baggingFraction),
            seed: try value(.seed, defaults.seed),
            earlyStoppingRounds: try container.decodeIfPresent(Int.self, forKey: .earlyStoppingRounds),
            threads: try value(.threads, defaults.threads))
    }
}
