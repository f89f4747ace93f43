import Foundation

/// A registered model: a named line of versions owned by one team. Maps onto MLflow's RegisteredModel.
public struct Model: Sendable, Equatable, Codable {
    public let id: ModelID
    public let team: TeamID
    public let name: String
    public var description: String
    /// The highest version number assigned so far (0 before the first version).
    public var latestVersion: Int
    public var tags: [String: String]
    /// Alias name → version number (`champion` → 3).
    public var aliases: [String: Int]
    public let createdAt: Date
    public var updatedAt: Date

    public init(
        id: ModelID, team: TeamID, name: String, description: String, latestVersion: Int, tags: [String: String],
        aliases: [String: Int], createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.team = team
        self.name = name
        self.description = description
        self.latestVersion = latestVersion
        self.tags = tags
        self.aliases = aliases
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The open model formats Slipway serves. Code-executing formats (pickle, joblib, torch) are never accepted.
public enum ModelFormat: String, Sendable, Codable, CaseIterable {
    case onnx
    case xgboostJSON = "xgboost_json"
    case lightgbmText = "lightgbm_text"
    case slipway
}

/// Where a version came from, for lineage queries and audits.
public struct Lineage: Sendable, Equatable, Codable {
    /// The dataset version the model was trained on, e.g. `transactions@12`.
    public var datasetVersion: String?
    /// The training job that produced it.
    public var trainingJob: String?
    /// The code that produced it, e.g. `git+https://…@<commit>`.
    public var sourceCode: String?

    public init(datasetVersion: String? = nil, trainingJob: String? = nil, sourceCode: String? = nil) {
        self.datasetVersion = datasetVersion
        self.trainingJob = trainingJob
        self.sourceCode = sourceCode
    }
}

/// One named input or output tensor, in Open Inference Protocol v2 terms.
public struct TensorSpec: Sendable, Equatable, Codable {
    /// OIP v2 datatypes.
    public enum DataType: String, Sendable, Codable, CaseIterable {
        case bool = "BOOL"
        case uint8 = "UINT8"
        case uint16 = "UINT16"
        case uint32 = "UINT32"
        case uint64 = "UINT64"
        case int8 = "INT8"
        case int16 = "INT16"
        case int32 = "INT32"
        case int64 = "INT64"
        case fp16 = "FP16"
        case fp32 = "FP32"
        case fp64 = "FP64"
        case bytes = "BYTES"
    }

    public var name: String
    public var datatype: DataType
    /// Dimensions; -1 marks a variable dimension (usually the batch).
    public var shape: [Int]

    public init(name: String, datatype: DataType, shape: [Int]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }
}

/// A model's input/output signature, used to validate prediction requests.
public struct ModelSignature: Sendable, Equatable, Codable {
    public var inputs: [TensorSpec]
    public var outputs: [TensorSpec]

    public init(inputs: [TensorSpec], outputs: [TensorSpec]) {
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Checks names and shapes; throws a 400 naming the bad tensor.
    public func validate() throws(SlipwayError) {
        for (kind, specs) in [("input", inputs), ("output", outputs)] {
            var seen = Set<String>()
            for spec in specs {
                guard !spec.name.isEmpty, spec.name.utf8.count <= 256 else {
                    throw .badRequest("signature \(kind) names must be 1-256 characters", code: "invalid_signature")
                }
                guard seen.insert(spec.name).inserted else {
                    throw .badRequest("signature \(kind) '\(spec.name)' appears twice", code: "invalid_signature")
                }
                guard spec.shape.count <= 8, spec.shape.allSatisfy({ $0 == -1 || $0 > 0 }) else {
                    throw .badRequest(
                        "signature \(kind) '\(spec.name)': shape must have at most 8 dimensions, each -1 or positive",
                        code: "invalid_signature")
                }
            }
        }
    }
}

/// A model version's lifecycle status. Governance adds review states later.
public enum VersionStatus: String, Sendable, Codable, CaseIterable {
    /// Registered and usable.
    case ready
    /// Kept for lineage and audit, but not to be deployed.
    case archived
}

/// An immutable, numbered version of a model: one artifact plus its metadata.
public struct ModelVersion: Sendable, Equatable, Codable {
    public let model: ModelID
    public let version: Int
    /// `sha256:<hex>` of the artifact bytes.
    public let artifactDigest: String
    public let artifactSize: Int64
    public let format: ModelFormat
    public let signature: ModelSignature?
    public let parameters: [String: String]
    public let metrics: [String: Double]
    public let lineage: Lineage
    public var description: String
    /// Markdown.
    public let modelCard: String
    public var status: VersionStatus
    public var tags: [String: String]
    public let createdBy: String
    public let createdAt: Date
    /// Whether the version may be deployed to production. Set by a team reviewer or admin; the approval
    /// workflow will set it later.
    public var productionAllowed: Bool

    public init(
        model: ModelID, version: Int, artifactDigest: String, artifactSize: Int64, format: ModelFormat,
        signature: ModelSignature?, parameters: [String: String], metrics: [String: Double], lineage: Lineage,
        description: String, modelCard: String, status: VersionStatus, tags: [String: String], createdBy: String,
        createdAt: Date, productionAllowed: Bool = false
    ) {
        self.productionAllowed = productionAllowed
        self.model = model
        self.version = version
        self.artifactDigest = artifactDigest
        self.artifactSize = artifactSize
        self.format = format
        self.signature = signature
        self.parameters = parameters
        self.metrics = metrics
        self.lineage = lineage
        self.description = description
        self.modelCard = modelCard
        self.status = status
        self.tags = tags
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// The fields a client supplies when registering a version.
public struct NewModelVersion: Sendable, Equatable {
    public var artifactDigest: String
    public var format: ModelFormat
    public var signature: ModelSignature?
    public var parameters: [String: String]
    public var metrics: [String: Double]
    public var lineage: Lineage
    public var description: String
    public var modelCard: String
    public var tags: [String: String]

    public init(
        artifactDigest: String, format: ModelFormat, signature: ModelSignature? = nil,
        parameters: [String: String] = [:], metrics: [String: Double] = [:], lineage: Lineage = Lineage(),
        description: String = "", modelCard: String = "", tags: [String: String] = [:]
    ) {
        self.artifactDigest = artifactDigest
        self.format = format
        self.signature = signature
        self.parameters = parameters
        self.metrics = metrics
        self.lineage = lineage
        self.description = description
        self.modelCard = modelCard
        self.tags = tags
    }

    /// Checks sizes and shapes before anything is written.
    public func validate() throws(SlipwayError) {
        guard Digest.isArtifactDigest(artifactDigest) else {
            throw .badRequest("artifact must be 'sha256:' and 64 lowercase hex digits", code: "invalid_digest")
        }
        try signature?.validate()
        try Tags.validate(tags)
        try MetadataKeys.validate(parameters.keys, what: "parameter")
        for (key, value) in parameters where value.utf8.count > 1024 {
            throw .badRequest("parameter '\(key)' value is limited to 1024 bytes", code: "too_long")
        }
        for (name, value) in metrics {
            try MetadataKeys.validate([name], what: "metric")
            guard value.isFinite else {
                throw .badRequest("metric '\(name)' must be a finite number", code: "invalid_metric")
            }
        }
        try Description.validate(description)
        guard modelCard.utf8.count <= 256 * 1024 else {
            throw .badRequest("model card is limited to 256 KiB", code: "too_long")
        }
        for field in [lineage.datasetVersion, lineage.trainingJob, lineage.sourceCode].compactMap({ $0 }) {
            guard field.utf8.count <= 1024 else {
                throw .badRequest("lineage fields are limited to 1024 bytes", code: "too_long")
            }
        }
    }
}

/// Rules for parameter and metric names, which come from training code (`C`, `learning_rate`,
/// `val/auc`): 1-250 printable characters, as MLflow allows.
public enum MetadataKeys {
    public static func validate(_ keys: some Collection<String>, what: String) throws(SlipwayError) {
        guard keys.count <= 1000 else { throw .badRequest("at most 1000 \(what)s", code: "too_many_keys") }
        for key in keys {
            guard (1...250).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value != 127 })
            else {
                throw .badRequest(
                    "\(what) name '\(key.prefix(40))' must be 1-250 printable characters", code: "invalid_name")
            }
        }
    }
}

/// Rules for tags.
public enum Tags {
    public static func validate(_ tags: [String: String], what: String = "tag") throws(SlipwayError) {
        guard tags.count <= 100 else { throw .badRequest("at most 100 \(what)s", code: "too_many_tags") }
        for (key, value) in tags {
            try validateKey(key, what: what)
            guard value.utf8.count <= 1024 else {
                throw .badRequest("\(what) '\(key)' value is limited to 1024 bytes", code: "too_long")
            }
        }
    }

    public static func validateKey(_ key: String, what: String = "tag") throws(SlipwayError) {
        try ResourceName.validate(key, as: "\(what) key")
    }
}

/// A filtered page of results plus the cursor for the next page (nil when done).
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    public let nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// Pagination input: an opaque cursor from the previous page and a page size.
public struct PageRequest: Sendable, Equatable {
    public static let maximumLimit = 200
    public let limit: Int
    public let after: String?

    /// Validates `limit` (1–200, default 50) and decodes `cursor`.
    public init(limit: Int? = nil, cursor: String? = nil) throws(SlipwayError) {
        let limit = limit ?? 50
        guard (1...Self.maximumLimit).contains(limit) else {
            throw .badRequest("limit must be between 1 and \(Self.maximumLimit)", code: "invalid_limit")
        }
        self.limit = limit
        if let cursor {
            // Issued positions never hold NUL, which PostgreSQL text cannot store: refuse it here, not as a 500.
            guard let data = Data(base64URL: cursor), let text = String(data: data, encoding: .utf8), !text.isEmpty,
                !text.contains("\u{0}")
            else {
                throw .badRequest(
                    "cursor is not one this server issued; start again without it", code: "invalid_cursor")
            }
            self.after = text
        } else {
            self.after = nil
        }
    }

    /// Encodes a position as an opaque cursor.
    public static func cursor(after position: String) -> String {
        Data(position.utf8).base64URLEncodedString()
    }
}

extension Data {
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }

    func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
