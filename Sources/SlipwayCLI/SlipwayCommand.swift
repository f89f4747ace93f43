import ArgumentParser
import Foundation
import SlipwayCore

/// The `slipway` command: the server (`serve`) and a thin client of its HTTP API.
public struct SlipwayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "Slipway: take ML models from pilot to production.",
        discussion: """
            Exit codes: 0 success, 1 request refused (4xx), 2 authentication or permission, 3 not found,
            4 conflict, 5 server unreachable or failing, 6 audit chain broken, 64 bad usage.
            """,
        subcommands: [
            Serve.self, Login.self, WhoAmI.self, Teams.self, Members.self, Users.self, ServiceAccounts.self,
            Keys.self, Models.self, Versions.self, Aliases.self, Deploy.self, Deployments.self, Undeploy.self,
            Usage.self, Datasets.self, Contracts.self, Train.self, Jobs.self, Schedules.self, Audit.self, Predict.self,
        ]
    )

    public init() {}
}

/// Exit codes scripts can rely on.
enum ExitCodes {
    static let refused: Int32 = 1
    static let auth: Int32 = 2
    static let notFound: Int32 = 3
    static let conflict: Int32 = 4
    static let server: Int32 = 5
    static let auditBroken: Int32 = 6
}

/// An error already explained to the user; carries the exit code.
struct CLIFailure: Error, CustomStringConvertible {
    let message: String
    let exitCode: Int32
    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, printing failures as the server's message and exiting with the matching code.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CLIFailure {
            FileHandle.standardError.write(Data("error: \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode)
        } catch let exit as ExitCode {
            throw exit
        } catch let error as SlipwayError {
            FileHandle.standardError.write(Data("error: \(error.message) (\(error.code))\n".utf8))
            throw ExitCode(error.kind == .notFound ? ExitCodes.notFound : ExitCodes.refused)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(ExitCodes.refused)
        }
    }
}
