/// SlipwayServing: the serving core, kept free of HTTP so it is testable on its own.
///
/// Admission control (bounded concurrency and queue, deadlines), per-team rate limits and quotas, traffic
/// splitting across versions, adaptive batching of rows, latency histograms and usage metering. The HTTP
/// layer (SlipwayServer) maps its errors and results onto the prediction APIs.
public enum SlipwayServing {}
