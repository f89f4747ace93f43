import Foundation
import SlipwayCore

/// A model in Slipway's own native format: versioned, data-only JSON that Slipway's trainers write and
/// ``SlipwayNativePredictor`` and ``FactorizationModel`` read. `docs/model-format.md` is the specification.
///
/// Trainers build a document and call ``encoded()``, which validates it exactly as a reader would and
/// writes `slipway_format_version` first, where ``ModelFormatDetector`` looks for it.
///
/// ```swift
/// let document = NativeModelDocument(
///     kind: .linear, task: .regression, features: ["x"],
///     linear: .init(link: .identity, weights: [[2]], intercepts: [1]))
/// let bytes = try document.encoded()
/// let predictor = try SlipwayNativePredictor(artifact: bytes)
/// ```
public struct NativeModelDocument: Sendable, Equatable, Codable {
    /// The format's major version this code reads and writes.
    public static let currentVersion = 1

    /// What kind of model the document holds; exactly the matching section must be present.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case linear
        case treeEnsemble = "tree_ensemble"
        case factorization
    }

    /// What the model predicts; decides the output's meaning and which links are allowed.
    public enum Task: String, Sendable, Codable, CaseIterable {
        case binary
        case multiclass
        case regression
        case ranking
    }

    /// How a model's summed margins become its outputs.
    public enum Link: String, Sendable, Codable, CaseIterable {
        /// Outputs are the margins.
        case identity
        /// One output: `1 / (1 + exp(-margin))`, the probability of `classes[1]`.
        case logistic
        /// One output per class: `exp(m_k) / Σ exp(m_j)`.
        case softmax
    }

    /// The major version of the format the document follows (``currentVersion`` when written here).
    public var formatVersion: Int
    public var kind: Kind
    public var task: Task
    /// Input feature names, in input column order. For ``Kind/factorization``: the two columns of a
    /// ``Predictor`` row, conventionally `["user", "item"]`.
    public var features: [String]
    /// Class labels, for ``Task/binary`` (exactly two; outputs are about `classes[1]`) and
    /// ``Task/multiclass`` (outputs in this order). Absent for other tasks.
    public var classes: [String]?
    /// Free-form provenance (trainer, parameters); readers keep but never interpret it.
    public var metadata: [String: String]?
    public var linear: Linear?
    public var treeEnsemble: TreeEnsembleSection?
    public var factorization: Factorization?

    public init(
        kind: Kind, task: Task, features: [String], classes: [String]? = nil, metadata: [String: String]? = nil,
        linear: Linear? = nil, treeEnsemble: TreeEnsembleSection? = nil, factorization: Factorization? = nil
    ) {
        self.formatVersion = Self.currentVersion
        self.kind = kind
        self.task = task
        self.features = features
        self.classes = classes
        self.metadata = metadata
        self.linear = linear
        self.treeEnsemble = treeEnsemble
        self.factorization = factorization
    }

    /// A linear model: `margin_k = intercepts[k] + Σ_j weights[k][j] · x'_j`, then the link.
    public struct Linear: Sendable, Equatable, Codable {
        public var link: Link
        /// One row per output (one for regression, ranking and binary; one per class for multiclass),
        /// each with one weight per feature.
        public var weights: [[Float]]
        /// One per row of ``weights``.
        public var intercepts: [Float]
        /// Applied to each (imputed) input before the weights: `x' = (x - mean) / scale`.
        public var standardization: Standardization?
        /// One value per feature, in raw input units, replacing a missing (NaN) input. Without it,
        /// rows with missing values are refused.
        public var imputation: [Float]?

        public struct Standardization: Sendable, Equatable, Codable {
            public var mean: [Float]
            public var scale: [Float]

            public init(mean: [Float], scale: [Float]) {
                self.mean = mean
                self.scale = scale
            }
        }

        public init(
            link: Link, weights: [[Float]], intercepts: [Float], standardization: Standardization? = nil,
            imputation: [Float]? = nil
        ) {
            self.link = link
            self.weights = weights
            self.intercepts = intercepts
            self.standardization = standardization
            self.imputation = imputation
        }
    }

    /// Decision trees whose leaf values are summed onto ``baseMargin``, then passed through the link.
    public struct TreeEnsembleSection: Sendable, Equatable, Codable {
        public var link: Link
        /// One starting margin per output, added before the link (already in margin space).
        public var baseMargin: [Float]
        /// Values per leaf: 1 (each tree adds to its ``Tree/output``), or the output count (each tree
        /// adds a whole vector, as a random forest's class distributions). Defaults to 1.
        public var leafSize: Int?
        public var trees: [Tree]

        enum CodingKeys: String, CodingKey {
            case link
            case baseMargin = "base_margin"
            case leafSize = "leaf_size"
            case trees
        }

        /// One tree as parallel arrays, one entry per node; node 0 is the root.
        ///
        /// A split sends `x <= threshold[n]` to `left[n]`, larger values to `right[n]`, and a missing
        /// value (NaN) to `left[n]` when `default_left[n]`. A leaf has `left` and `right` -1; its value
        /// is `value[n * leaf_size ..< (n + 1) * leaf_size]`.
        public struct Tree: Sendable, Equatable, Codable {
            /// Which output this tree adds to when ``TreeEnsembleSection/leafSize`` is 1; defaults to 0.
            public var output: Int?
            public var feature: [Int]
            public var threshold: [Float]
            public var left: [Int]
            public var right: [Int]
            public var defaultLeft: [Bool]
            public var value: [Float]

            enum CodingKeys: String, CodingKey {
                case output, feature, threshold, left, right
                case defaultLeft = "default_left"
                case value
            }

            public init(
                output: Int? = nil, feature: [Int], threshold: [Float], left: [Int], right: [Int],
                defaultLeft: [Bool], value: [Float]
            ) {
                self.output = output
                self.feature = feature
                self.threshold = threshold
                self.left = left
                self.right = right
                self.defaultLeft = defaultLeft
                self.value = value
            }
        }

        public init(link: Link, baseMargin: [Float], leafSize: Int? = nil, trees: [Tree]) {
            self.link = link
            self.baseMargin = baseMargin
            self.leafSize = leafSize
            self.trees = trees
        }
    }

    /// A matrix factorization (for example implicit ALS): `score(user, item) = Σ_d U[user][d] · V[item][d]`.
    public struct Factorization: Sendable, Equatable, Codable {
        /// The length of every factor vector.
        public var dimensions: Int
        public var users: Factors
        public var items: Factors

        /// Identifiers and their factor vectors, row-major: vector `i` is
        /// `factors[i * dimensions ..< (i + 1) * dimensions]`.
        public struct Factors: Sendable, Equatable, Codable {
            public var ids: [String]
            public var factors: [Float]

            public init(ids: [String], factors: [Float]) {
                self.ids = ids
                self.factors = factors
            }
        }

        public init(dimensions: Int, users: Factors, items: Factors) {
            self.dimensions = dimensions
            self.users = users
            self.items = items
        }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "slipway_format_version"
        case kind, task, features, classes, metadata, linear
        case treeEnsemble = "tree_ensemble"
        case factorization
    }

    /// Reads the version before anything else, so a file from a newer major version is refused with
    /// that reason rather than with whatever field it happens to have changed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let version = try? container.decodeIfPresent(Int.self, forKey: .formatVersion) else {
            throw SlipwayError.unprocessable(
                "slipway_format_version is missing or not an integer", code: "invalid_model")
        }
        guard version == Self.currentVersion else {
            throw SlipwayError.unprocessable(
                "this file uses Slipway model format version \(version), but this Slipway reads version "
                    + "\(Self.currentVersion) only; "
                    + (version > Self.currentVersion ? "upgrade Slipway to load it" : "re-export the model"),
                code: "unsupported_format_version")
        }
        formatVersion = version
        let kindName = try container.decode(String.self, forKey: .kind)
        guard let kind = Kind(rawValue: kindName) else {
            throw SlipwayError.unprocessable(
                "kind '\(kindName.prefix(64))' is not supported; supported are "
                    + Kind.allCases.map(\.rawValue).joined(separator: ", "),
                code: "unsupported_model")
        }
        self.kind = kind
        let taskName = try container.decode(String.self, forKey: .task)
        guard let task = Task(rawValue: taskName) else {
            throw SlipwayError.unprocessable(
                "task '\(taskName.prefix(64))' is not supported; supported are "
                    + Task.allCases.map(\.rawValue).joined(separator: ", "),
                code: "unsupported_model")
        }
        self.task = task
        features = try container.decode([String].self, forKey: .features)
        classes = try container.decodeIfPresent([String].self, forKey: .classes)
        metadata = try container.decodeIfPresent([String: String].self, forKey: .metadata)
        // Only the section `kind` names is read: the others are unknown fields as far as this model goes.
        linear = kind == .linear ? try container.decode(Linear.self, forKey: .linear) : nil
        treeEnsemble =
            kind == .treeEnsemble ? try container.decode(TreeEnsembleSection.self, forKey: .treeEnsemble) : nil
        factorization =
            kind == .factorization ? try container.decode(Factorization.self, forKey: .factorization) : nil
    }
}

// MARK: Reading and writing

extension NativeModelDocument {
    /// Decodes a native model file without validating its contents (``SlipwayNativePredictor`` and
    /// ``FactorizationModel`` do that).
    /// - Throws: ``SlipwayError`` (422) naming the missing or mistyped field, or an unsupported version.
    public static func decode(_ bytes: [UInt8]) throws(SlipwayError) -> NativeModelDocument {
        guard XGBoostModelFile.nestingDepth(bytes) <= maxNesting else {
            throw .unprocessable(
                "not a valid Slipway model: nested deeper than \(maxNesting) levels", code: "invalid_model")
        }
        do {
            return try JSONDecoder().decode(NativeModelDocument.self, from: Data(bytes))
        } catch let error as SlipwayError {
            throw error
        } catch let error as DecodingError {
            throw .unprocessable("not a valid Slipway model: \(describe(error))", code: "invalid_model")
        } catch {
            throw .unprocessable("not a valid Slipway model", code: "invalid_model")
        }
    }

    /// The format nests 5 levels (document, section, trees, tree, array); the bound keeps a hostile file
    /// from exhausting the parser's stack.
    static let maxNesting = 16

    /// Validates the document as a reader would, then encodes it as compact JSON with
    /// `slipway_format_version` as the first key and the others sorted, so equal documents encode to
    /// equal bytes.
    /// - Throws: ``SlipwayError`` (422) naming the first invalid field.
    public func encoded() throws(SlipwayError) -> [UInt8] {
        guard formatVersion == Self.currentVersion else {
            throw .unprocessable(
                "this Slipway writes format version \(Self.currentVersion) only, not \(formatVersion)",
                code: "unsupported_format_version")
        }
        try NativeModelValidator.validate(self)
        let body: Data
        do {
            // Sorted keys: the same model always gives the same bytes, hence the same artifact digest.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            body = try encoder.encode(Body(document: self))
        } catch {
            throw .internal("could not encode the model document")
        }
        // The detector reads only the first 4 KiB, so the version is spliced in front rather than
        // sorted in after megabytes of features and weights.
        var bytes = Array("{\"slipway_format_version\":\(formatVersion)".utf8)
        if body.count > 2 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: body.dropFirst())
        return bytes
    }

    /// Every field but the version, for ``encoded()``.
    private struct Body: Encodable {
        var document: NativeModelDocument

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(document.kind, forKey: .kind)
            try container.encode(document.task, forKey: .task)
            try container.encode(document.features, forKey: .features)
            try container.encodeIfPresent(document.classes, forKey: .classes)
            try container.encodeIfPresent(document.metadata, forKey: .metadata)
            try container.encodeIfPresent(document.linear, forKey: .linear)
            try container.encodeIfPresent(document.treeEnsemble, forKey: .treeEnsemble)
            try container.encodeIfPresent(document.factorization, forKey: .factorization)
        }
    }

    /// Names the field and the problem, without echoing the file's content.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return text.isEmpty ? "the document" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "the file is not well-formed JSON (or holds a number a 32-bit float cannot represent)"
                : "\(path(context.codingPath)) is invalid"
        @unknown default:
            return "the file does not match the format"
        }
    }
}
