import Foundation
import SlipwayCore
import Synchronization
import Testing

@testable import SlipwayML

/// A data set with scikit-learn's fits of it, written by `scripts/linear_fixtures.py`.
struct LinearFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var standardize: Bool
        /// Logistic regression: scikit-learn's `C` (our `l2` is `1 / C`).
        var sklearnC: Double?
        /// Ridge: the penalty.
        var alpha: Double?
        var coef: [[Double]]
        var intercept: [Double]
        /// `[row][output]`, after the link.
        var predictions: [[Double]]
        var mean: [Double]?
        var scale: [Double]?

        enum CodingKeys: String, CodingKey {
            case name, standardize, alpha, coef, intercept, predictions, mean, scale
            case sklearnC = "C"
        }
    }

    var featureNames: [String]
    /// nil marks a missing value.
    var rows: [[Double?]]
    var labels: [Double]
    var cases: [Case]

    enum CodingKeys: String, CodingKey {
        case featureNames = "feature_names"
        case rows, labels, cases
    }

    static func load(_ name: String) throws -> LinearFixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name).json")
        return try JSONDecoder().decode(LinearFixture.self, from: Data(contentsOf: url))
    }

    var features: FeatureMatrix {
        get throws { try FeatureMatrix(featureNames: featureNames, rows: rows.map { $0.map { $0 ?? .nan } }) }
    }
}

/// Expects `actual` and `expected` to agree elementwise within `tolerance`.
func expectElementsClose(
    _ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)",
        sourceLocation: sourceLocation)
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    #expect(
        worst <= tolerance, "\(what): off by \(worst)\n  got      \(actual)\n  expected \(expected)",
        sourceLocation: sourceLocation)
}

/// Expects `body` to throw a `SlipwayError.badRequest` whose message contains `fragment`.
func expectBadInput(
    _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record(
            "expected a bad request mentioning '\(fragment)', but nothing was thrown",
            sourceLocation: sourceLocation)
    } catch let error as SlipwayError {
        #expect(error.kind == .badRequest, sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "message: \(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SlipwayError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Records observer calls and can stop training, as the job runner does on cancel, at an iteration.
final class ObserverLog: Sendable {
    private let progress = Mutex<[TrainingProgress]>([])
    let cancelAt: Int?

    init(cancelAt: Int? = nil) { self.cancelAt = cancelAt }

    var calls: [TrainingProgress] { progress.withLock { $0 } }

    var observer: TrainingObserver {
        { [self] step in
            progress.withLock { $0.append(step) }
            if let cancelAt, step.iteration >= cancelAt { throw CancellationError() }
        }
    }
}
