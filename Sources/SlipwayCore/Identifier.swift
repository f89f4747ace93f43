/// A typed, opaque identifier such as `mdl_3f9c2a…`.
///
/// The prefix names the kind of resource so an ID pasted in the wrong place is rejected with a clear
/// message. IDs are generated from 16 random bytes (lowercase hex), so they are not guessable.
public struct Identifier<Tag: IdentifierTag>: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Validates `rawValue`; throws a 400-class error naming the expected shape.
    public init(validating rawValue: String) throws(SlipwayError) {
        guard Self.isValid(rawValue) else {
            throw .badRequest(
                "'\(rawValue.prefix(80))' is not a valid \(Tag.noun) ID (expected '\(Tag.prefix)_' and 32 hex digits)",
                code: "invalid_id")
        }
        self.rawValue = rawValue
    }

    /// Wraps a value read back from the store, which was validated when written.
    public init(trusted rawValue: String) { self.rawValue = rawValue }

    /// A new random identifier.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> Self {
        var hex = ""
        hex.reserveCapacity(32)
        for _ in 0..<2 {
            let word = generator.next() as UInt64
            let digits = String(word, radix: 16)
            hex += String(repeating: "0", count: 16 - digits.count) + digits
        }
        return Self(trusted: "\(Tag.prefix)_\(hex)")
    }

    public static func random() -> Self {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        let prefix = Tag.prefix.utf8
        guard utf8.count == prefix.count + 33, utf8.starts(with: prefix) else { return false }
        let separator = utf8.index(utf8.startIndex, offsetBy: prefix.count)
        guard utf8[separator] == UInt8(ascii: "_") else { return false }
        return utf8[utf8.index(after: separator)...].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(String.self)
        self = try Self(validating: value)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Describes one kind of identifier.
public protocol IdentifierTag: Sendable {
    static var prefix: String { get }
    static var noun: String { get }
}

public enum TeamTag: IdentifierTag {
    public static let prefix = "team"
    public static let noun = "team"
}
public enum PrincipalTag: IdentifierTag {
    public static let prefix = "prn"
    public static let noun = "principal"
}
public enum APIKeyTag: IdentifierTag {
    public static let prefix = "key"
    public static let noun = "API key"
}
public enum ModelTag: IdentifierTag {
    public static let prefix = "mdl"
    public static let noun = "model"
}

public enum DeploymentTag: IdentifierTag {
    public static let prefix = "dep"
    public static let noun = "deployment"
}

public enum DatasetTag: IdentifierTag {
    public static let prefix = "dst"
    public static let noun = "dataset"
}

public enum JobTag: IdentifierTag {
    public static let prefix = "job"
    public static let noun = "job"
}

public enum ScheduleTag: IdentifierTag {
    public static let prefix = "sch"
    public static let noun = "schedule"
}

public typealias TeamID = Identifier<TeamTag>
public typealias PrincipalID = Identifier<PrincipalTag>
public typealias APIKeyID = Identifier<APIKeyTag>
public typealias ModelID = Identifier<ModelTag>
public typealias DeploymentID = Identifier<DeploymentTag>
public typealias DatasetID = Identifier<DatasetTag>
public typealias JobID = Identifier<JobTag>
public typealias ScheduleID = Identifier<ScheduleTag>
