import SlipwayCore

/// Turns a stream of byte chunks into rows of fields, so a large file is read in bounded memory.
///
/// The first row (CSV header or the first JSON object's keys) fixes the columns; every later row is
/// delivered aligned to them, `nil` meaning null. Errors name the line.
public protocol TableParser: Sendable {
    /// The column names, once the first row has been read.
    var columns: [String]? { get }
    /// Feeds the next chunk; `row` is called for every complete data row with its 1-based number, its
    /// fields and the columns.
    mutating func consume(_ bytes: some Collection<UInt8>, row: (Int, [String?], [String]) throws -> Void) throws
    /// Ends the input; delivers a last row that had no final newline.
    mutating func finish(row: (Int, [String?], [String]) throws -> Void) throws
}

/// Limits that keep a hostile file from exhausting memory.
public enum TableLimits {
    public static let maximumColumns = 4096
    public static let maximumFieldBytes = 1 << 20
    public static let maximumLineBytes = 16 << 20
}

extension DatasetFormat {
    /// A fresh parser for this format.
    public func makeParser() -> any TableParser {
        switch self {
        case .csv: CSVParser()
        case .jsonl: JSONLinesParser()
        }
    }
}

/// RFC 4180 CSV: comma separated, `"` quoting with `""` for a quote, LF or CRLF line ends, a header row.
/// An empty unquoted field is null; a quoted empty field (`""`) is the empty string.
public struct CSVParser: TableParser {
    public private(set) var columns: [String]?
    private var fields: [String?] = []
    private var field: [UInt8] = []
    private var inQuotes = false
    private var quoteSeen = false  // a quote just closed (or an escaped quote may follow)
    private var fieldWasQuoted = false
    private var lastWasCR = false
    private var line = 1
    private var rowNumber = 0
    private var lineBytes = 0

    public init() {}

    public mutating func consume(_ bytes: some Collection<UInt8>, row: (Int, [String?], [String]) throws -> Void) throws {
        for byte in bytes {
            lineBytes += 1
            if lineBytes > TableLimits.maximumLineBytes {
                throw Self.error(line, "a row is longer than \(TableLimits.maximumLineBytes >> 20) MiB")
            }
            if inQuotes {
                if quoteSeen {
                    quoteSeen = false
                    if byte == UInt8(ascii: "\"") {
                        try append(byte)
                        continue
                    }
                    inQuotes = false
                    // fall through: the byte after a closing quote
                } else if byte == UInt8(ascii: "\"") {
                    quoteSeen = true
                    continue
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    try append(byte)
                    continue
                }
            }
            switch byte {
            case UInt8(ascii: ","):
                endField()
            case UInt8(ascii: "\n"):
                if lastWasCR, !field.isEmpty, field.last == UInt8(ascii: "\r") { field.removeLast() }
                try endRow(row)
                line += 1
                lineBytes = 0
            case UInt8(ascii: "\""):
                guard field.isEmpty, !fieldWasQuoted else {
                    throw Self.error(line, "a quote inside an unquoted field; quote the whole field and double inner quotes")
                }
                inQuotes = true
                fieldWasQuoted = true
            default:
                if fieldWasQuoted, byte != UInt8(ascii: "\r") {
                    throw Self.error(line, "text after a closing quote; double quotes inside quoted fields")
                }
                try append(byte)
            }
            lastWasCR = byte == UInt8(ascii: "\r")
        }
    }

    public mutating func finish(row: (Int, [String?], [String]) throws -> Void) throws {
        if inQuotes && !quoteSeen { throw Self.error(line, "the file ends inside a quoted field") }
        inQuotes = false
        quoteSeen = false
        if field.last == UInt8(ascii: "\r") { field.removeLast() }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { try endRow(row) }
        if columns == nil { throw SlipwayError.badRequest("the file is empty: a CSV needs a header row", code: "invalid_data") }
    }

    private mutating func append(_ byte: UInt8) throws {
        guard field.count < TableLimits.maximumFieldBytes else {
            throw Self.error(line, "a field is longer than \(TableLimits.maximumFieldBytes >> 20) MiB")
        }
        field.append(byte)
    }

    private mutating func endField() {
        if field.isEmpty && !fieldWasQuoted {
            fields.append(nil)
        } else {
            fields.append(String(decoding: field, as: UTF8.self))
        }
        field.removeAll(keepingCapacity: true)
        fieldWasQuoted = false
    }

    private mutating func endRow(_ row: (Int, [String?], [String]) throws -> Void) throws {
        endField()
        defer { fields.removeAll(keepingCapacity: true) }
        guard let columns else {
            let names = fields.map { $0 ?? "" }
            guard names.count <= TableLimits.maximumColumns else {
                throw Self.error(line, "more than \(TableLimits.maximumColumns) columns")
            }
            var seen = Set<String>()
            for (index, name) in names.enumerated() {
                guard !name.isEmpty else { throw Self.error(line, "header column \(index + 1) has no name") }
                guard seen.insert(name).inserted else { throw Self.error(line, "header names column '\(name)' twice") }
            }
            self.columns = names
            return
        }
        // A blank line (one null field) is skipped, as most CSV readers do.
        if fields.count == 1, fields[0] == nil, columns.count > 1 { return }
        guard fields.count == columns.count else {
            throw Self.error(line, "\(fields.count) fields, but the header has \(columns.count)")
        }
        rowNumber += 1
        try row(rowNumber, fields, columns)
    }

    static func error(_ line: Int, _ message: String) -> SlipwayError {
        .badRequest("CSV line \(line): \(message)", code: "invalid_data")
    }
}

/// JSON Lines: one flat JSON object per line (string, number, boolean or null values). The first
/// object's keys, in order, are the columns; later objects may leave keys out (null) but not add new ones.
public struct JSONLinesParser: TableParser {
    public private(set) var columns: [String]?
    private var index: [String: Int] = [:]
    private var buffer: [UInt8] = []
    private var line = 0
    private var rowNumber = 0

    public init() {}

    public mutating func consume(_ bytes: some Collection<UInt8>, row: (Int, [String?], [String]) throws -> Void) throws {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                try endLine(row)
            } else {
                guard buffer.count < TableLimits.maximumLineBytes else {
                    throw Self.error(line + 1, "a line is longer than \(TableLimits.maximumLineBytes >> 20) MiB")
                }
                buffer.append(byte)
            }
        }
    }

    public mutating func finish(row: (Int, [String?], [String]) throws -> Void) throws {
        if !buffer.isEmpty { try endLine(row) }
        if columns == nil { throw SlipwayError.badRequest("the file has no JSON objects", code: "invalid_data") }
    }

    private mutating func endLine(_ row: (Int, [String?], [String]) throws -> Void) throws {
        line += 1
        defer { buffer.removeAll(keepingCapacity: true) }
        if buffer.last == UInt8(ascii: "\r") { buffer.removeLast() }
        if buffer.allSatisfy({ $0 == 32 || $0 == 9 }) { return }
        var reader = FlatJSONObjectReader(bytes: buffer)
        let pairs: [(String, String?)]
        do { pairs = try reader.readObject() } catch { throw Self.error(line, error.message) }
        if columns == nil {
            guard pairs.count <= TableLimits.maximumColumns else {
                throw Self.error(line, "more than \(TableLimits.maximumColumns) keys")
            }
            guard !pairs.isEmpty else { throw Self.error(line, "the first object has no keys") }
            columns = pairs.map(\.0)
            for (position, pair) in pairs.enumerated() { index[pair.0] = position }
        }
        var values = [String?](repeating: nil, count: columns!.count)
        for (key, value) in pairs {
            guard let position = index[key] else {
                throw Self.error(line, "key '\(key.prefix(80))' is not in the first line; every line must use the first line's keys")
            }
            values[position] = value
        }
        rowNumber += 1
        try row(rowNumber, values, columns!)
    }

    static func error(_ line: Int, _ message: String) -> SlipwayError {
        .badRequest("JSON Lines line \(line): \(message)", code: "invalid_data")
    }
}

/// Reads one flat JSON object; numbers keep their text, booleans become `true`/`false`.
struct FlatJSONObjectReader {
    struct Failure: Error { let message: String }

    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func readObject() throws(Failure) -> [(String, String?)] {
        skipSpace()
        try expect(UInt8(ascii: "{"), "expected a JSON object")
        var pairs: [(String, String?)] = []
        var seen = Set<String>()
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                skipSpace()
                let key = try readString()
                guard seen.insert(key).inserted else { throw Failure(message: "key '\(key.prefix(80))' appears twice") }
                skipSpace()
                try expect(UInt8(ascii: ":"), "expected ':' after a key")
                skipSpace()
                pairs.append((key, try readScalar(key)))
                skipSpace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "expected ',' or '}'")
                break
            }
        }
        skipSpace()
        guard position == bytes.count else { throw Failure(message: "text after the object") }
        return pairs
    }

    mutating func readScalar(_ key: String) throws(Failure) -> String? {
        guard let byte = peek() else { throw Failure(message: "the line ends early") }
        switch byte {
        case UInt8(ascii: "\""): return try readString()
        case UInt8(ascii: "t"): try literal("true"); return "true"
        case UInt8(ascii: "f"): try literal("false"); return "false"
        case UInt8(ascii: "n"): try literal("null"); return nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            throw Failure(message: "key '\(key.prefix(80))' holds an object or array; flatten it into columns")
        default:
            let start = position
            while let next = peek(), "+-0123456789.eE".utf8.contains(next) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard !text.isEmpty, Double(text)?.isFinite == true else {
                throw Failure(message: "key '\(key.prefix(80))' has an invalid value")
            }
            return text
        }
    }

    mutating func readString() throws(Failure) -> String {
        try expect(UInt8(ascii: "\""), "expected a string")
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() {
            if !run.isEmpty {
                scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
                run.removeAll()
            }
        }
        while true {
            guard let byte = peek() else { throw Failure(message: "a string is not closed") }
            position += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw Failure(message: "a control character inside a string") }
            guard byte == UInt8(ascii: "\\") else {
                run.append(byte)
                continue
            }
            flush()
            guard let escape = peek() else { throw Failure(message: "a string is not closed") }
            position += 1
            if let scalar = JSONEscapes.scalar(after: escape) {
                scalars.append(scalar)
                continue
            }
            switch escape {
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard peek() == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u")
                    else { throw Failure(message: "an unpaired surrogate in a string") }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw Failure(message: "an unpaired surrogate in a string") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw Failure(message: "an invalid \\u escape") }
                scalars.append(scalar)
            default:
                throw Failure(message: "an invalid escape in a string")
            }
        }
        flush()
        return String(scalars)
    }

    mutating func hex4() throws(Failure) -> UInt32 {
        guard position + 4 <= bytes.count else { throw Failure(message: "an invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            position += 1
            let digit: UInt32
            switch byte {
            case 48...57: digit = UInt32(byte - 48)
            case 65...70: digit = UInt32(byte - 55)
            case 97...102: digit = UInt32(byte - 87)
            default: throw Failure(message: "an invalid \\u escape")
            }
            value = value << 4 | digit
        }
        return value
    }

    mutating func literal(_ word: String) throws(Failure) {
        let utf8 = Array(word.utf8)
        guard position + utf8.count <= bytes.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
            throw Failure(message: "an invalid value")
        }
        position += utf8.count
    }

    mutating func expect(_ byte: UInt8, _ message: String) throws(Failure) {
        guard peek() == byte else { throw Failure(message: message) }
        position += 1
    }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        while let byte = peek(), byte == 32 || byte == 9 { position += 1 }
    }
}
