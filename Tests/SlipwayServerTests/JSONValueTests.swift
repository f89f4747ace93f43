import Foundation
import Testing

@testable import SlipwayServer

@Suite("JSON on the prediction path")
struct JSONValueTests {
    @Test("parses what JSONSerialization parses, to the same values")
    func agreesWithFoundation() throws {
        let text = #"{"id":"a\"b\\c\u00e9\ud83d\ude00","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1.5,-2e-3],[null,true]]}],"o":{},"e":[]}"#
        let value = try JSONValue.parse(Array(text.utf8))
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(value["id"]?.string == reference["id"] as? String)
        let input = try #require(value["inputs"]?.array?.first)
        #expect(input["shape"]?.array?.compactMap(\.number) == [2, 2])
        guard case .array(let rows)? = input["data"], case .array(let first) = rows[0], case .array(let second) = rows[1]
        else { Issue.record("data is not nested arrays"); return }
        #expect(first.compactMap(\.number) == [1.5, -0.002])
        if case .null = second[0] {} else { Issue.record("null lost") }
        if case .bool(true) = second[1] {} else { Issue.record("true lost") }
    }

    @Test("refuses what is not JSON", arguments: ["", "{", "[1,]", "{\"a\":01}", "tru", "\"\u{01}\"", "{\"a\" 1}", "1 2", "[-]", "\"\\x\""])
    func refuses(text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test("nesting is limited")
    func depth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
    }

    @Test("the writer escapes strings and writes null for non-finite numbers")
    func writer() throws {
        var writer = JSONWriter()
        writer.raw("[")
        writer.string("a\"\\\n\u{01}é")
        writer.raw(",")
        writer.number(.nan)
        writer.raw(",")
        writer.number(0.25)
        writer.raw(",")
        writer.integer(-7)
        writer.raw("]")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [Any])
        #expect(parsed[0] as? String == "a\"\\\n\u{01}é")
        #expect(parsed[1] is NSNull)
        #expect((parsed[2] as? NSNumber)?.doubleValue == 0.25)
        #expect((parsed[3] as? NSNumber)?.intValue == -7)
    }
}
