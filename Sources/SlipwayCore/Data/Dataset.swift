import Foundation

/// A team's named, versioned table of data: the input of training jobs and the reference
/// distribution of drift monitoring.
public struct Dataset: Sendable, Equatable, Codable {
    public let id: DatasetID
    public let team: TeamID
    public let name: String
    public var description: String
    /// The highest version number assigned so far (0 before the first version).
    public var latestVersion: Int
    /// The newest contract version (0 when the dataset has no contract).
    public var contractVersion: Int
    /// When the newest version was created; `nil` before the first.
    public var lastVersionAt: Date?
    /// Set by the freshness monitor when the contract's freshness SLA passed with no new version.
    public var stale: Bool
    public let createdAt: Date

    public init(
        id: DatasetID, team: TeamID, name: String, description: String, latestVersion: Int, contractVersion: Int,
        lastVersionAt: Date?, stale: Bool, createdAt: Date
    ) {
        self.id = id
        self.team = team
        self.name = name
        self.description = description
        self.latestVersion = latestVersion
        self.contractVersion = contractVersion
        self.lastVersionAt = lastVersionAt
        self.stale = stale
        self.createdAt = createdAt
    }
}

/// How a dataset version's content is encoded.
public enum DatasetFormat: String, Sendable, Codable, CaseIterable {
    /// RFC 4180 CSV with a header row.
    case csv
    /// One JSON object per line; the first line's keys are the columns.
    case jsonl
}

/// Whether a version may be used for training.
public enum DatasetVersionStatus: String, Sendable, Codable, CaseIterable {
    /// Every contract rule passed (or there is no contract).
    case valid
    /// Only rules the contract marks as warnings failed; usable for training.
    case warning
    /// A rule that is not a warning failed; training refuses this version.
    case invalid
}

/// One immutable snapshot of a dataset.
public struct DatasetVersion: Sendable, Equatable, Codable {
    public let dataset: DatasetID
    public let version: Int
    /// `sha256:<hex>` of the content, as stored in the artifact store.
    public let digest: String
    public let size: Int64
    public let format: DatasetFormat
    public let rowCount: Int
    /// Column names in file order.
    public let columns: [String]
    /// The contract version this snapshot was validated against (0 = none).
    public let contractVersion: Int
    public let status: DatasetVersionStatus
    /// Where the data came from: `upload`, or `sql:<source name>`.
    public let source: String
    public let createdBy: String
    public let createdAt: Date

    public init(
        dataset: DatasetID, version: Int, digest: String, size: Int64, format: DatasetFormat, rowCount: Int,
        columns: [String], contractVersion: Int, status: DatasetVersionStatus, source: String, createdBy: String,
        createdAt: Date
    ) {
        self.dataset = dataset
        self.version = version
        self.digest = digest
        self.size = size
        self.format = format
        self.rowCount = rowCount
        self.columns = columns
        self.contractVersion = contractVersion
        self.status = status
        self.source = source
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// Read access to a dataset granted to another team.
public struct DatasetGrant: Sendable, Equatable, Codable {
    public let dataset: DatasetID
    public let grantee: TeamID
    /// Whether columns tagged `pii` come back unmasked.
    public let pii: Bool
    public let grantedBy: String
    public let grantedAt: Date

    public init(dataset: DatasetID, grantee: TeamID, pii: Bool, grantedBy: String, grantedAt: Date) {
        self.dataset = dataset
        self.grantee = grantee
        self.pii = pii
        self.grantedBy = grantedBy
        self.grantedAt = grantedAt
    }
}

/// The inferred type of a column's non-null values.
public enum ColumnType: String, Sendable, Codable, CaseIterable {
    /// Whole numbers.
    case integer
    /// Any finite decimal number.
    case number
    /// `true`/`false`.
    case boolean
    /// ISO 8601 dates or date-times.
    case timestamp
    /// Anything else.
    case string

    /// Whether values of `self` are also values of `other` (an integer column satisfies `number`).
    public func conforms(to other: ColumnType) -> Bool {
        self == other || (self == .integer && other == .number) || other == .string
    }
}

/// Summary statistics of one column, computed in one pass at ingest.
public struct ColumnProfile: Sendable, Equatable, Codable {
    public var name: String
    public var type: ColumnType
    /// Non-null values.
    public var count: Int
    public var nulls: Int
    /// Distinct non-null values; exact up to ``DatasetProfile/exactDistinctLimit``, estimated beyond.
    public var distinct: Int
    public var distinctIsApproximate: Bool
    /// For numeric and timestamp columns (timestamps as seconds since 1970); `nil` otherwise.
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    public var standardDeviation: Double?
    /// Numeric quantiles keyed `p1`, `p5`, `p25`, `p50`, `p75`, `p95`, `p99`, from a bounded sample.
    public var quantiles: [String: Double]?
    /// Numeric columns: equal-width bins between min and max.
    public var histogram: [HistogramBin]?
    /// String and boolean columns: the most frequent values, most frequent first. Absent for PII columns.
    public var topValues: [ValueCount]?
    /// Whether the contract tags the column as personal data.
    public var pii: Bool

    public init(
        name: String, type: ColumnType, count: Int, nulls: Int, distinct: Int, distinctIsApproximate: Bool,
        min: Double? = nil, max: Double? = nil, mean: Double? = nil, standardDeviation: Double? = nil,
        quantiles: [String: Double]? = nil, histogram: [HistogramBin]? = nil, topValues: [ValueCount]? = nil,
        pii: Bool = false
    ) {
        self.name = name
        self.type = type
        self.count = count
        self.nulls = nulls
        self.distinct = distinct
        self.distinctIsApproximate = distinctIsApproximate
        self.min = min
        self.max = max
        self.mean = mean
        self.standardDeviation = standardDeviation
        self.quantiles = quantiles
        self.histogram = histogram
        self.topValues = topValues
        self.pii = pii
    }

    enum CodingKeys: String, CodingKey {
        case name, type, count, nulls, distinct, min, max, mean, quantiles, histogram, pii
        case distinctIsApproximate = "distinct_is_approximate"
        case standardDeviation = "standard_deviation"
        case topValues = "top_values"
    }

    public struct HistogramBin: Sendable, Equatable, Codable {
        public var lower: Double
        public var upper: Double
        public var count: Int

        public init(lower: Double, upper: Double, count: Int) {
            self.lower = lower
            self.upper = upper
            self.count = count
        }
    }

    public struct ValueCount: Sendable, Equatable, Codable {
        public var value: String
        public var count: Int

        public init(value: String, count: Int) {
            self.value = value
            self.count = count
        }
    }
}

/// The profile of one dataset version: the reference distribution monitoring compares live data with.
public struct DatasetProfile: Sendable, Equatable, Codable {
    /// Distinct counts are exact up to this many values per column, then estimated.
    public static let exactDistinctLimit = 10_000

    public var rowCount: Int
    public var columns: [ColumnProfile]

    public init(rowCount: Int, columns: [ColumnProfile]) {
        self.rowCount = rowCount
        self.columns = columns
    }

    enum CodingKeys: String, CodingKey {
        case columns
        case rowCount = "row_count"
    }
}

/// Masks personal data for display: keeps the first character and the length's shape.
public enum PIIMask {
    /// `"alice@example.com"` → `"a***"`; empty stays empty.
    public static func mask(_ value: String) -> String {
        guard let first = value.first else { return value }
        return String(first) + "***"
    }
}
