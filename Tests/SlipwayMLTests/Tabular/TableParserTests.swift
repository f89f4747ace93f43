import SlipwayCore
import Testing

@testable import SlipwayML

@Suite("Table parsers")
struct TableParserTests {
    /// Parses `text` fed in chunks of `chunk` bytes.
    static func parse(_ format: DatasetFormat, _ text: String, chunk: Int = 3) throws -> ([String], [[String?]]) {
        var parser = format.makeParser()
        var rows: [[String?]] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            try parser.consume(bytes[start..<end]) { number, fields, _ in
                #expect(number == rows.count + 1)
                rows.append(fields)
            }
            start = end
        }
        try parser.finish { _, fields, _ in rows.append(fields) }
        return (parser.columns ?? [], rows)
    }

    @Test("CSV: quotes, escaped quotes, embedded newlines, CRLF, nulls versus empty strings")
    func csvQuoting() throws {
        let text = "id,name,note\r\n1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n2,,\"line1\nline2\"\r\n3,\"\",x"
        for chunk in [1, 2, 5, 1000] {
            let (columns, rows) = try Self.parse(.csv, text, chunk: chunk)
            #expect(columns == ["id", "name", "note"])
            #expect(rows.count == 3)
            #expect(rows[0] == ["1", "Smith, J", "said \"hi\""])
            #expect(rows[1] == ["2", nil, "line1\nline2"])
            #expect(rows[2] == ["3", "", "x"])
        }
    }

    @Test("CSV: errors name the line and what to fix")
    func csvErrors() {
        #expect(throws: SlipwayError.self) { try Self.parse(.csv, "") }
        do {
            _ = try Self.parse(.csv, "a,b\n1,2\n3\n")
            Issue.record("a short row was accepted")
        } catch let error as SlipwayError {
            #expect(error.message.contains("line 3"))
            #expect(error.message.contains("1 fields, but the header has 2"))
        } catch { Issue.record("unexpected \(error)") }
        #expect(throws: SlipwayError.self) { try Self.parse(.csv, "a,a\n1,2\n") }
        #expect(throws: SlipwayError.self) { try Self.parse(.csv, "a,b\n\"1,2\n") }
        #expect(throws: SlipwayError.self) { try Self.parse(.csv, "a,b\n1\"x\",2\n") }
    }

    @Test("JSON Lines: first line fixes the columns; missing keys are null; nested values are refused")
    func jsonLines() throws {
        let text = """
            {"id": 1, "name": "a\\u00e9\\n", "ok": true, "score": -1.5e2}
            {"id": 2, "ok": false, "name": null}

            {"score": 3, "id": 3}
            """
        let (columns, rows) = try Self.parse(.jsonl, text)
        #expect(columns == ["id", "name", "ok", "score"])
        #expect(rows == [["1", "aé\n", "true", "-1.5e2"], ["2", nil, "false", nil], ["3", nil, nil, "3"]])
        #expect(throws: SlipwayError.self) { try Self.parse(.jsonl, "{\"a\": 1}\n{\"b\": 2}\n") }
        #expect(throws: SlipwayError.self) { try Self.parse(.jsonl, "{\"a\": {\"b\": 1}}\n") }
        #expect(throws: SlipwayError.self) { try Self.parse(.jsonl, "{\"a\": 1, \"a\": 2}\n") }
        #expect(throws: SlipwayError.self) { try Self.parse(.jsonl, "[1, 2]\n") }
        #expect(throws: SlipwayError.self) { try Self.parse(.jsonl, "{\"a\": NaN}\n") }
    }

    @Test("Value parsing: numbers, booleans and ISO 8601 timestamps")
    func values() {
        #expect(ValueParsing.number("1e3") == 1000)
        #expect(ValueParsing.number("nan") == nil)
        #expect(ValueParsing.number("inf") == nil)
        #expect(ValueParsing.integer("12") == 12)
        #expect(ValueParsing.integer("1.5") == nil)
        #expect(ValueParsing.boolean("TRUE") == true)
        #expect(ValueParsing.timestamp("1970-01-02") == 86_400)
        #expect(ValueParsing.timestamp("2024-02-29T12:00:00Z") == 1_709_208_000)
        #expect(ValueParsing.timestamp("2024-02-29T14:00:00+02:00") == 1_709_208_000)
        #expect(ValueParsing.timestamp("2023-02-29") == nil)
        #expect(ValueParsing.timestamp("2024-01-01T25:00") == nil)
    }
}
