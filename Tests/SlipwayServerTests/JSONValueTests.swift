import Foundation
import SlipwayCore
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

    @Test("numbers parse to exactly what Double(String) gives, on the short-decimal path and off it")
    func numbersAreCorrectlyRounded() throws {
        var random = SeededGenerator(seed: 7)
        var texts = ["0", "-0", "0.1", "0.2", "0.3", "1.7976931348623157e308", "5e-324", "123456789012345", "1234567890123456789",
                     "0.000000000000000000001", "9007199254740993", "-1.833957", "2.5E+3", "0.1234567890123456789"]
        for _ in 0..<3_000 {
            let integerDigits = Int(random.next() % 9)
            let fractionDigits = Int(random.next() % 24)
            var text = random.next() % 2 == 0 ? "-" : ""
            text += integerDigits == 0 ? "0" : String(1 + random.next() % 9) + (0..<integerDigits - 1).map { _ in String(random.next() % 10) }.joined()
            if fractionDigits > 0 { text += "." + (0..<fractionDigits).map { _ in String(random.next() % 10) }.joined() }
            if random.next() % 8 == 0 { text += "e" + String(Int(random.next() % 40) - 20) }
            texts.append(text)
        }
        for text in texts {
            let parsed = try JSONValue.parse(Array("[\(text)]".utf8)).array?.first?.number
            let expected = try #require(Double(text))
            #expect(parsed?.bitPattern == expected.bitPattern, "\(text): \(String(describing: parsed)) vs \(expected)")
        }
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
