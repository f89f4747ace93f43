import SlipwayCore

/// Parses field text into typed values the same way for profiling, validation and training.
public enum ValueParsing {
    /// A whole number written without a fraction or exponent (`-12`, `0042`).
    public static func integer(_ text: String) -> Int64? {
        Int64(text)
    }

    /// A finite decimal number (`3`, `-0.5`, `1e-3`). `NaN` and infinities are not numbers here.
    public static func number(_ text: String) -> Double? {
        guard let first = text.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+")
            || first == UInt8(ascii: ".") || (48...57).contains(first),
            let value = Double(text), value.isFinite
        else { return nil }
        return value
    }

    /// `true` or `false`, in any letter case.
    public static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// An ISO 8601 date (`2024-03-01`) or date-time (`2024-03-01T12:30:00Z`, `2024-03-01 12:30:00.5+02:00`)
    /// as seconds since 1970-01-01T00:00:00Z. A date-time without an offset is taken as UTC.
    public static func timestamp(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        var position = 0
        func digits(_ count: Int) -> Int? {
            guard position + count <= bytes.count else { return nil }
            var value = 0
            for _ in 0..<count {
                let byte = bytes[position]
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
                position += 1
            }
            return value
        }
        func take(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }
        guard let year = digits(4), take(UInt8(ascii: "-")), let month = digits(2), take(UInt8(ascii: "-")),
            let day = digits(2), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        var seconds = Double(daysFromCivil(year: year, month: month, day: day)) * 86_400
        if position == bytes.count { return seconds }
        guard take(UInt8(ascii: "T")) || take(UInt8(ascii: " ")), let hour = digits(2), take(UInt8(ascii: ":")),
            let minute = digits(2), hour < 24, minute < 60
        else { return nil }
        seconds += Double(hour * 3600 + minute * 60)
        if take(UInt8(ascii: ":")) {
            guard let second = digits(2), second < 61 else { return nil }
            seconds += Double(second)
            if take(UInt8(ascii: ".")) {
                var scale = 0.1
                var any = false
                while position < bytes.count, (48...57).contains(bytes[position]) {
                    seconds += Double(bytes[position] - 48) * scale
                    scale /= 10
                    position += 1
                    any = true
                }
                guard any else { return nil }
            }
        }
        if position == bytes.count || take(UInt8(ascii: "Z")) || take(UInt8(ascii: "z")) {
            return position == bytes.count ? seconds : nil
        }
        let sign: Double
        if take(UInt8(ascii: "+")) { sign = 1 } else if take(UInt8(ascii: "-")) { sign = -1 } else { return nil }
        guard let offsetHours = digits(2), take(UInt8(ascii: ":")) || true, let offsetMinutes = digits(2),
            position == bytes.count, offsetHours < 24, offsetMinutes < 60
        else { return nil }
        return seconds - sign * Double(offsetHours * 3600 + offsetMinutes * 60)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Whether `text` is a value of `type`.
    public static func matches(_ text: String, _ type: ColumnType) -> Bool {
        switch type {
        case .integer: integer(text) != nil
        case .number: number(text) != nil
        case .boolean: boolean(text) != nil
        case .timestamp: timestamp(text) != nil
        case .string: true
        }
    }

    /// A stable 64-bit hash (FNV-1a, then mixed), the same in every process, for distinct counts and
    /// uniqueness checks.
    public static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        return hash ^ (hash >> 31)
    }
}
