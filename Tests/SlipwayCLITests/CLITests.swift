import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SlipwayCore
import SlipwayServer
import SlipwayStore
import Testing

@testable import SlipwayCLI

@Suite("CLI")
struct CLITests {
    @Test("login profiles are written with mode 0600 and read back")
    func profileFilePermissions() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "slipway-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config.json").path
        var store = ProfileStore()
        store.profiles["default"] = .init(server: "http://127.0.0.1:8080", key: "slw_secret", team: "fraud")
        try store.save(to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try ProfileStore.load(from: path).profiles["default"]?.team == "fraud")
        // Saving again keeps the mode.
        try store.save(to: path)
        #expect(
            ((try FileManager.default.attributesOfItem(atPath: path))[.posixPermissions] as? NSNumber)?.intValue
                == 0o600)
    }

    @Test("server errors map to stable exit codes and carry the server's message")
    func exitCodes() {
        let body = Data(#"{"error":{"code":"model_not_found","message":"model 'x' not found in this team"}}"#.utf8)
        let failure = APIClient.failure(status: 404, body: body)
        #expect(failure.exitCode == ExitCodes.notFound)
        #expect(failure.message.contains("model 'x' not found"))
        #expect(APIClient.failure(status: 401, body: Data()).exitCode == ExitCodes.auth)
        #expect(APIClient.failure(status: 409, body: Data()).exitCode == ExitCodes.conflict)
        #expect(APIClient.failure(status: 422, body: Data()).exitCode == ExitCodes.refused)
        #expect(APIClient.failure(status: 503, body: Data()).exitCode == ExitCodes.server)
    }

    @Test("KEY=VALUE options parse, and malformed ones are refused")
    func keyValueParsing() throws {
        #expect(try keyValues(["a=1", "b=x=y"], what: "tag") == ["a": "1", "b": "x=y"])
        #expect(throws: CLIFailure.self) { try keyValues(["novalue"], what: "tag") }
    }

    @Test("every command's options parse: no clashing names, --help works everywhere")
    func commandTreeIsValid() {
        func walk(_ command: any ParsableCommand.Type, path: [String]) -> [[String]] {
            [path] + command.configuration.subcommands.flatMap { walk($0, path: path + [$0._commandName]) }
        }
        let paths = walk(SlipwayCommand.self, path: [])
        #expect(paths.count > 30)
        for path in paths {
            do {
                let parsed = try SlipwayCommand.parseAsRoot(path + ["--help"])
                #expect("\(type(of: parsed))".contains("Help"), "\(path) --help parsed as \(type(of: parsed))")
            } catch {
                #expect(
                    SlipwayCommand.exitCode(for: error) == .success, "\(path): \(SlipwayCommand.message(for: error))")
            }
        }
        let download = try? SlipwayCommand.parseAsRoot([
            "versions", "download", "m", "1", "-o", "out.bin", "--output", "json",
        ])
        #expect(download != nil)
    }

    @Test("audit verify on a missing SQLite file fails clearly and creates nothing")
    func auditVerifyMissingDatabase() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("missing-\(UUID().uuidString).sqlite")
            .path
        var command = try SlipwayCommand.parseAsRoot(["audit", "verify", "--database", path])
        guard var verify = command as? any AsyncParsableCommand else {
            Issue.record("not async")
            return
        }
        await #expect(throws: ExitCode(ExitCodes.notFound)) { try await verify.run() }
        #expect(!FileManager.default.fileExists(atPath: path))
        _ = command
    }

    @Test("local prediction input: CSV with header and missing cells, OIP v2 nested data, shape errors")
    func rowsInput() throws {
        let csv = try RowsInput.csv(Data("a,b\n1,2\n,NaN\n3, 4\n".utf8))
        #expect(csv.count == 3)
        #expect(csv.values[0] == 1 && csv.values[5] == 4)
        #expect(csv.values[2].isNaN && csv.values[3].isNaN)
        #expect(throws: CLIFailure.self) { try RowsInput.csv(Data("1,2\n3\n".utf8)) }
        #expect(throws: CLIFailure.self) { try RowsInput.csv(Data("1,2\nx,4\n".utf8)) }

        let request = #"{"inputs":[{"name":"input","shape":[2,2],"datatype":"FP32","data":[[1,null],[3,4]]}]}"#
        let oip = try RowsInput.oipRequest(Data(request.utf8))
        #expect(oip.count == 2)
        #expect(oip.values[1].isNaN && oip.values[3] == 4)
        let wrongShape = #"{"inputs":[{"name":"input","shape":[3,2],"datatype":"FP32","data":[1,2]}]}"#
        #expect(throws: CLIFailure.self) { try RowsInput.oipRequest(Data(wrongShape.utf8)) }
    }

    @Test("tables align columns")
    func tables() {
        let text = Output.table(["NAME", "V"], [["a", "1"], ["longer", "22"]])
        #expect(text == "NAME    V\na       1\nlonger  22")
    }

    @Test("the quickstart runs end to end through the CLI against a live server")
    func quickstartThroughCLI() async throws {
        try await LiveServer.with { live in
            let platform = live.platform
            let modelFile = LiveServer.quickstartModel
            let server = ["--server", live.url, "--key", live.adminKey, "--output", "json"]
            func run(_ arguments: [String]) async throws { try await LiveServer.run(arguments) }
            try await run(["teams", "create", "fraud"] + server)
            try await run(
                ["models", "create", "fraud-detector", "--team", "fraud", "--tag", "owner=alice"] + server)
            try await run(
                [
                    "versions", "create", "fraud-detector", "--team", "fraud", "--file", modelFile, "--metric",
                    "auc=0.93",
                    "--dataset-version", "transactions@3",
                ] + server)
            try await run(["aliases", "set", "fraud-detector", "champion", "1", "--team", "fraud"] + server)

            let team = try #require(try await platform.identity.team(named: "fraud"))
            let model = try #require(try await platform.registry.model(team: team.id, name: "fraud-detector"))
            #expect(model.aliases == ["champion": 1])
            #expect(model.tags == ["owner": "alice"])
            let version = try #require(
                try await platform.registry.version(team: team.id, model: "fraud-detector", version: 1))
            #expect(version.format == .xgboostJSON)
            #expect(version.metrics == ["auc": 0.93])
            #expect(version.lineage.datasetVersion == "transactions@3")

            await #expect(throws: (any Error).self) {
                try await run(["models", "show", "missing", "--team", "fraud"] + server)
            }
        }
    }
}
