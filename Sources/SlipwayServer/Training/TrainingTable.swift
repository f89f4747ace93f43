import Foundation
import SlipwayCore
import SlipwayML

/// The columns a training spec needs, read from a dataset version in one streaming pass.
struct TrainingTable: Sendable {
    var featureNames: [String] = []
    /// One array per feature; NaN = missing.
    var features: [[Double]] = []
    /// Label text per row (classification and regression), in row order.
    var labels: [String] = []
    /// Seconds (or numbers) of the time column, when the split is by time.
    var times: [Double] = []
    /// Sensitive attribute → the group of each row (`(null)` for missing).
    var groups: [String: [String]] = [:]
    /// Ranking: user and item indices per interaction, their ids, and strengths.
    var users: [Int] = []
    var items: [Int] = []
    var weights: [Double] = []
    var userIDs: [String] = []
    var itemIDs: [String] = []

    var rowCount: Int { task == .ranking ? users.count : labels.count }
    var task: TrainingTask = .binary
}

/// Builds a ``TrainingTable`` row by row, resolving the spec's columns against the header.
///
/// Feature columns are the spec's `features`, or every column except the label, `exclude`, the time
/// column, sensitive attributes and PII columns. A PII column is used only when named in `features`
/// and the reader may see PII. Every feature must hold numbers or booleans.
struct TrainingTableBuilder {
    let spec: TrainingSpec
    let piiColumns: Set<String>
    let mayReadPII: Bool
    var table = TrainingTable()
    private var featureIndices: [Int] = []
    private var labelIndex: Int?
    private var timeIndex: Int?
    private var groupIndices: [(String, Int)] = []
    private var userIndex = 0
    private var itemIndex = 0
    private var weightIndex: Int?
    private var userPositions: [String: Int] = [:]
    private var itemPositions: [String: Int] = [:]
    private var resolved = false

    init(spec: TrainingSpec, piiColumns: Set<String>, mayReadPII: Bool) {
        self.spec = spec
        self.piiColumns = piiColumns
        self.mayReadPII = mayReadPII
        self.table.task = spec.task
    }

    static func missing(_ column: String, role: String, columns: [String]) -> SlipwayError {
        .unprocessable(
            "\(role) column '\(column)' is not in the dataset; its columns are "
                + columns.prefix(50).joined(separator: ", "), code: "invalid_spec")
    }

    /// Maps spec column names to positions in `columns` (the header).
    mutating func resolve(_ columns: [String]) throws {
        resolved = true
        let position = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
        func index(_ name: String, _ role: String) throws -> Int {
            guard let found = position[name] else { throw Self.missing(name, role: role, columns: columns) }
            return found
        }
        if let timeColumn = spec.validation?.timeColumn { timeIndex = try index(timeColumn, "time") }
        for attribute in spec.sensitiveAttributes ?? [] {
            groupIndices.append((attribute, try index(attribute, "sensitive attribute")))
        }
        if spec.task == .ranking, let interactions = spec.interactions {
            userIndex = try index(interactions.user, "user")
            itemIndex = try index(interactions.item, "item")
            weightIndex = try interactions.weight.map { try index($0, "weight") }
            for name in [interactions.user, interactions.item] where piiColumns.contains(name) && !mayReadPII {
                throw SlipwayError.forbidden(
                    "column '\(name)' is PII and your grant does not include pii; ask the owning team for a pii grant")
            }
            return
        }
        guard let label = spec.label else { throw SlipwayError.badRequest("label is required", code: "invalid_spec") }
        labelIndex = try index(label, "label")
        var names: [String]
        if let features = spec.features {
            for name in features where piiColumns.contains(name) && !mayReadPII {
                throw SlipwayError.forbidden(
                    "feature '\(name)' is PII and your grant does not include pii; ask the owning team for a pii grant")
            }
            names = features
        } else {
            var left = Set([label] + (spec.exclude ?? []) + (spec.sensitiveAttributes ?? []))
            if let timeColumn = spec.validation?.timeColumn { left.insert(timeColumn) }
            for name in spec.exclude ?? [] where position[name] == nil {
                throw Self.missing(name, role: "excluded", columns: columns)
            }
            names = columns.filter { !left.contains($0) && !piiColumns.contains($0) }
        }
        guard !names.contains(label) else {
            throw SlipwayError.badRequest("the label '\(label)' cannot also be a feature", code: "invalid_spec")
        }
        guard !names.isEmpty else {
            throw SlipwayError.unprocessable("no feature columns are left after exclusions", code: "invalid_spec")
        }
        featureIndices = try names.map { try index($0, "feature") }
        table.featureNames = names
        table.features = Array(repeating: [], count: names.count)
    }

    mutating func add(row number: Int, _ fields: [String?], columns: [String]) throws {
        if !resolved { try resolve(columns) }
        if let timeIndex {
            guard let text = fields[timeIndex],
                let value = ValueParsing.timestamp(text) ?? ValueParsing.number(text)
            else {
                throw SlipwayError.unprocessable(
                    "row \(number): time column '\(columns[timeIndex])' needs a timestamp or a number, found "
                        + (fields[timeIndex].map { "'\($0.prefix(40))'" } ?? "null"), code: "invalid_data")
            }
            table.times.append(value)
        }
        for (attribute, index) in groupIndices { table.groups[attribute, default: []].append(fields[index] ?? "(null)") }
        if spec.task == .ranking {
            guard let user = fields[userIndex], let item = fields[itemIndex] else {
                throw SlipwayError.unprocessable("row \(number): user and item must not be null", code: "invalid_data")
            }
            var weight = 1.0
            if let weightIndex {
                guard let text = fields[weightIndex], let value = ValueParsing.number(text), value >= 0 else {
                    throw SlipwayError.unprocessable(
                        "row \(number): weight column '\(columns[weightIndex])' needs a number ≥ 0", code: "invalid_data")
                }
                weight = value
            }
            table.users.append(Self.position(of: user, in: &userPositions, ids: &table.userIDs))
            table.items.append(Self.position(of: item, in: &itemPositions, ids: &table.itemIDs))
            table.weights.append(weight)
            return
        }
        guard let labelIndex, let label = fields[labelIndex] else {
            throw SlipwayError.unprocessable(
                "row \(number): the label is null; drop unlabelled rows before training", code: "invalid_data")
        }
        table.labels.append(label)
        for (slot, index) in featureIndices.enumerated() {
            guard let text = fields[index] else {
                table.features[slot].append(.nan)
                continue
            }
            if let value = ValueParsing.number(text) {
                table.features[slot].append(value)
            } else if let flag = ValueParsing.boolean(text) {
                table.features[slot].append(flag ? 1 : 0)
            } else {
                throw SlipwayError.unprocessable(
                    "row \(number): feature '\(columns[index])' holds '\(piiColumns.contains(columns[index]) ? PIIMask.mask(text) : String(text.prefix(40)))', "
                        + "which is not a number or boolean; exclude the column or encode it numerically",
                    code: "invalid_data")
            }
        }
    }

    static func position(of id: String, in positions: inout [String: Int], ids: inout [String]) -> Int {
        if let known = positions[id] { return known }
        positions[id] = ids.count
        ids.append(id)
        return ids.count - 1
    }

    /// Reads every chunk through `format`'s parser.
    static func load(
        _ chunks: some AsyncSequence<[UInt8], any Error>, format: DatasetFormat, spec: TrainingSpec,
        piiColumns: Set<String>, mayReadPII: Bool
    ) async throws -> TrainingTable {
        var parser = format.makeParser()
        var builder = TrainingTableBuilder(spec: spec, piiColumns: piiColumns, mayReadPII: mayReadPII)
        for try await chunk in chunks {
            try parser.consume(chunk) { number, fields, columns in try builder.add(row: number, fields, columns: columns) }
        }
        try parser.finish { number, fields, columns in try builder.add(row: number, fields, columns: columns) }
        if !builder.resolved, let columns = parser.columns { try builder.resolve(columns) }
        return builder.table
    }
}
