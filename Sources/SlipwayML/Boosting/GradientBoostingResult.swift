/// What ``GradientBoostingTrainer/train(features:labels:validation:observer:)`` returns.
public struct GradientBoostingResult: Sendable, Equatable {
    /// The trained model, holding the trees of the first ``bestIteration`` rounds.
    public var model: TreeEnsembleParameters
    /// The boosting rounds kept in ``model``: the round with the lowest validation loss under early
    /// stopping, otherwise every round run.
    public var bestIteration: Int
    /// The boosting rounds run (more than ``bestIteration`` when early stopping cut training short).
    public var iterationsRun: Int
    /// The mean training loss after each round run (logloss, cross-entropy or squared error).
    public var trainLoss: [Double]
    /// The mean validation loss after each round run; empty without a validation set.
    public var validationLoss: [Double]
    /// The total split gain each feature earned in the kept trees, in column order.
    public var featureImportance: [Double]
    /// The training rows' margins after every round run, output-major (`output * rowCount + row`); equal to
    /// the margins ``model`` computes when no rounds were dropped. Kept for tests.
    let trainingMargins: [Double]

    /// The number of trees in ``model`` (``bestIteration`` times the number of outputs).
    public var treeCount: Int { model.trees.count }
}
