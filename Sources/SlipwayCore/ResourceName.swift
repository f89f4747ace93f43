/// Validation of the human names that appear in URLs: team names, model names, alias names, tag keys.
public enum ResourceName {
    /// Names are 1–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
    public static let rule = "1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"

    /// Throws a clear 400 if `name` breaks ``rule``.
    public static func validate(_ name: String, as what: String) throws(SlipwayError) {
        guard isValid(name) else {
            throw .badRequest("invalid \(what) '\(name.prefix(80))': use \(rule)", code: "invalid_name")
        }
    }

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func allowed(_ byte: UInt8) -> Bool {
            (97...122).contains(byte) || (48...57).contains(byte)
        }
        guard allowed(bytes[0]) else { return false }
        return bytes.allSatisfy {
            allowed($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }
}

/// Limits on free text (descriptions) shared by every resource.
public enum Description {
    public static let maximumBytes = 4096

    /// Throws a 400 if `text` is longer than ``maximumBytes``.
    public static func validate(_ text: String) throws(SlipwayError) {
        guard text.utf8.count <= maximumBytes else {
            throw .badRequest("description is limited to \(maximumBytes) bytes", code: "too_long")
        }
    }
}
