import ArgumentParser
import Foundation

/// How a command reaches the server: flags, then environment, then the login profile.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (default: $SLIPWAY_SERVER or the login profile).")
    var server: String?

    @Option(name: .long, help: "API key (default: $SLIPWAY_KEY or the login profile).")
    var key: String?

    @Option(name: .long, help: "Profile name in the config file.")
    var profile: String = "default"

    @Option(name: .long, help: "Output format: table or json.")
    var output: OutputFormat = .table

    func client() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let stored = try? ProfileStore.load().profiles[profile]
        guard let server = server ?? environment["SLIPWAY_SERVER"] ?? stored?.server else {
            throw CLIFailure(
                message: "no server: run 'slipway login --server URL --key KEY' or pass --server",
                exitCode: ExitCodes.auth)
        }
        guard let key = key ?? environment["SLIPWAY_KEY"] ?? stored?.key else {
            throw CLIFailure(
                message: "no API key: run 'slipway login --server URL --key KEY' or pass --key",
                exitCode: ExitCodes.auth)
        }
        return APIClient(baseURL: server, key: key)
    }

    /// The team from `--team`, `$SLIPWAY_TEAM` or the profile.
    func team(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        if let team = ProcessInfo.processInfo.environment["SLIPWAY_TEAM"] { return team }
        if let team = (try? ProfileStore.load())?.profiles[profile]?.team { return team }
        throw CLIFailure(message: "no team: pass --team NAME (or set it with 'slipway login --team')", exitCode: 64)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// Saved logins: `$SLIPWAY_CONFIG` or `~/.slipway/config.json`, always mode 0600.
struct ProfileStore: Codable {
    struct Profile: Codable {
        var server: String
        var key: String
        var team: String?
    }

    var profiles: [String: Profile] = [:]

    static var path: String {
        if let path = ProcessInfo.processInfo.environment["SLIPWAY_CONFIG"] { return path }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.slipway/config.json"
    }

    static func load(from path: String = ProfileStore.path) throws -> ProfileStore {
        guard let data = FileManager.default.contents(atPath: path) else { return ProfileStore() }
        return try JSONDecoder().decode(ProfileStore.self, from: data)
    }

    /// Writes the file with 0600 permissions from the start (never world-readable, not even briefly).
    func save(to path: String = ProfileStore.path) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temp = path + ".tmp"
        FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o600])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temp)
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temp, toPath: path)
    }
}
