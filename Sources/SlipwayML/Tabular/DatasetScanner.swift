import Foundation
import SlipwayCore

/// Profiles a table and checks it against a contract in one pass over its rows, in bounded memory
/// (apart from the hashes a `unique` rule must remember).
///
/// ```swift
/// var scanner = DatasetScanner(columns: parser.columns!, contract: contract, seed: 7)
/// scanner.add(row: 1, fields)        // for every row
/// let (profile, report) = scanner.finish()
/// ```
public struct DatasetScanner {
    /// Values kept per column for quantiles and histograms.
    public static let sampleSize = 20_000
    static let topValueLimit = 10
    static let countedValueLimit = 10_000
    static let exampleLimit = 5

    let columnNames: [String]
    let contract: DataContract?
    var accumulators: [ColumnAccumulator]
    var checks: [ColumnChecks?]
    var rowCount = 0
    var generator: SeededGenerator

    /// - Parameters:
    ///   - columns: the table's columns, in file order.
    ///   - contract: the rules to check; nil profiles only.
    ///   - seed: fixes the sampling, so the same data always gives the same profile.
    public init(columns: [String], contract: DataContract?, seed: UInt64 = 0x5EED) {
        self.columnNames = columns
        self.contract = contract
        self.generator = SeededGenerator(seed: seed)
        let piiColumns = Set(contract?.columns.filter(\.isPII).map(\.name) ?? [])
        self.accumulators = columns.map { ColumnAccumulator(name: $0, pii: piiColumns.contains($0)) }
        self.checks = columns.map { name in contract?.column(named: name).map { ColumnChecks(column: $0) } }
    }

    /// Adds one data row (`number` is its 1-based position, for examples in the report).
    public mutating func add(row number: Int, _ fields: [String?]) {
        rowCount += 1
        for index in fields.indices {
            accumulators[index].add(fields[index], generator: &generator)
            checks[index]?.check(fields[index], row: number)
        }
    }

    /// The profile, and the validation report when there is a contract.
    public func finish() -> (DatasetProfile, ValidationReport?) {
        let profile = DatasetProfile(rowCount: rowCount, columns: accumulators.map { $0.profile() })
        guard let contract else { return (profile, nil) }
        var rules: [ValidationReport.RuleResult] = []
        let warnings = Set(contract.warn ?? [])
        let present = Set(columnNames)
        for column in contract.columns where !present.contains(column.name) {
            rules.append(
                .init(
                    rule: "\(column.name): present", column: column.name,
                    severity: column.warns(.present) ? .warning : .error, passed: false, failures: 1, examples: [],
                    expectation: "the column exists"))
        }
        for check in checks.compactMap({ $0 }) { rules.append(contentsOf: check.results()) }
        if contract.unknownColumns == .reject {
            let unknown = columnNames.filter { contract.column(named: $0) == nil }
            rules.append(
                .init(
                    rule: "columns", column: nil, severity: warnings.contains("columns") ? .warning : .error,
                    passed: unknown.isEmpty, failures: unknown.count,
                    examples: unknown.prefix(Self.exampleLimit).map { .init(row: 0, value: $0) },
                    expectation: "only the contract's columns"))
        }
        if let bounds = contract.rows {
            let tooFew = bounds.min.map { rowCount < $0 } ?? false
            let tooMany = bounds.max.map { rowCount > $0 } ?? false
            rules.append(
                .init(
                    rule: "rows", column: nil, severity: warnings.contains("rows") ? .warning : .error,
                    passed: !tooFew && !tooMany, failures: tooFew || tooMany ? 1 : 0,
                    examples: [.init(row: 0, value: String(rowCount))],
                    expectation: "between \(bounds.min.map(String.init) ?? "0") and "
                        + "\(bounds.max.map(String.init) ?? "any number of") rows"))
        }
        let status: DatasetVersionStatus =
            rules.contains { !$0.passed && $0.severity == .error }
            ? .invalid : rules.contains { !$0.passed } ? .warning : .valid
        return (profile, ValidationReport(status: status, rules: rules))
    }
}

/// Running statistics of one column.
struct ColumnAccumulator {
    let name: String
    let pii: Bool
    var count = 0
    var nulls = 0
    var allInteger = true
    var allNumber = true
    var allBoolean = true
    var allTimestamp = true
    // Numeric (or timestamp) moments, Welford.
    var numericCount = 0
    var mean = 0.0
    var m2 = 0.0
    var minimum = Double.infinity
    var maximum = -Double.infinity
    var sample: [Double] = []
    var timestampSample: [Double] = []
    var timestampMin = Double.infinity
    var timestampMax = -Double.infinity
    // Distinct values: exact set, then a HyperLogLog sketch.
    var distinct: Set<UInt64> = []
    var sketch: HyperLogLog?
    var valueCounts: [String: Int] = [:]

    init(name: String, pii: Bool) {
        self.name = name
        self.pii = pii
    }

    mutating func add(_ field: String?, generator: inout SeededGenerator) {
        guard let text = field else {
            nulls += 1
            return
        }
        count += 1
        let hash = ValueParsing.stableHash(text)
        if var sketch {
            sketch.add(hash)
            self.sketch = sketch
        } else {
            distinct.insert(hash)
            if distinct.count > DatasetProfile.exactDistinctLimit {
                var sketch = HyperLogLog()
                for value in distinct { sketch.add(value) }
                self.sketch = sketch
                distinct = []
            }
        }
        if allInteger, ValueParsing.integer(text) == nil { allInteger = false }
        if allBoolean, ValueParsing.boolean(text) == nil { allBoolean = false }
        if allNumber || allInteger {
            if let value = ValueParsing.number(text) {
                addNumber(value, generator: &generator)
            } else {
                allNumber = false
            }
        }
        if allTimestamp {
            if let seconds = ValueParsing.timestamp(text) {
                timestampMin = Swift.min(timestampMin, seconds)
                timestampMax = Swift.max(timestampMax, seconds)
                reservoir(&timestampSample, seconds, seen: count, generator: &generator)
            } else {
                allTimestamp = false
            }
        }
        if !allNumber, valueCounts[text] != nil || valueCounts.count < DatasetScanner.countedValueLimit {
            valueCounts[text, default: 0] += 1
        } else if allNumber, allBoolean == false, valueCounts.count <= DatasetScanner.countedValueLimit {
            // Keep counting while the column still looks numeric: it may turn out to be text later.
            valueCounts[text, default: 0] += 1
        }
    }

    mutating func addNumber(_ value: Double, generator: inout SeededGenerator) {
        numericCount += 1
        let delta = value - mean
        mean += delta / Double(numericCount)
        m2 += delta * (value - mean)
        minimum = Swift.min(minimum, value)
        maximum = Swift.max(maximum, value)
        reservoir(&sample, value, seen: numericCount, generator: &generator)
    }

    func reservoir(_ sample: inout [Double], _ value: Double, seen: Int, generator: inout SeededGenerator) {
        if sample.count < DatasetScanner.sampleSize {
            sample.append(value)
        } else {
            let slot = Int(generator.next() % UInt64(seen))
            if slot < DatasetScanner.sampleSize { sample[slot] = value }
        }
    }

    var type: ColumnType {
        guard count > 0 else { return .string }
        if allBoolean { return .boolean }
        if allInteger { return .integer }
        if allNumber { return .number }
        if allTimestamp { return .timestamp }
        return .string
    }

    func profile() -> ColumnProfile {
        let type = self.type
        let distinctCount = sketch.map { $0.estimate() } ?? distinct.count
        var profile = ColumnProfile(
            name: name, type: type, count: count, nulls: nulls, distinct: distinctCount,
            distinctIsApproximate: sketch != nil, pii: pii)
        switch type {
        case .integer, .number:
            profile.min = minimum
            profile.max = maximum
            profile.mean = mean
            profile.standardDeviation = numericCount > 1 ? (m2 / Double(numericCount - 1)).squareRoot() : 0
            profile.quantiles = Self.quantiles(sample)
            profile.histogram = Self.histogram(sample, minimum: minimum, maximum: maximum, total: numericCount)
            if pii {
                // Extremes and quantiles of personal numbers (ages, salaries) can identify people.
                profile.min = nil
                profile.max = nil
                profile.quantiles = nil
                profile.histogram = nil
            }
        case .timestamp:
            profile.min = timestampMin
            profile.max = timestampMax
            profile.quantiles = Self.quantiles(timestampSample)
        case .boolean, .string:
            if !pii {
                profile.topValues = valueCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                    .prefix(DatasetScanner.topValueLimit).map { ColumnProfile.ValueCount(value: $0.key, count: $0.value) }
            }
        }
        return profile
    }

    static let quantileLevels: [(String, Double)] = [
        ("p1", 0.01), ("p5", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99),
    ]

    /// Linear interpolation between order statistics (numpy's default), on the sample.
    static func quantiles(_ sample: [Double]) -> [String: Double]? {
        guard !sample.isEmpty else { return nil }
        let sorted = sample.sorted()
        var result: [String: Double] = [:]
        for (name, level) in quantileLevels {
            let position = level * Double(sorted.count - 1)
            let lower = Int(position.rounded(.down))
            let upper = Swift.min(lower + 1, sorted.count - 1)
            let fraction = position - Double(lower)
            result[name] = sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
        }
        return result
    }

    /// Ten equal-width bins from min to max; counts are exact when every value is in the sample and
    /// scaled from the sample otherwise.
    static func histogram(_ sample: [Double], minimum: Double, maximum: Double, total: Int) -> [ColumnProfile.HistogramBin]? {
        guard !sample.isEmpty, minimum.isFinite, maximum.isFinite else { return nil }
        let binCount = minimum == maximum ? 1 : 10
        let width = (maximum - minimum) / Double(binCount)
        var counts = [Int](repeating: 0, count: binCount)
        for value in sample {
            let index = width > 0 ? Swift.min(binCount - 1, Int((value - minimum) / width)) : 0
            counts[index] += 1
        }
        let scale = Double(total) / Double(sample.count)
        return (0..<binCount).map { index in
            ColumnProfile.HistogramBin(
                lower: minimum + Double(index) * width,
                upper: index == binCount - 1 ? maximum : minimum + Double(index + 1) * width,
                count: scale == 1 ? counts[index] : Int((Double(counts[index]) * scale).rounded()))
        }
    }
}

/// The contract rules of one column, with failure counts and the first failing rows.
struct ColumnChecks {
    let column: DataContract.Column
    let regex: NSRegularExpression?
    let allowed: Set<String>?
    var failures: [DataContract.Rule: Int] = [:]
    var examples: [DataContract.Rule: [ValidationReport.Example]] = [:]
    var seen: Set<UInt64> = []

    init(column: DataContract.Column) {
        self.column = column
        self.regex = column.regex.flatMap { try? NSRegularExpression(pattern: $0) }
        self.allowed = column.allowed.map(Set.init)
    }

    mutating func fail(_ rule: DataContract.Rule, row: Int, value: String?) {
        failures[rule, default: 0] += 1
        if examples[rule, default: []].count < DatasetScanner.exampleLimit {
            examples[rule, default: []].append(.init(row: row, value: value.map { column.isPII ? PIIMask.mask($0) : $0 }))
        }
    }

    mutating func check(_ field: String?, row: Int) {
        guard let text = field else {
            if column.nullable == false { fail(.nullable, row: row, value: nil) }
            return
        }
        if let type = column.type, !ValueParsing.matches(text, type) { fail(.type, row: row, value: text) }
        if column.min != nil || column.max != nil, let value = ValueParsing.number(text) {
            if let min = column.min, value < min { fail(.range, row: row, value: text) }
            else if let max = column.max, value > max { fail(.range, row: row, value: text) }
        }
        if let allowed, !allowed.contains(text) { fail(.allowed, row: row, value: text) }
        if let regex {
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            let match = regex.firstMatch(in: text, options: [.anchored], range: range)
            if match?.range != range { fail(.regex, row: row, value: text) }
        }
        if column.unique == true, !seen.insert(ValueParsing.stableHash(text)).inserted {
            fail(.unique, row: row, value: text)
        }
    }

    func results() -> [ValidationReport.RuleResult] {
        var rules: [(DataContract.Rule, String)] = []
        if let type = column.type { rules.append((.type, "values of type \(type.rawValue)")) }
        if column.nullable == false { rules.append((.nullable, "no null values")) }
        if column.min != nil || column.max != nil {
            let low = column.min.map(DataContract.format) ?? "-∞"
            let high = column.max.map(DataContract.format) ?? "∞"
            rules.append((.range, "between \(low) and \(high)"))
        }
        if let allowed = column.allowed {
            rules.append((.allowed, "one of " + allowed.prefix(10).joined(separator: ", ") + (allowed.count > 10 ? ", …" : "")))
        }
        if let pattern = column.regex { rules.append((.regex, "matches \(pattern)")) }
        if column.unique == true { rules.append((.unique, "no repeated values")) }
        return rules.map { rule, expectation in
            let count = failures[rule] ?? 0
            return .init(
                rule: "\(column.name): \(rule.rawValue)", column: column.name,
                severity: column.warns(rule) ? .warning : .error, passed: count == 0, failures: count,
                examples: examples[rule] ?? [], expectation: expectation)
        }
    }
}

/// A HyperLogLog distinct-count sketch with 2^14 registers (about 0.8% standard error).
struct HyperLogLog {
    static let precision = 14
    var registers = [UInt8](repeating: 0, count: 1 << precision)

    mutating func add(_ hash: UInt64) {
        let index = Int(hash >> UInt64(64 - Self.precision))
        let rest = hash << UInt64(Self.precision) | (1 << UInt64(Self.precision - 1))
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        if rank > registers[index] { registers[index] = rank }
    }

    func estimate() -> Int {
        let m = Double(registers.count)
        let alpha = 0.7213 / (1 + 1.079 / m)
        var sum = 0.0
        var zeros = 0
        for register in registers {
            sum += pow(2, -Double(register))
            if register == 0 { zeros += 1 }
        }
        let raw = alpha * m * m / sum
        if raw <= 2.5 * m, zeros > 0 { return Int((m * log(m / Double(zeros))).rounded()) }
        return Int(raw.rounded())
    }
}
