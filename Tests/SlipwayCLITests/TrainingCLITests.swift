import ArgumentParser
import Foundation
import SlipwayCore
import SlipwayServer
import Testing

@testable import SlipwayCLI

@Suite("CLI data and training")
struct TrainingCLITests {
    @Test("commands parse; bad values are refused before any request")
    func parsing() throws {
        let push = try #require(
            try SlipwayCommand.parseAsRoot(["datasets", "push", "customers", "data.jsonl", "--create", "-t", "crm"])
                as? Datasets.Push)
        #expect(push.create && push.team == "crm" && DataFormat.of(push.file, declared: push.format) == .jsonl)
        #expect(DataFormat.of("x.CSV", declared: nil) == .csv)
        #expect(DataFormat.of("x.txt", declared: .jsonl) == .jsonl)
        let train = try #require(try SlipwayCommand.parseAsRoot(["train", "spec.yaml", "--follow"]) as? Train)
        #expect(train.follow && train.spec == "spec.yaml")
        #expect(throws: (any Error).self) { try SlipwayCommand.parseAsRoot(["schedules", "set", "n", "--spec", "s.yaml"]) }
        #expect(throws: (any Error).self) { try SlipwayCommand.parseAsRoot(["datasets", "push", "d", "f", "--format", "xls"]) }
        #expect(try SlipwayCommand.parseAsRoot(["jobs", "logs", "job_1", "--follow"]) is Jobs.Logs)
        #expect(try SlipwayCommand.parseAsRoot(["contracts", "set", "d", "c.yaml"]) is Contracts.Set)
    }

    @Test("validation report lines name failed rules with their rows")
    func reportText() {
        let report: [String: Any] = [
            "status": "invalid",
            "rules": [
                ["rule": "age: range", "passed": false, "severity": "error", "failures": 2, "expectation": "between 0 and 120",
                 "examples": [["row": 3, "value": "200"], ["row": 9, "value": "-1"]]],
                ["rule": "id: unique", "passed": true, "severity": "error", "failures": 0, "expectation": "no repeated values",
                 "examples": []],
            ],
        ]
        #expect(
            ValidationText.lines(report) == [
                "contract rules: 1 passed, 1 failed",
                "  FAILED  age: range: 2 failing, expected between 0 and 120 (row 3: 200; row 9: -1)",
            ])
    }

    @Test("push with a contract, a refused invalid version, train --follow, jobs and schedules through the CLI")
    func trainingThroughCLI() async throws {
        try await LiveServer.with(configure: {
            $0.jobPollInterval = .milliseconds(50)
            $0.jobHeartbeat = .milliseconds(50)
        }) { live in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-cli-data-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            func write(_ name: String, _ text: String) throws -> String {
                let path = directory.appendingPathComponent(name).path
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            let contract = try write("contract.yaml", "columns:\n  - {name: x, type: number, min: 0}\n  - {name: y, allowed: [\"0\", \"1\"]}\n")
            var good = "x,z,y\n"
            for index in 0..<80 { good += "\(Double(index % 40) / 10),\(index % 7),\(index % 40 >= 20 ? 1 : 0)\n" }
            let goodFile = try write("good.csv", good)
            let badFile = try write("bad.csv", "x,z,y\n-1,1,0\n2,1,1\n")
            let spec = try write(
                "spec.yaml", "model: churn\ndataset: customers\nlabel: y\ntask: binary\nalgorithm: logistic_regression\n")
            let server = ["--server", live.url, "--key", live.adminKey]
            func run(_ arguments: [String], team: Bool = true) async throws {
                try await LiveServer.run(arguments + server + ["--output", "json"] + (team ? ["--team", "ml"] : []))
            }
            try await run(["teams", "create", "ml"], team: false)
            try await run(["members", "set", "admin", "--role", "admin"])

            try await run(["datasets", "push", "customers", goodFile, "--create", "--contract", contract])
            await #expect(throws: ExitCode(ExitCodes.refused)) {
                try await run(["datasets", "validate", "customers", badFile])
            }
            await #expect(throws: ExitCode(ExitCodes.refused)) { try await run(["datasets", "push", "customers", badFile]) }
            // The newest version is the invalid one: training refuses it with the rule and row.
            await #expect(throws: ExitCode(ExitCodes.refused)) { try await run(["train", spec]) }
            try await run(["datasets", "push", "customers", goodFile])
            try await run(["train", spec, "--follow"])

            let platform = live.platform
            let team = try #require(try await platform.identity.team(named: "ml"))
            let version = try #require(try await platform.registry.version(team: team.id, model: "churn", version: 1))
            #expect(version.lineage.datasetVersion == "customers@3")
            #expect((version.metrics["accuracy"] ?? 0) > 0.8)
            let jobs = try await platform.jobs.jobs(team: team.id, status: nil, limit: 10)
            #expect(jobs.map(\.status) == [.succeeded])
            try await run(["jobs", "list"])
            try await run(["jobs", "logs", jobs[0].id.rawValue])
            try await run(["datasets", "show", "customers", "--version", "1"])
            try await run(["datasets", "rows", "customers", "--limit", "2"])
            try await run(["contracts", "show", "customers"])
            try await run(["schedules", "set", "nightly", "--spec", spec, "--cron", "@daily", "--on-new-version"])
            let schedules = try await platform.jobs.schedules(team: team.id)
            #expect(schedules.map(\.name) == ["nightly"] && schedules[0].cron == "@daily" && schedules[0].onNewVersion)
            try await run(["schedules", "delete", "nightly"])
            #expect(try await platform.jobs.schedules(team: team.id).isEmpty)
        }
    }
}
