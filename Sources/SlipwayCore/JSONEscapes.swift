/// JSON's one-character string escapes, shared by the platform's hand-written JSON readers.
public enum JSONEscapes {
    /// The character a backslash followed by `byte` stands for (`n` → newline), or nil when `byte` is
    /// not a one-character escape (`u` starts a `\uXXXX` escape and is handled by the reader).
    @inlinable
    public static func scalar(after byte: UInt8) -> Unicode.Scalar? {
        switch byte {
        case UInt8(ascii: "\""): "\""
        case UInt8(ascii: "\\"): "\\"
        case UInt8(ascii: "/"): "/"
        case UInt8(ascii: "b"): "\u{08}"
        case UInt8(ascii: "f"): "\u{0C}"
        case UInt8(ascii: "n"): "\n"
        case UInt8(ascii: "r"): "\r"
        case UInt8(ascii: "t"): "\t"
        default: nil
        }
    }
}
