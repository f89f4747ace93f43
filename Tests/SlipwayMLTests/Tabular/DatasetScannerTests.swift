import SlipwayCore
import Testing

@testable import SlipwayML

@Suite("Dataset profile and contract validation")
struct DatasetScannerTests {
    static func scan(_ csv: String, contract: DataContract?) throws -> (DatasetProfile, ValidationReport?) {
        let (columns, rows) = try TableParserTests.parse(.csv, csv, chunk: 64)
        var scanner = DatasetScanner(columns: columns, contract: contract)
        for (index, row) in rows.enumerated() { scanner.add(row: index + 1, row) }
        return scanner.finish()
    }

    @Test("Profile: types, nulls, distinct, moments, quantiles, histogram, top values")
    func profile() throws {
        var csv = "id,age,plan,joined,flag\n"
        for index in 0..<100 {
            let age = index % 10 == 0 ? "" : String(20 + index % 50)
            csv += "\(index),\(age),\(index % 3 == 0 ? "pro" : "basic"),2024-01-\(String(format: "%02d", 1 + index % 28)),\(index % 2 == 0)\n"
        }
        let (profile, report) = try Self.scan(csv, contract: nil)
        #expect(report == nil)
        #expect(profile.rowCount == 100)
        let columns = Dictionary(uniqueKeysWithValues: profile.columns.map { ($0.name, $0) })
        #expect(columns["id"]?.type == .integer)
        #expect(columns["id"]?.distinct == 100)
        #expect(columns["id"]?.min == 0)
        #expect(columns["id"]?.max == 99)
        #expect(columns["id"]?.mean == 49.5)
        #expect(abs((columns["id"]?.standardDeviation ?? 0) - 29.011491975882016) < 1e-9)
        #expect(columns["id"]?.quantiles?["p50"] == 49.5)
        #expect(columns["id"]?.histogram?.map(\.count).reduce(0, +) == 100)
        #expect(columns["age"]?.nulls == 10)
        #expect(columns["age"]?.count == 90)
        #expect(columns["plan"]?.type == .string)
        #expect(columns["plan"]?.topValues?.first == .init(value: "basic", count: 66))
        #expect(columns["joined"]?.type == .timestamp)
        #expect(columns["flag"]?.type == .boolean)
    }

    @Test("Distinct counts switch to an estimate beyond the exact limit and stay close")
    func approximateDistinct() {
        var scanner = DatasetScanner(columns: ["key"], contract: nil)
        let total = DatasetProfile.exactDistinctLimit * 3
        for index in 0..<total { scanner.add(row: index + 1, ["k\(index)"]) }
        let column = scanner.finish().0.columns[0]
        #expect(column.distinctIsApproximate)
        #expect(abs(Double(column.distinct - total)) / Double(total) < 0.03)
    }

    @Test("Every rule reports pass/fail, counts and example rows; PII values are masked")
    func contractRules() throws {
        let contract = DataContract(
            columns: [
                .init(name: "id", type: .integer, nullable: false, unique: true),
                .init(name: "age", type: .integer, min: 18, max: 120),
                .init(name: "plan", allowed: ["basic", "pro"], warn: ["allowed"]),
                .init(name: "email", regex: "[a-z]+@[a-z]+\\.com", pii: true),
                .init(name: "missing"),
            ],
            rows: .init(min: 1, max: 3), unknownColumns: .reject)
        let csv = """
            id,age,plan,email,extra
            1,30,basic,ann@x.com,a
            1,12,gold,bob@example.org,b
            ,abc,pro,carl@y.com,c
            4,200,pro,dora@z.com,d
            """
        let (_, optionalReport) = try Self.scan(csv, contract: contract)
        let report = try #require(optionalReport)
        let rules = Dictionary(uniqueKeysWithValues: report.rules.map { ($0.rule, $0) })
        #expect(report.status == .invalid)
        #expect(rules["id: unique"]?.failures == 1)
        #expect(rules["id: unique"]?.examples == [.init(row: 2, value: "1")])
        #expect(rules["id: nullable"]?.examples == [.init(row: 3, value: nil)])
        #expect(rules["age: type"]?.examples == [.init(row: 3, value: "abc")])
        #expect(rules["age: range"]?.failures == 2)
        #expect(rules["age: range"]?.examples.map(\.row) == [2, 4])
        #expect(rules["plan: allowed"]?.severity == .warning)
        #expect(rules["plan: allowed"]?.failures == 1)
        #expect(rules["email: regex"]?.examples == [.init(row: 2, value: "b***")])
        #expect(rules["missing: present"]?.passed == false)
        #expect(rules["columns"]?.examples.map(\.value) == ["extra"])
        #expect(rules["rows"]?.passed == false)
        #expect(rules["age: type"]?.passed == false)
        #expect(rules["id: type"]?.passed == true)
    }

    @Test("Only warning rules failing gives status warning; none failing gives valid")
    func statuses() throws {
        let warnOnly = DataContract(columns: [.init(name: "plan", allowed: ["basic"], warn: ["allowed"])])
        #expect(try Self.scan("plan\nbasic\npro\n", contract: warnOnly).1?.status == .warning)
        #expect(try Self.scan("plan\nbasic\n", contract: warnOnly).1?.status == .valid)
    }

    @Test("Contracts themselves are checked: bad regex, min > max, unknown warn rule, bad freshness")
    func contractValidation() {
        #expect(throws: SlipwayError.self) { try DataContract(columns: [.init(name: "a", regex: "(")]).validate() }
        #expect(throws: SlipwayError.self) { try DataContract(columns: [.init(name: "a", min: 5, max: 1)]).validate() }
        #expect(throws: SlipwayError.self) { try DataContract(columns: [.init(name: "a", warn: ["nope"])]).validate() }
        #expect(throws: SlipwayError.self) { try DataContract(columns: [.init(name: "a")], freshness: "soon").validate() }
        #expect(throws: SlipwayError.self) {
            try DataContract(columns: [.init(name: "a"), .init(name: "a")]).validate()
        }
        #expect(DataContract(columns: [.init(name: "a")], freshness: "2h").freshnessSeconds == 7200)
    }
}
