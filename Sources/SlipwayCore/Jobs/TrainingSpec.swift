import Foundation

/// What to train: a dataset version, the columns, the task and the algorithm. Written as YAML or JSON;
/// the same spec with the same seed and data trains the same model.
///
/// ```yaml
/// model: churn                 # registered into this model (created if missing)
/// dataset: customers
/// dataset_version: 3           # optional: the newest version (refused if it breaks its contract)
/// label: churned
/// exclude: [customer_id]       # or features: [age, tenure, spend]
/// task: binary
/// algorithm: gbdt
/// hyperparameters: {trees: 200, learning_rate: 0.05, max_leaves: 31}
/// validation: {fraction: 0.2, time_column: signup_date}
/// seed: 42
/// sensitive_attributes: [gender]
/// ```
public struct TrainingSpec: Sendable, Equatable, Codable {
    public var model: String
    public var dataset: String
    public var datasetVersion: Int?
    public var label: String?
    public var features: [String]?
    public var exclude: [String]?
    public var task: TrainingTask
    public var algorithm: TrainingAlgorithm
    public var hyperparameters: [String: Double]?
    public var validation: ValidationSplit?
    public var seed: UInt64?
    public var sensitiveAttributes: [String]?
    /// Recommendation data (task `ranking`, algorithm `als`): which columns hold users, items and the
    /// interaction strength.
    public var interactions: InteractionColumns?
    public var description: String?

    public init(
        model: String, dataset: String, datasetVersion: Int? = nil, label: String? = nil, features: [String]? = nil,
        exclude: [String]? = nil, task: TrainingTask, algorithm: TrainingAlgorithm,
        hyperparameters: [String: Double]? = nil, validation: ValidationSplit? = nil, seed: UInt64? = nil,
        sensitiveAttributes: [String]? = nil, interactions: InteractionColumns? = nil, description: String? = nil
    ) {
        self.model = model
        self.dataset = dataset
        self.datasetVersion = datasetVersion
        self.label = label
        self.features = features
        self.exclude = exclude
        self.task = task
        self.algorithm = algorithm
        self.hyperparameters = hyperparameters
        self.validation = validation
        self.seed = seed
        self.sensitiveAttributes = sensitiveAttributes
        self.interactions = interactions
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case model, dataset, label, features, exclude, task, algorithm, hyperparameters, validation, seed
        case datasetVersion = "dataset_version"
        case sensitiveAttributes = "sensitive_attributes"
        case interactions, description
    }

    /// How the validation rows are chosen: a seeded random fraction, or the newest fraction by a time
    /// column (so the model is judged on data later than what it learned from).
    public struct ValidationSplit: Sendable, Equatable, Codable {
        public var fraction: Double
        public var timeColumn: String?

        public init(fraction: Double, timeColumn: String? = nil) {
            self.fraction = fraction
            self.timeColumn = timeColumn
        }

        enum CodingKeys: String, CodingKey {
            case fraction
            case timeColumn = "time_column"
        }
    }

    public struct InteractionColumns: Sendable, Equatable, Codable {
        public var user: String
        public var item: String
        /// Interaction strength (count, rating); 1 per row when absent.
        public var weight: String?

        public init(user: String, item: String, weight: String? = nil) {
            self.user = user
            self.item = item
            self.weight = weight
        }
    }

    /// The validation fraction in effect (0.2 unless the spec says otherwise).
    public var validationFraction: Double { validation?.fraction ?? 0.2 }

    /// Checks the spec's shape before a job is queued; the data-dependent checks happen when it runs.
    public func validate() throws(SlipwayError) {
        try ResourceName.validate(model, as: "model name")
        try ResourceName.validate(dataset, as: "dataset name")
        if let datasetVersion, datasetVersion < 1 {
            throw .badRequest("dataset_version must be 1 or more", code: "invalid_spec")
        }
        guard algorithm.tasks.contains(task) else {
            throw .badRequest(
                "algorithm \(algorithm.rawValue) trains \(algorithm.tasks.map(\.rawValue).joined(separator: " or ")) "
                    + "tasks, not \(task.rawValue)", code: "invalid_spec")
        }
        if task == .ranking {
            guard interactions != nil else {
                throw .badRequest(
                    "task ranking needs interactions: {user: COLUMN, item: COLUMN, weight: COLUMN}",
                    code: "invalid_spec")
            }
        } else if label == nil {
            throw .badRequest("label is required: name the column to predict", code: "invalid_spec")
        }
        if features != nil, exclude != nil {
            throw .badRequest("give features or exclude, not both", code: "invalid_spec")
        }
        if let features, features.isEmpty {
            throw .badRequest("features must name at least one column", code: "invalid_spec")
        }
        let fraction = validationFraction
        guard fraction > 0, fraction < 0.9 else {
            throw .badRequest("validation.fraction must be above 0 and below 0.9", code: "invalid_spec")
        }
        for (name, value) in hyperparameters ?? [:] {
            guard let range = algorithm.hyperparameterRanges[name] else {
                throw .badRequest(
                    "\(algorithm.rawValue) has no hyperparameter '\(name)'; it takes "
                        + algorithm.hyperparameters.sorted().joined(separator: ", "), code: "invalid_spec")
            }
            guard value.isFinite, range.contains(value), !range.integer || value == value.rounded() else {
                throw .badRequest(
                    "hyperparameter '\(name)' must be \(range.integer ? "a whole number" : "a number") \(range.text), "
                        + "not \(value)", code: "invalid_spec")
            }
        }
        if task == .ranking, sensitiveAttributes?.isEmpty == false || validation?.timeColumn != nil {
            throw .badRequest(
                "task ranking does not use sensitive_attributes or validation.time_column (interactions are held out "
                    + "at random); remove them", code: "invalid_spec")
        }
        if let description { try Description.validate(description) }
    }
}

/// The learning problem.
public enum TrainingTask: String, Sendable, Codable, CaseIterable {
    case binary, multiclass, regression, ranking
}

/// The trainers Slipway ships.
public enum TrainingAlgorithm: String, Sendable, Codable, CaseIterable {
    case logisticRegression = "logistic_regression"
    case linearRegression = "linear_regression"
    case gbdt
    case als

    /// The tasks the algorithm trains.
    public var tasks: [TrainingTask] {
        switch self {
        case .logisticRegression: [.binary, .multiclass]
        case .linearRegression: [.regression]
        case .gbdt: [.binary, .multiclass, .regression]
        case .als: [.ranking]
        }
    }

    /// Hyperparameter names the algorithm accepts.
    public var hyperparameters: Set<String> { Set(hyperparameterRanges.keys) }

    /// The allowed values of each hyperparameter (bounds keep a spec from asking for absurd work).
    public var hyperparameterRanges: [String: HyperparameterRange] {
        switch self {
        case .logisticRegression:
            [
                "c": .init(above: 0, upTo: 1e12), "max_iterations": .integer(1...100_000),
                "tolerance": .init(above: 0, upTo: 1),
            ]
        case .linearRegression: ["alpha": .init(from: 0, upTo: 1e12)]
        case .gbdt:
            [
                "trees": .integer(1...100_000), "learning_rate": .init(above: 0, upTo: 1),
                "max_leaves": .integer(2...131_072), "max_depth": .integer(-1...64),
                "min_data_in_leaf": .integer(1...100_000_000), "lambda_l2": .init(from: 0, upTo: 1e12),
                "max_bins": .integer(2...255), "feature_fraction": .init(above: 0, upTo: 1),
                "bagging_fraction": .init(above: 0, upTo: 1), "early_stopping_rounds": .integer(1...100_000),
                "threads": .integer(1...64),
            ]
        case .als:
            [
                "factors": .integer(1...1024), "regularization": .init(from: 0, upTo: 1e12),
                "alpha": .init(from: 0, upTo: 1e9), "iterations": .integer(1...1000), "k": .integer(1...1000),
            ]
        }
    }
}

/// The values one hyperparameter may take.
public struct HyperparameterRange: Sendable, Equatable {
    public let lower: Double
    public let lowerInclusive: Bool
    public let upper: Double
    public let integer: Bool

    public init(above lower: Double, upTo upper: Double) {
        self.lower = lower
        self.lowerInclusive = false
        self.upper = upper
        self.integer = false
    }

    public init(from lower: Double, upTo upper: Double) {
        self.lower = lower
        self.lowerInclusive = true
        self.upper = upper
        self.integer = false
    }

    init(integers: ClosedRange<Int>) {
        self.lower = Double(integers.lowerBound)
        self.lowerInclusive = true
        self.upper = Double(integers.upperBound)
        self.integer = true
    }

    public static func integer(_ range: ClosedRange<Int>) -> HyperparameterRange { .init(integers: range) }

    public func contains(_ value: Double) -> Bool {
        (lowerInclusive ? value >= lower : value > lower) && value <= upper
    }

    /// `from 1 to 100000`, `above 0 up to 1`.
    public var text: String {
        let low = DataContract.format(lower)
        return (lowerInclusive ? "from \(low)" : "above \(low)") + " to \(DataContract.format(upper))"
    }
}
