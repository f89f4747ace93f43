/// Numeric code for the platform: training algorithms, evaluation metrics, fairness and drift
/// statistics. Pure compute, no I/O, tested without I/O. Empty until the training work lands.
public enum SlipwayML {}
