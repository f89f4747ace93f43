import Foundation

/// Someone or something that holds API keys: a person (user) or a team's service account.
public struct Principal: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case user
        case serviceAccount = "service_account"
    }

    public let id: PrincipalID
    /// Unique across the platform, a ``ResourceName``.
    public let name: String
    public let kind: Kind
    /// For service accounts: the team that owns it. Users belong to no single team.
    public let ownerTeam: TeamID?
    /// Platform admins manage teams and act in every team.
    public let isPlatformAdmin: Bool
    public let createdAt: Date

    public init(
        id: PrincipalID, name: String, kind: Kind, ownerTeam: TeamID?, isPlatformAdmin: Bool, createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.ownerTeam = ownerTeam
        self.isPlatformAdmin = isPlatformAdmin
        self.createdAt = createdAt
    }
}

/// A tenant: owns models, datasets, deployments and their audit trail.
public struct Team: Sendable, Equatable, Codable {
    public let id: TeamID
    public let name: String
    public let description: String
    public let createdAt: Date

    public init(id: TeamID, name: String, description: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.description = description
        self.createdAt = createdAt
    }
}

/// A principal's role in a team.
public struct Membership: Sendable, Equatable, Codable {
    public let team: TeamID
    public let principal: Principal
    public let role: Role

    public init(team: TeamID, principal: Principal, role: Role) {
        self.team = team
        self.principal = principal
        self.role = role
    }
}

/// An API key's stored record. The secret itself is never stored, only its SHA-256.
public struct APIKey: Sendable, Equatable, Codable {
    public let id: APIKeyID
    public let principal: PrincipalID
    public let name: String
    public let createdAt: Date
    public let expiresAt: Date?
    public let revokedAt: Date?
    public let lastUsedAt: Date?

    public init(
        id: APIKeyID, principal: PrincipalID, name: String, createdAt: Date, expiresAt: Date?, revokedAt: Date?,
        lastUsedAt: Date?
    ) {
        self.id = id
        self.principal = principal
        self.name = name
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }

    /// The recognisable, non-secret start of the token, for listings: `slw_3f9c2a1b…`.
    public var displayPrefix: String {
        "\(APIKeyToken.scheme)_\(id.rawValue.dropFirst(APIKeyTag.prefix.count + 1).prefix(8))…"
    }

    /// Whether the key authenticates at `now`.
    public func isActive(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }
}

/// The bearer token a client sends: `slw_<32 hex key id>_<64 hex secret>`.
///
/// The key ID part lets the server find the record without scanning; the secret part is compared
/// by hash in constant time.
public struct APIKeyToken: Sendable, Equatable, CustomStringConvertible {
    public static let scheme = "slw"

    public let keyID: APIKeyID
    public let secret: String

    /// A new token with 256 random bits of secret.
    public static func generate<G: RandomNumberGenerator>(using generator: inout G) -> APIKeyToken {
        let keyID = APIKeyID.random(using: &generator)
        var secret = ""
        for _ in 0..<4 {
            let digits = String(generator.next() as UInt64, radix: 16)
            secret += String(repeating: "0", count: 16 - digits.count) + digits
        }
        return APIKeyToken(keyID: keyID, secret: secret)
    }

    init(keyID: APIKeyID, secret: String) {
        self.keyID = keyID
        self.secret = secret
    }

    /// Parses a token (`slw_` + 32 hex digits of key ID + `_` + 64 hex digits of secret); returns nil for
    /// anything malformed (the caller answers 401). Runs on every authenticated request, so it reads the
    /// bytes once and allocates only the two strings it keeps.
    public init?(parsing text: String) {
        let bytes = text.utf8
        let scheme = Self.scheme.utf8
        let idLength = 32, secretLength = 64
        guard bytes.count == scheme.count + 1 + idLength + 1 + secretLength, bytes.starts(with: scheme) else {
            return nil
        }
        let idStart = bytes.index(bytes.startIndex, offsetBy: scheme.count + 1)
        let idEnd = bytes.index(idStart, offsetBy: idLength)
        let secretStart = bytes.index(after: idEnd)
        guard bytes[bytes.index(before: idStart)] == UInt8(ascii: "_"), bytes[idEnd] == UInt8(ascii: "_"),
            bytes[idStart..<idEnd].allSatisfy(Self.isLowerHex), bytes[secretStart...].allSatisfy(Self.isLowerHex)
        else { return nil }
        self.keyID = APIKeyID(trusted: APIKeyTag.prefix + "_" + String(text[idStart..<idEnd]))
        self.secret = String(text[secretStart...])
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (97...102).contains(byte)
    }

    /// The full token. Shown to the user once, never stored.
    public var description: String {
        "\(Self.scheme)_\(keyID.rawValue.dropFirst(APIKeyTag.prefix.count + 1))_\(secret)"
    }

    /// The value stored at rest: hex SHA-256 of the whole token.
    public var storedHash: String { Digest.sha256Hex(Array(description.utf8)) }
}
