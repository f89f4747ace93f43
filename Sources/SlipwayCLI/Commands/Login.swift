import ArgumentParser
import Foundation

/// `slipway login`: checks a key against the server and saves it in the profile file (mode 0600).
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Save a server URL and API key for later commands.")

    @Option(help: "Server URL, e.g. http://127.0.0.1:8080.") var server: String
    @Option(help: "API key (slw_…). Default: $SLIPWAY_KEY.") var key: String?
    @Option(help: "Default team for commands that need one.") var team: String?
    @Option(help: "Profile name.") var profile: String = "default"

    func run() async throws {
        try await reporting {
            guard let key = key ?? ProcessInfo.processInfo.environment["SLIPWAY_KEY"] else {
                throw CLIFailure(message: "pass --key or set $SLIPWAY_KEY", exitCode: 64)
            }
            let data = try await APIClient(baseURL: server, key: key).send(.GET, "/api/v1/whoami")
            let principal = Output.object(data)["principal"] as? [String: Any]
            var store = try ProfileStore.load()
            store.profiles[profile] = .init(server: server, key: key, team: team)
            try store.save()
            print("Logged in to \(server) as \(Output.cell(principal?["name"])); saved to \(ProfileStore.path)")
        }
    }
}

/// `slipway whoami`.
struct WhoAmI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show the caller and its teams.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reporting {
            let data = try await options.client().send(.GET, "/api/v1/whoami")
            if options.output == .json { return Output.print(json: data) }
            let object = Output.object(data)
            let principal = object["principal"] as? [String: Any] ?? [:]
            print(
                "\(Output.cell(principal["name"])) (\(Output.cell(principal["kind"]))\((principal["platform_admin"] as? Bool) == true ? ", platform admin" : ""))"
            )
            let teams = object["teams"] as? [[String: Any]] ?? []
            if !teams.isEmpty {
                print(
                    Output.table(["TEAM", "ROLE"], teams.map { [Output.cell($0["name"]), Output.cell($0["role"])] }))
            }
        }
    }
}
