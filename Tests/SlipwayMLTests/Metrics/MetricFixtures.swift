import Foundation
import Testing

/// The scikit-learn reference values written by `scripts/metric_fixtures.py`.
enum MetricFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func load<Fixture: Decodable>(_ name: String, as type: Fixture.Type = Fixture.self) throws -> Fixture {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    struct Cases<Case: Decodable>: Decodable {
        var cases: [Case]
    }

    struct Binary: Decodable {
        var name: String
        var threshold: Double
        var labels: [Int]
        var probabilities: [Double]
        var expected: [String: Double?]
        var confusionMatrix: [[Int]]

        enum CodingKeys: String, CodingKey {
            case name, threshold, labels, probabilities, expected
            case confusionMatrix = "confusion_matrix"
        }
    }

    struct Multiclass: Decodable {
        var name: String
        var labels: [Int]
        var probabilities: [[Double]]
        var expected: [String: Double?]
        var confusionMatrix: [[Int]]
        var classROCAUC: [Double?]
        var classAveragePrecision: [Double?]

        enum CodingKeys: String, CodingKey {
            case name, labels, probabilities, expected
            case confusionMatrix = "confusion_matrix"
            case classROCAUC = "class_roc_auc"
            case classAveragePrecision = "class_average_precision"
        }
    }

    struct Regression: Decodable {
        var name: String
        var labels: [Double]
        var predictions: [Double]
        var expected: [String: Double]
    }

    struct Ranking: Decodable {
        struct Report: Decodable {
            var name: String
            var k: Int
            var rankings: [[String]]
            var gains: [[String: Double]]
            var graded: Bool
            var expected: [String: Double]
        }

        struct Query: Decodable {
            var name: String
            var gains: [Double]
            var scores: [Double]
            var k: Int?
            var expected: Double?
        }

        var reports: [Report]
        var queries: [Query]
    }
}

/// Expects `actual` within `tolerance` of `expected`, or both nil.
func expectClose(
    _ actual: Double?, _ expected: Double?, tolerance: Double = 1e-9, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch (actual, expected) {
    case (nil, nil):
        return
    case (let actual?, let expected?):
        #expect(
            abs(actual - expected) <= tolerance, "\(what): \(actual) vs \(expected)", sourceLocation: sourceLocation)
    default:
        Issue.record(
            "\(what): \(String(describing: actual)) vs \(String(describing: expected))", sourceLocation: sourceLocation)
    }
}

/// Expects two metric maps to hold the same keys with values within `tolerance`.
func expectClose(
    _ actual: [String: Double], _ expected: [String: Double], tolerance: Double = 1e-9, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(Set(actual.keys) == Set(expected.keys), "\(what): keys", sourceLocation: sourceLocation)
    for (key, value) in expected {
        expectClose(actual[key], value, tolerance: tolerance, "\(what) \(key)", sourceLocation: sourceLocation)
    }
}
