import SlipwayServing

/// Prometheus exposition of the serving layer: latency histograms, requests, errors and rows per
/// team, environment, endpoint and version (cumulative since this process started).
enum ServingMetrics {
    static func render(stats: LatencyStats, rows: [String: Int64]) -> String {
        let histograms = stats.prometheusHistograms()
        guard !histograms.isEmpty else { return "" }
        var text = """
            # HELP slipway_prediction_latency_seconds Prediction latency per endpoint and version.
            # TYPE slipway_prediction_latency_seconds histogram

            """
        var requests = """
            # HELP slipway_prediction_requests_total Prediction requests per endpoint and version.
            # TYPE slipway_prediction_requests_total counter

            """
        var errors = """
            # HELP slipway_prediction_errors_total Failed prediction requests per endpoint and version.
            # TYPE slipway_prediction_errors_total counter

            """
        var rowLines = """
            # HELP slipway_prediction_rows_total Rows predicted per endpoint and version.
            # TYPE slipway_prediction_rows_total counter

            """
        for histogram in histograms {
            let labels = Self.labels(histogram.endpoint, version: histogram.version)
            for (bound, count) in zip(histogram.upperBounds, histogram.cumulativeCounts) {
                text += "slipway_prediction_latency_seconds_bucket{\(labels),le=\"\(bound)\"} \(count)\n"
            }
            text += "slipway_prediction_latency_seconds_bucket{\(labels),le=\"+Inf\"} \(histogram.count)\n"
            text += "slipway_prediction_latency_seconds_sum{\(labels)} \(histogram.sum)\n"
            text += "slipway_prediction_latency_seconds_count{\(labels)} \(histogram.count)\n"
            requests += "slipway_prediction_requests_total{\(labels)} \(histogram.count)\n"
            errors += "slipway_prediction_errors_total{\(labels)} \(histogram.errors)\n"
            rowLines += "slipway_prediction_rows_total{\(labels)} \(rows["\(histogram.endpoint)#\(histogram.version)"] ?? 0)\n"
        }
        return text + requests + errors + rowLines
    }

    /// `team_id`, `environment`, `endpoint` and `version` labels from a stats key `team/environment/endpoint`.
    static func labels(_ key: String, version: Int) -> String {
        let parts = key.split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3 else { return "endpoint=\"\(key)\",version=\"\(version)\"" }
        // Names are [a-z0-9._-] and IDs hex, so nothing needs escaping.
        return "team_id=\"\(parts[0])\",environment=\"\(parts[1])\",endpoint=\"\(parts[2])\",version=\"\(version)\""
    }
}
