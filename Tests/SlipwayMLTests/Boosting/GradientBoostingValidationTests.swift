import Foundation
import SlipwayCore
import Testing

@testable import SlipwayML

@Suite("GradientBoostingTrainer input checks")
struct GradientBoostingValidationTests {
    private let features = try! FeatureMatrix(featureNames: ["a", "b"], rows: [[1, 2], [3, 4], [5, 6], [7, 8]])

    /// Trains and returns the SlipwayError it throws.
    private func failure(
        _ configuration: GradientBoostingConfiguration = .init(task: .binary), features: FeatureMatrix? = nil,
        labels: [Double], validation: (FeatureMatrix, [Double])? = nil
    ) throws -> SlipwayError {
        let error = try #require(throws: SlipwayError.self) {
            try GradientBoostingTrainer(configuration: configuration).train(
                features: features ?? self.features, labels: labels, validation: validation)
        }
        #expect(error.kind == .badRequest)
        return error
    }

    @Test("binary labels must be 0 or 1, with both present")
    func binaryLabels() throws {
        #expect(try failure(labels: [0, 1, 2, 1]).message.contains("must be 0 or 1, but training row 2 has 2.0"))
        #expect(try failure(labels: [0, 0, 0, 0]).message.contains("needs examples of both 0 and 1"))
    }

    @Test("one finite label per row")
    func labelCountAndValues() throws {
        #expect(try failure(labels: [0, 1, 1]).message.contains("4 rows but 3 labels"))
        #expect(try failure(labels: [0, .nan, 1, 0]).message.contains("label at row 1 is nan"))
        let regression = GradientBoostingConfiguration(task: .regression)
        #expect(try failure(regression, labels: [0, .infinity, 1, 0]).message.contains("row 1 is inf"))
    }

    @Test("multiclass labels are whole numbers below classCount")
    func multiclassLabels() throws {
        let settings = GradientBoostingConfiguration(task: .multiclass, classCount: 3)
        #expect(try failure(settings, labels: [0, 1, 3, 2]).message.contains("0..<3"))
        #expect(try failure(settings, labels: [0, 1.5, 1, 2]).message.contains("row 1 has 1.5"))
    }

    @Test("empty data is refused")
    func emptyData() throws {
        let empty = try FeatureMatrix(featureNames: ["a"], columns: [[]])
        #expect(try failure(features: empty, labels: []).message.contains("training data is empty"))
    }

    @Test("validation data must match the training features and have valid labels")
    func validationData() throws {
        let other = try FeatureMatrix(featureNames: ["b", "a"], rows: [[1, 2]])
        #expect(try failure(labels: [0, 1, 0, 1], validation: (other, [1])).message.contains("same order"))
        #expect(
            try failure(labels: [0, 1, 0, 1], validation: (features, [0, 1])).message.contains(
                "validation data has 4 rows but 2 labels"))
        var settings = GradientBoostingConfiguration(task: .binary)
        settings.earlyStoppingRounds = 3
        #expect(try failure(settings, labels: [0, 1, 0, 1]).message.contains("needs a validation set"))
    }

    static let invalidSettings: [(String, GradientBoostingConfiguration)] = {
        func with(_ change: (inout GradientBoostingConfiguration) -> Void) -> GradientBoostingConfiguration {
            var settings = GradientBoostingConfiguration(task: .binary)
            change(&settings)
            return settings
        }
        return [
            ("numberOfTrees", with { $0.numberOfTrees = 0 }),
            ("learningRate", with { $0.learningRate = 0 }),
            ("learningRate", with { $0.learningRate = .nan }),
            ("maxLeaves", with { $0.maxLeaves = 1 }),
            ("minDataInLeaf", with { $0.minDataInLeaf = 0 }),
            ("minSumHessianInLeaf", with { $0.minSumHessianInLeaf = -1 }),
            ("lambdaL2", with { $0.lambdaL2 = -0.5 }),
            ("maxBins", with { $0.maxBins = 256 }),
            ("featureFraction", with { $0.featureFraction = 0 }),
            ("baggingFraction", with { $0.baggingFraction = 1.5 }),
            ("earlyStoppingRounds", with { $0.earlyStoppingRounds = 0 }),
            ("threads", with { $0.threads = 0 }),
            (
                "classCount",
                with {
                    $0.task = .multiclass
                    $0.classCount = 1
                }
            ),
        ]
    }()

    @Test("hyperparameters out of range name the setting", arguments: invalidSettings)
    func hyperparameters(name: String, settings: GradientBoostingConfiguration) throws {
        let error = try failure(settings, labels: [0, 1, 0, 1])
        #expect(error.code == "invalid_hyperparameter")
        #expect(error.message.hasPrefix(name))
    }

    @Test("decoding fills in defaults and round-trips")
    func codable() throws {
        let decoded = try JSONDecoder().decode(
            GradientBoostingConfiguration.self, from: Data(#"{"task": "binary", "maxLeaves": 63}"#.utf8))
        var expected = GradientBoostingConfiguration(task: .binary)
        expected.maxLeaves = 63
        #expect(decoded == expected)
        expected.maxDepth = 6
        expected.earlyStoppingRounds = 10
        let roundTrip = try JSONDecoder().decode(
            GradientBoostingConfiguration.self, from: JSONEncoder().encode(expected))
        #expect(roundTrip == expected)
    }
}
