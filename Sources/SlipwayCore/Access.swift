/// A member's role within one team.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    case viewer
    case developer
    case reviewer
    case admin

    /// The permissions this role grants inside its team.
    public var permissions: Set<Permission> {
        switch self {
        case .viewer: [.read]
        case .developer: [.read, .write]
        case .reviewer: [.read, .review, .readAudit]
        case .admin: Set(Permission.allCases)
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Parses a role named by a user, with a message listing the valid ones.
    public init(parsing text: String) throws(SlipwayError) {
        guard let role = Role(rawValue: text) else {
            throw .badRequest(
                "unknown role '\(text.prefix(40))': use one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))",
                code: "invalid_role")
        }
        self = role
    }
}

/// What an action needs inside a team.
public enum Permission: String, Sendable, CaseIterable, Hashable {
    /// See the team's models, versions, artifacts.
    case read
    /// Create and change models, versions, aliases, tags; upload artifacts.
    case write
    /// Approve or reject model versions (governance).
    case review
    /// Read the team's audit log.
    case readAudit
    /// Manage members, service accounts and their keys.
    case manage
}

/// The authorisation rule attached to a route. Every route has exactly one.
public enum AccessPolicy: Sendable, Equatable, CustomStringConvertible {
    /// No key needed (health checks only).
    case anonymous
    /// Any valid key.
    case authenticated
    /// A key of a platform admin.
    case platformAdmin
    /// A member of the team named by the `{team}` path parameter with this permission
    /// (platform admins pass). Non-members get 404, as if the team did not exist.
    case team(Permission)

    public var description: String {
        switch self {
        case .anonymous: "anonymous"
        case .authenticated: "authenticated"
        case .platformAdmin: "platform admin"
        case .team(let permission): "team \(permission.rawValue)"
        }
    }
}

/// Who is calling: the principal behind a verified API key, with its team roles.
public struct Caller: Sendable, Equatable {
    public let principal: Principal
    public let keyID: APIKeyID
    /// The caller's role in each team it belongs to.
    public let roles: [TeamID: Role]
    /// The teams whose resources the caller may read (``Permission/read``), worked out once: every
    /// prediction request looks its endpoint up among them.
    public let readableTeams: Set<TeamID>

    public init(principal: Principal, keyID: APIKeyID, roles: [TeamID: Role]) {
        self.principal = principal
        self.keyID = keyID
        self.roles = roles
        self.readableTeams = Set(
            roles.filter { principal.isPlatformAdmin || $0.value.permissions.contains(.read) }.keys)
    }

    public var isPlatformAdmin: Bool { principal.isPlatformAdmin }

    /// Whether the caller may do `permission` in `team`.
    public func can(_ permission: Permission, in team: TeamID) -> Bool {
        if isPlatformAdmin { return true }
        return roles[team]?.permissions.contains(permission) ?? false
    }

    /// Whether the caller may see that `team` exists at all.
    public func isMember(of team: TeamID) -> Bool {
        isPlatformAdmin || roles[team] != nil
    }
}
