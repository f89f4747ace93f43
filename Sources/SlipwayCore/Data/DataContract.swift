import Foundation

/// What a dataset promises its consumers: columns with types and rules, row-count bounds and a
/// freshness SLA. Written as YAML (or JSON) by the owning team; every new dataset version is checked
/// against the newest contract.
///
/// ```yaml
/// columns:
///   - {name: customer_id, type: string, nullable: false, unique: true, pii: true}
///   - {name: age, type: integer, min: 18, max: 120, warn: [range]}
///   - {name: plan, type: string, allowed: [basic, pro]}
///   - {name: email, type: string, regex: "^[^@]+@[^@]+$", pii: true}
/// rows: {min: 100}
/// freshness: 1h
/// ```
public struct DataContract: Sendable, Equatable, Codable {
    public var columns: [Column]
    public var rows: RowBounds?
    /// The longest allowed gap between versions, e.g. `30m`, `1h`, `1d`.
    public var freshness: String?
    /// Whether columns the contract does not name are allowed (default) or a failure.
    public var unknownColumns: UnknownColumns?
    /// Dataset-level rules (`rows`, `columns`) that only warn.
    public var warn: [String]?

    public enum UnknownColumns: String, Sendable, Codable {
        case allow
        case reject
    }

    public struct RowBounds: Sendable, Equatable, Codable {
        public var min: Int?
        public var max: Int?

        public init(min: Int? = nil, max: Int? = nil) {
            self.min = min
            self.max = max
        }
    }

    /// One column's rules. Every rule is optional; `nullable` defaults to true.
    public struct Column: Sendable, Equatable, Codable {
        public var name: String
        public var type: ColumnType?
        public var nullable: Bool?
        /// Inclusive bounds for numeric values.
        public var min: Double?
        public var max: Double?
        /// The only values allowed (compared as text).
        public var allowed: [String]?
        /// A regular expression every value must match as a whole.
        public var regex: String?
        public var unique: Bool?
        /// Personal data: masked in reports, profiles and reads without a `pii` grant.
        public var pii: Bool?
        /// Rules of this column that only warn: any of ``Rule/allCases``.
        public var warn: [String]?

        public init(
            name: String, type: ColumnType? = nil, nullable: Bool? = nil, min: Double? = nil, max: Double? = nil,
            allowed: [String]? = nil, regex: String? = nil, unique: Bool? = nil, pii: Bool? = nil,
            warn: [String]? = nil
        ) {
            self.name = name
            self.type = type
            self.nullable = nullable
            self.min = min
            self.max = max
            self.allowed = allowed
            self.regex = regex
            self.unique = unique
            self.pii = pii
            self.warn = warn
        }

        public var isPII: Bool { pii ?? false }

        /// Whether `rule` is marked as a warning for this column.
        public func warns(_ rule: Rule) -> Bool { warn?.contains(rule.rawValue) ?? false }
    }

    /// The rule kinds a report names.
    public enum Rule: String, Sendable, Codable, CaseIterable {
        case present, type, nullable, range, allowed, regex, unique
    }

    /// Dataset-level rule kinds.
    public enum DatasetRule: String, Sendable, Codable, CaseIterable {
        case rows, columns
    }

    public init(
        columns: [Column], rows: RowBounds? = nil, freshness: String? = nil, unknownColumns: UnknownColumns? = nil,
        warn: [String]? = nil
    ) {
        self.columns = columns
        self.rows = rows
        self.freshness = freshness
        self.unknownColumns = unknownColumns
        self.warn = warn
    }

    enum CodingKeys: String, CodingKey {
        case columns, rows, freshness, warn
        case unknownColumns = "unknown_columns"
    }

    /// `columns` may be left out of a contract that only bounds rows or freshness.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        columns = try container.decodeIfPresent([Column].self, forKey: .columns) ?? []
        rows = try container.decodeIfPresent(RowBounds.self, forKey: .rows)
        freshness = try container.decodeIfPresent(String.self, forKey: .freshness)
        unknownColumns = try container.decodeIfPresent(UnknownColumns.self, forKey: .unknownColumns)
        warn = try container.decodeIfPresent([String].self, forKey: .warn)
    }

    /// The freshness SLA in seconds, or nil without one.
    public var freshnessSeconds: Int? {
        freshness.flatMap { try? Self.parseDuration($0) }
    }

    public func column(named name: String) -> Column? { columns.first { $0.name == name } }

    /// Checks the contract itself (not data): names, bounds, rule names, regexes and the freshness value.
    public func validate() throws(SlipwayError) {
        guard !columns.isEmpty || rows != nil || freshness != nil else {
            throw .badRequest("a contract needs columns, row bounds or a freshness SLA", code: "invalid_contract")
        }
        guard columns.count <= 4096 else {
            throw .badRequest("a contract may name at most 4096 columns", code: "invalid_contract")
        }
        var seen = Set<String>()
        for column in columns {
            guard !column.name.isEmpty, column.name.utf8.count <= 256 else {
                throw .badRequest("contract column names must be 1-256 bytes", code: "invalid_contract")
            }
            guard seen.insert(column.name).inserted else {
                throw .badRequest("contract names column '\(column.name)' twice", code: "invalid_contract")
            }
            if let min = column.min, let max = column.max, min > max {
                throw .badRequest(
                    "column '\(column.name)': min \(Self.format(min)) is greater than max \(Self.format(max))",
                    code: "invalid_contract")
            }
            if (column.min != nil || column.max != nil), let type = column.type,
                ![.integer, .number].contains(type)
            {
                throw .badRequest(
                    "column '\(column.name)': min/max apply to integer or number columns, not \(type.rawValue)",
                    code: "invalid_contract")
            }
            for name in column.warn ?? [] where Rule(rawValue: name) == nil {
                throw .badRequest(
                    "column '\(column.name)': unknown rule '\(name)' in warn; use one of "
                        + Rule.allCases.map(\.rawValue).joined(separator: ", "), code: "invalid_contract")
            }
            if let pattern = column.regex {
                guard pattern.utf8.count <= 1024, (try? NSRegularExpression(pattern: pattern)) != nil else {
                    throw .badRequest(
                        "column '\(column.name)': regex '\(pattern.prefix(80))' is not a valid regular expression "
                            + "(at most 1024 bytes)", code: "invalid_contract")
                }
            }
            if let allowed = column.allowed, allowed.isEmpty || allowed.count > 10_000 {
                throw .badRequest(
                    "column '\(column.name)': allowed needs 1-10000 values", code: "invalid_contract")
            }
        }
        if let rows, let min = rows.min, let max = rows.max, min > max {
            throw .badRequest("rows: min \(min) is greater than max \(max)", code: "invalid_contract")
        }
        if let rows, (rows.min ?? 0) < 0 || (rows.max ?? 0) < 0 {
            throw .badRequest("rows: bounds must not be negative", code: "invalid_contract")
        }
        for name in warn ?? [] where DatasetRule(rawValue: name) == nil {
            throw .badRequest(
                "unknown dataset rule '\(name)' in warn; use rows or columns", code: "invalid_contract")
        }
        if let freshness { _ = try Self.parseDuration(freshness) }
    }

    /// `5` for 5.0, `0.5` for 0.5: numbers as people write them in contracts.
    public static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Parses `90s`, `30m`, `1h`, `2d` into seconds (at least 60 s, at most 366 days).
    public static func parseDuration(_ text: String) throws(SlipwayError) -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last, let multiplier = units[unit], let count = Int(text.dropLast()), count > 0,
            count <= 366 * 86_400 / multiplier
        else {
            throw .badRequest(
                "freshness '\(text.prefix(40))' must be a positive number followed by s, m, h or d (e.g. 1h)",
                code: "invalid_contract")
        }
        let seconds = count * multiplier
        guard seconds >= 60 else {
            throw .badRequest("freshness must be at least 60 seconds", code: "invalid_contract")
        }
        return seconds
    }
}

/// One stored version of a dataset's contract.
public struct ContractVersion: Sendable, Equatable, Codable {
    public let dataset: DatasetID
    public let version: Int
    public let contract: DataContract
    /// The document as the team wrote it (YAML or JSON).
    public let document: String
    public let createdBy: String
    public let createdAt: Date

    public init(
        dataset: DatasetID, version: Int, contract: DataContract, document: String, createdBy: String, createdAt: Date
    ) {
        self.dataset = dataset
        self.version = version
        self.contract = contract
        self.document = document
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// The outcome of checking one dataset version against its contract.
public struct ValidationReport: Sendable, Equatable, Codable {
    public var status: DatasetVersionStatus
    public var rules: [RuleResult]

    public init(status: DatasetVersionStatus, rules: [RuleResult]) {
        self.status = status
        self.rules = rules
    }

    /// The result of one rule, e.g. `age: range`.
    public struct RuleResult: Sendable, Equatable, Codable {
        public enum Severity: String, Sendable, Codable {
            case error, warning
        }

        /// `column: rule` (`age: range`), or the dataset rule (`rows`).
        public var rule: String
        public var column: String?
        public var severity: Severity
        public var passed: Bool
        /// How many values (or rows) broke the rule.
        public var failures: Int
        /// Up to five failing rows: 1-based data row numbers (the header is not counted) and the value,
        /// masked for PII columns.
        public var examples: [Example]
        /// What the rule demands, e.g. `between 18 and 120`.
        public var expectation: String

        public init(
            rule: String, column: String?, severity: Severity, passed: Bool, failures: Int, examples: [Example],
            expectation: String
        ) {
            self.rule = rule
            self.column = column
            self.severity = severity
            self.passed = passed
            self.failures = failures
            self.examples = examples
            self.expectation = expectation
        }
    }

    public struct Example: Sendable, Equatable, Codable {
        public var row: Int
        public var value: String?

        public init(row: Int, value: String?) {
            self.row = row
            self.value = value
        }
    }

    /// The failed rules that block training.
    public var blockingFailures: [RuleResult] { rules.filter { !$0.passed && $0.severity == .error } }
}
