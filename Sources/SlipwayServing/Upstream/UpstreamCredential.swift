import SlipwayCore

/// A bearer token for upstream model servers, declared by the operator and referred to by name.
///
/// Teams never see or store the token: a deployment's upstream settings name the credential
/// (`"credential": "NAME"`), and the server sends `Authorization: Bearer TOKEN` on each call. The operator
/// declares it as `NAME[@TEAM,TEAM]=ENV_VAR`: the token is read from that environment variable when the
/// server starts, so it never appears on a command line, in the database or in an API response. Without
/// `@TEAMS` every team may use it.
public struct UpstreamCredential: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// Teams allowed to use it; nil: every team.
    public let teams: Set<String>?
    let token: String

    public init(name: String, teams: Set<String>? = nil, token: String) throws(SlipwayError) {
        try ResourceName.validate(name, as: "upstream credential name")
        guard !token.isEmpty, token.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw .badRequest(
                "upstream credential '\(name)': the token must be non-empty visible ASCII without spaces",
                code: "invalid_upstream_credential")
        }
        self.name = name
        self.teams = teams
        self.token = token
    }

    /// Parses `NAME[@TEAM,TEAM]=ENV_VAR`, reading the token from `environment[ENV_VAR]`.
    public init(parsing text: String, environment: [String: String]) throws(SlipwayError) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw .badRequest(
                "an upstream credential is NAME[@TEAM,TEAM]=ENV_VAR (the variable holds the token)",
                code: "invalid_upstream_credential")
        }
        let head = text[..<equals].split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(head[0])
        let variable = String(text[text.index(after: equals)...])
        guard !variable.isEmpty, let token = environment[variable] else {
            throw .badRequest(
                "upstream credential '\(name)': environment variable '\(variable)' is not set", code: "invalid_upstream_credential")
        }
        let teams = head.count == 2 ? Set(head[1].split(separator: ",").map(String.init)) : nil
        if let teams, teams.isEmpty {
            throw .badRequest(
                "upstream credential '\(name)': name at least one team after '@', or drop the '@'",
                code: "invalid_upstream_credential")
        }
        try self.init(name: name, teams: teams, token: token)
    }

    public func allows(team: String) -> Bool { teams?.contains(team) ?? true }

    /// The token is never shown.
    public var description: String {
        "\(name)\(teams.map { "@" + $0.sorted().joined(separator: ",") } ?? "")=<redacted>"
    }

    /// The token of `name` for `team`.
    /// - Throws: 400 `unknown_upstream_credential` when no credential of that name is declared for the team
    ///   (the same answer whether it does not exist or belongs to other teams).
    public static func token(
        named name: String, team: String, in credentials: [UpstreamCredential]
    ) throws(SlipwayError) -> String {
        guard let credential = credentials.first(where: { $0.name == name && $0.allows(team: team) }) else {
            let usable = credentials.filter { $0.allows(team: team) }.map { "'\($0.name)'" }
            throw .badRequest(
                "upstream credential '\(name.prefix(64))' is not declared for team '\(team)'; "
                    + (usable.isEmpty
                        ? "the server declares none for it (operators add them with serve --upstream-credential)"
                        : "it may use " + usable.sorted().joined(separator: ", ")),
                code: "unknown_upstream_credential")
        }
        return credential.token
    }
}
