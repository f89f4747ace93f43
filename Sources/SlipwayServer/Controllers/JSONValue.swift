import SlipwayCore
import SlipwayRuntime

/// A parsed JSON document, for the prediction hot path.
///
/// Foundation's `JSONSerialization` boxes every number in an `NSNumber` and every container in an
/// `NSArray`/`NSDictionary`; on Linux that dominated the cost of a one-row prediction. This parser
/// reads UTF-8 bytes straight into Swift values. It accepts exactly RFC 8259 JSON (depth-limited), and
/// is used where a request's shape is known (OIP v2 `infer`).
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    struct ParseError: Error {}

    /// Parses a complete document; throws ``ParseError`` on anything that is not JSON.
    static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
            var parser = Parser(bytes: buffer)
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.position == buffer.count else { throw ParseError() }
            return value
        }
        // A request body is contiguous already: no copy.
        if let parsed = try bytes.withContiguousStorageIfAvailable(parse) { return parsed }
        return try Array(bytes).withUnsafeBufferPointer(parse)
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        static let maximumDepth = 64

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < Self.maximumDepth else { throw ParseError() }
            skipWhitespace()
            guard position < bytes.count else { throw ParseError() }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(key: String, value: JSONValue)] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(members)
                }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw ParseError() }
                    let key = try string()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw ParseError() }
                    position += 1
                    members.append((key, try value(depth: depth + 1)))
                    skipWhitespace()
                    guard position < bytes.count else { throw ParseError() }
                    if bytes[position] == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    guard bytes[position] == UInt8(ascii: "}") else { throw ParseError() }
                    position += 1
                    return .object(members)
                }
            case UInt8(ascii: "["):
                position += 1
                var elements: [JSONValue] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                while true {
                    elements.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw ParseError() }
                    if bytes[position] == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    guard bytes[position] == UInt8(ascii: "]") else { throw ParseError() }
                    position += 1
                    return .array(elements)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            default:
                return .number(try number())
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw ParseError() }
            for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] { throw ParseError() }
            position += count
        }

        /// Powers of ten a `Double` holds exactly.
        static let exactPowersOfTen: [Double] = (0...22).map { power in
            (0..<power).reduce(1.0) { value, _ in value * 10 }
        }

        mutating func number() throws -> Double {
            let start = position
            let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            let digitsStart = position
            // The digits as an integer, exact while there are at most 15 of them.
            var mantissa: UInt64 = 0
            var digits = 0
            while position < bytes.count, (48...57).contains(bytes[position]) {
                mantissa = mantissa &* 10 &+ UInt64(bytes[position] - 48)
                digits += 1
                position += 1
            }
            guard position > digitsStart else { throw ParseError() }
            // No leading zeros ("01").
            if bytes[digitsStart] == 48, position - digitsStart > 1 { throw ParseError() }
            var fractionDigits = 0
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                let fraction = position
                while position < bytes.count, (48...57).contains(bytes[position]) {
                    mantissa = mantissa &* 10 &+ UInt64(bytes[position] - 48)
                    digits += 1
                    position += 1
                }
                guard position > fraction else { throw ParseError() }
                fractionDigits = position - fraction
            }
            // Most numbers in a request are short decimals: an integer of at most 15 digits divided by an
            // exact power of ten is correctly rounded (one IEEE division of two exact values), so they need
            // no text conversion. Anything else (exponents, long mantissas) goes through `Double(String)`.
            let exponentFollows =
                position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E"))
            if !exponentFollows, digits <= 15, fractionDigits <= 22 {
                let magnitude = Double(mantissa) / Self.exactPowersOfTen[fractionDigits]
                return negative ? -magnitude : magnitude
            }
            if exponentFollows {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    position += 1
                }
                let exponent = position
                while position < bytes.count, (48...57).contains(bytes[position]) { position += 1 }
                guard position > exponent else { throw ParseError() }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            guard let value = Double(text) else { throw ParseError() }
            return value
        }

        mutating func string() throws -> String {
            position += 1  // opening quote
            let start = position
            var plain = true
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    if plain {
                        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                        position += 1
                        return text
                    }
                    break
                }
                if byte < 0x20 { throw ParseError() }
                if byte == UInt8(ascii: "\\") {
                    plain = false
                    position += 2
                    continue
                }
                position += 1
            }
            guard !plain else { throw ParseError() }
            // Escapes: decode from the start again.
            var scalars = String.UnicodeScalarView()
            var index = start
            var utf8: [UInt8] = []
            func flush() {
                if !utf8.isEmpty {
                    scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                    utf8.removeAll()
                }
            }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    flush()
                    position = index + 1
                    return String(scalars)
                }
                if byte < 0x20 { throw ParseError() }
                guard byte == UInt8(ascii: "\\") else {
                    utf8.append(byte)
                    index += 1
                    continue
                }
                flush()
                guard index + 1 < bytes.count else { throw ParseError() }
                let escaped = bytes[index + 1]
                index += 2
                if let scalar = JSONEscapes.scalar(after: escaped) {
                    scalars.append(scalar)
                    continue
                }
                switch escaped {
                case UInt8(ascii: "u"):
                    var code = try hex4(at: index)
                    index += 4
                    if (0xD800...0xDBFF).contains(code), index + 5 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        let low = try hex4(at: index + 2)
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            index += 6
                        }
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw ParseError() }
                    scalars.append(scalar)
                default:
                    throw ParseError()
                }
            }
            throw ParseError()
        }

        func hex4(at index: Int) throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw ParseError() }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = bytes[index + offset]
                let digit: UInt32
                switch byte {
                case 48...57: digit = UInt32(byte - 48)
                case 97...102: digit = UInt32(byte - 87)
                case 65...70: digit = UInt32(byte - 55)
                default: throw ParseError()
                }
                value = value << 4 | digit
            }
            return value
        }
    }
}

/// Writes JSON text for the prediction responses without going through Foundation.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func number(_ value: Float) {
        guard value.isFinite else { return raw("null") }
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func integer(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// `[{"name":…,"datatype":…,"shape":[…],"data":[…]}, …]`: output tensors as OIP v2 writes them.
    mutating func tensors(_ outputs: [PredictionOutput]) {
        raw("[")
        for (index, output) in outputs.enumerated() {
            if index > 0 { raw(",") }
            raw("{\"name\":")
            string(output.name)
            raw(",\"datatype\":")
            string(output.datatype.rawValue)
            raw(",\"shape\":[")
            for (position, dimension) in output.shape.enumerated() {
                if position > 0 { raw(",") }
                integer(dimension)
            }
            raw("],\"data\":[")
            switch output.data {
            case .floats(let values):
                for (position, value) in values.enumerated() {
                    if position > 0 { raw(",") }
                    number(value)
                }
            case .int64s(let values):
                for (position, value) in values.enumerated() {
                    if position > 0 { raw(",") }
                    integer(value)
                }
            case .strings(let values):
                for (position, value) in values.enumerated() {
                    if position > 0 { raw(",") }
                    string(value)
                }
            }
            raw("]}")
        }
        raw("]")
    }
}
