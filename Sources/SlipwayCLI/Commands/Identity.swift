import ArgumentParser
import Foundation
import SlipwayCore

/// `slipway teams …`.
struct Teams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and list teams.", subcommands: [List.self, Create.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Teams you belong to (all for platform admins).")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, "/api/v1/teams")
                Output.render(
                    data, options.output, columns: [("NAME", "name"), ("ROLE", "role"), ("DESCRIPTION", "description")])
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team (platform admins).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Team name.") var name: String
        @Option(help: "Description.") var description: String = ""
        func run() async throws {
            try await reporting {
                struct Body: Encodable, Sendable {
                    let name: String
                    let description: String
                }
                let data = try await options.client().send(
                    .POST, "/api/v1/teams", json: Body(name: name, description: description))
                Output.details(data, options.output, keys: ["name", "id", "description", "created_at"])
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one team.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Team name.") var name: String
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, "/api/v1/teams/\(name.pathSegment)")
                Output.details(data, options.output, keys: ["name", "id", "role", "description", "created_at"])
            }
        }
    }
}

/// `slipway members …`.
struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage who belongs to a team, with which role (viewer, developer, reviewer, admin).",
        subcommands: [List.self, Set.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Members of a team.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team (default: $SLIPWAY_TEAM or the profile's).") var team: String?
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .GET, "/api/v1/teams/\(try options.team(team).pathSegment)/members")
                Output.render(
                    data, options.output, columns: [("PRINCIPAL", "principal"), ("KIND", "kind"), ("ROLE", "role")])
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user to a team or change its role.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "User or service account name.") var principal: String
        @Option(help: "viewer, developer, reviewer or admin.") var role: String
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .PUT, "/api/v1/teams/\(try options.team(team).pathSegment)/members/\(principal.pathSegment)",
                    json: ["role": role])
                Output.details(data, options.output, keys: ["principal", "kind", "role"])
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a member from a team.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "User or service account name.") var principal: String
        func run() async throws {
            try await reporting {
                _ = try await options.client().send(
                    .DELETE, "/api/v1/teams/\(try options.team(team).pathSegment)/members/\(principal.pathSegment)")
                if options.output == .table { print("removed \(principal)") }
            }
        }
    }
}

/// `slipway users …` (platform admins).
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and list users (platform admins).", subcommands: [List.self, Create.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "All users and service accounts.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, "/api/v1/principals")
                Output.render(
                    data, options.output,
                    columns: [
                        ("NAME", "name"), ("KIND", "kind"), ("PLATFORM ADMIN", "platform_admin"),
                        ("CREATED", "created_at"),
                    ])
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user; then give it a key with 'slipway keys create --for NAME'.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "User name.") var name: String
        @Flag(help: "Make the user a platform admin.") var platformAdmin = false
        func run() async throws {
            try await reporting {
                struct Body: Encodable, Sendable {
                    let name: String
                    let platform_admin: Bool
                }
                let data = try await options.client().send(
                    .POST, "/api/v1/principals", json: Body(name: name, platform_admin: platformAdmin))
                Output.details(data, options.output, keys: ["name", "id", "kind", "platform_admin"])
            }
        }
    }
}

/// `slipway service-accounts create`.
struct ServiceAccounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service-accounts", abstract: "Service accounts for applications and pipelines.",
        subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a service account owned by a team (team admins).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Service account name.") var name: String
        @Option(help: "Role in the team.") var role: String = "viewer"
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .POST, "/api/v1/teams/\(try options.team(team).pathSegment)/service-accounts",
                    json: ["name": name, "role": role])
                Output.details(data, options.output, keys: ["name", "id", "kind", "owner_team"])
            }
        }
    }
}

/// `slipway keys …`.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "API keys: create (the secret is shown once), list, revoke.",
        subcommands: [Create.self, List.self, Revoke.self, Generate.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key for yourself or --for a user or service account.")
        @OptionGroup var options: ClientOptions
        @Option(name: .customLong("for"), help: "Principal to create the key for.") var principal: String?
        @Option(help: "A name to recognise the key by.") var name: String = "default"
        @Option(help: "Expire after this many days.") var expiresInDays: Int?
        func run() async throws {
            try await reporting {
                struct Body: Encodable, Sendable {
                    let principal: String?
                    let name: String
                    let expires_in_days: Int?
                }
                let data = try await options.client().send(
                    .POST, "/api/v1/keys", json: Body(principal: principal, name: name, expires_in_days: expiresInDays))
                if options.output == .json { return Output.print(json: data) }
                let object = Output.object(data)
                print(
                    "Created key \(Output.cell(object["id"])) for \(Output.cell(object["principal"])). The secret, shown only now:\n"
                )
                print("    \(Output.cell(object["secret"]))\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Keys of yourself or --for a principal you manage.")
        @OptionGroup var options: ClientOptions
        @Option(name: .customLong("for"), help: "Principal.") var principal: String?
        func run() async throws {
            try await reporting {
                let query = principal.map { "?principal=\($0.pathSegment)" } ?? ""
                let data = try await options.client().send(.GET, "/api/v1/keys\(query)")
                Output.render(
                    data, options.output,
                    columns: [
                        ("ID", "id"), ("PREFIX", "prefix"), ("NAME", "name"), ("EXPIRES", "expires_at"),
                        ("REVOKED", "revoked_at"), ("LAST USED", "last_used_at"),
                    ])
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; it stops working at once.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Key ID (key_…).") var id: String
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.DELETE, "/api/v1/keys/\(id.pathSegment)")
                Output.details(data, options.output, keys: ["id", "principal", "name", "revoked_at"])
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random key offline, e.g. to set as $SLIPWAY_ADMIN_KEY before the first start.")
        func run() {
            var generator = SystemRandomNumberGenerator()
            print(APIKeyToken.generate(using: &generator).description)
        }
    }
}
