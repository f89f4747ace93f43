/// Numeric code for the platform: training algorithms, evaluation metrics, and later fairness and
/// drift statistics. Pure compute, no I/O, tested without I/O.
///
/// - ``FeatureMatrix``: the column-major input every trainer reads (NaN = missing).
/// - Trainers (`LogisticRegressionTrainer`, `RidgeRegressionTrainer`, `GradientBoostingTrainer`,
///   `ImplicitALSTrainer`) return plain parameter values (``LinearModelParameters``,
///   ``TreeEnsembleParameters``, ``FactorizationParameters``) that predict by themselves and map
///   one-to-one onto Slipway's native model format.
/// - Metrics (`ClassificationMetrics`, `RegressionMetrics`, `RankingMetrics`) score predictions.
public enum SlipwayML {}
