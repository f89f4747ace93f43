import ArgumentParser
import Foundation
import SlipwayCore

/// `/api/v1/teams/{team}/jobs[/{id}]`.
private func jobsPath(_ options: ClientOptions, _ team: String?, _ id: String? = nil) throws -> String {
    let base = "/api/v1/teams/\(try options.team(team).pathSegment)/jobs"
    return id.map { base + "/\($0.pathSegment)" } ?? base
}

/// Polls a job's log until it ends, printing new lines and a progress bar; returns the final status.
func followJob(_ client: APIClient, path: String, quiet: Bool) async throws -> String {
    var after = 0
    var drawn = false
    let interactive = isatty(STDERR_FILENO) == 1
    while true {
        let data = try await client.send(.GET, path + "/logs?after=\(after)")
        let object = Output.object(data)
        let lines = object["lines"] as? [[String: Any]] ?? []
        if drawn, !lines.isEmpty, interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        for line in lines {
            after = max(after, (line["sequence"] as? NSNumber)?.intValue ?? after)
            if !quiet { print(Output.cell(line["message"])) }
        }
        let status = object["status"] as? String ?? "unknown"
        if ["succeeded", "failed", "cancelled"].contains(status) {
            if drawn, interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            return status
        }
        if interactive, let progress = object["progress"] as? [String: Any] {
            let percent = (progress["percent"] as? NSNumber)?.doubleValue ?? 0
            let filled = Int(percent * 30 / 100)
            let eta = (progress["eta_seconds"] as? NSNumber).map { String(format: " ETA %.0fs", $0.doubleValue) } ?? ""
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled)
            FileHandle.standardError.write(
                Data("\r\(status) [\(bar)] \(String(format: "%.0f", percent))%\(eta)".utf8))
            drawn = true
        }
        try await Task.sleep(for: .milliseconds(500))
    }
}

/// `slipway train SPEC`.
struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a training job from a YAML (or JSON) spec; the result is a registered model version.",
        discussion: """
            The spec names the dataset, label, features, task, algorithm and hyperparameters (see docs/training.md). \
            The dataset version is pinned when the job is queued; a version that breaks its contract is refused \
            with the failed rules and rows. With --follow the command shows progress and the job's log until it \
            ends, and exits 1 if it fails or is cancelled.
            """)
    @OptionGroup var options: ClientOptions
    @Option(name: .shortAndLong, help: "Team.") var team: String?
    @Argument(help: "Training spec file (YAML or JSON).") var spec: String
    @Flag(help: "Wait for the job, showing progress and log lines.") var follow = false

    func run() async throws {
        try await reporting {
            let client = try options.client()
            let text = try readTextFile(spec, what: "spec")
            let data = try await client.send(.POST, try jobsPath(options, team), body: .bytes(.init(string: text)))
            let object = Output.object(data)
            let id = Output.cell(object["id"])
            if !follow {
                if options.output == .json { return Output.print(json: data) }
                let pinned = (object["spec"] as? [String: Any])?["dataset_version"]
                print("Queued job \(id) (\(Output.cell((object["spec"] as? [String: Any])?["dataset"]))@\(Output.cell(pinned)))")
                return
            }
            if options.output == .table { print("Queued job \(id)") }
            let status = try await followJob(client, path: try jobsPath(options, team, id), quiet: options.output == .json)
            let final = try await client.send(.GET, try jobsPath(options, team, id))
            if options.output == .json { Output.print(json: final) }
            let job = Output.object(final)
            if status != "succeeded" {
                throw CLIFailure(
                    message: "job \(id) \(status)" + ((job["error"] as? String).map { ": \($0)" } ?? ""),
                    exitCode: ExitCodes.refused)
            }
            if options.output == .table, let result = job["result"] as? [String: Any] {
                print("Registered \(Output.cell(result["model"])) version \(Output.cell(result["version"]))")
                let metrics = (result["metrics"] as? [String: Any] ?? [:]).filter { !$0.key.hasPrefix("fairness.") }
                let shown = metrics.keys.sorted().map { key in
                    "\(key)=\((metrics[key] as? NSNumber).map { String(format: "%.4g", $0.doubleValue) } ?? "-")"
                }
                print("validation: " + shown.joined(separator: " "))
            }
        }
    }
}

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Training jobs: list, show, logs, cancel.", subcommands: [List.self, Show.self, Logs.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The team's jobs, newest first.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Option(help: "Only jobs in this status: queued, running, succeeded, failed, cancelled.") var status: String?
        @Option(help: "At most this many, 1-200.") var limit: Int = 50

        func run() async throws {
            try await reporting {
                var query = "?limit=\(limit)"
                if let status { query += "&status=\(status.pathSegment)" }
                let data = try await options.client().send(.GET, try jobsPath(options, team) + query)
                if options.output == .json { return Output.print(json: data) }
                let rows = Output.items(data).map { job -> [String] in
                    let spec = job["spec"] as? [String: Any] ?? [:]
                    let progress = job["progress"] as? [String: Any] ?? [:]
                    let result = (job["result"] as? [String: Any]).map { "\(Output.cell($0["model"]))/\(Output.cell($0["version"]))" }
                    return [
                        Output.cell(job["id"]), Output.cell(job["status"]),
                        String(format: "%.0f%%", (progress["percent"] as? NSNumber)?.doubleValue ?? 0),
                        Output.cell(spec["model"]), Output.cell(spec["algorithm"]),
                        "\(Output.cell(spec["dataset"]))@\(Output.cell(spec["dataset_version"]))", result ?? "-",
                        Output.cell(job["created_at"]),
                    ]
                }
                print(Output.table(["ID", "STATUS", "PROGRESS", "MODEL", "ALGORITHM", "DATA", "RESULT", "CREATED"], rows))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One job: status, progress, result or error.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Job ID.") var id: String

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, try jobsPath(options, team, id))
                if options.output == .json { return Output.print(json: data) }
                let job = Output.object(data)
                let progress = job["progress"] as? [String: Any] ?? [:]
                print("job \(Output.cell(job["id"])): \(Output.cell(job["status"])), attempt \(Output.cell(job["attempts"])) of \(Output.cell(job["max_attempts"]))")
                print("progress: \(Output.cell(progress["iteration"]))/\(Output.cell(progress["max_iterations"])) (\(String(format: "%.0f%%", (progress["percent"] as? NSNumber)?.doubleValue ?? 0)))")
                if let result = job["result"] as? [String: Any] {
                    print("result: \(Output.cell(result["model"])) version \(Output.cell(result["version"]))")
                }
                if let error = job["error"] as? String { print("error: \(error)") }
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A job's log lines (--follow until it ends).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Job ID.") var id: String
        @Flag(help: "Keep printing new lines until the job ends.") var follow = false

        func run() async throws {
            try await reporting {
                let client = try options.client()
                let path = try jobsPath(options, team, id)
                if follow {
                    let status = try await followJob(client, path: path, quiet: false)
                    print("job \(status)")
                    if status != "succeeded" { throw CLIFailure(message: "job \(id) \(status)", exitCode: ExitCodes.refused) }
                    return
                }
                let data = try await client.send(.GET, path + "/logs")
                if options.output == .json { return Output.print(json: data) }
                for line in Output.object(data)["lines"] as? [[String: Any]] ?? [] {
                    print("\(Output.cell(line["at"]))  \(Output.cell(line["message"]))")
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a job: a queued one at once, a running one at its next iteration.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Job ID.") var id: String

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.POST, try jobsPath(options, team, id) + "/cancel")
                if options.output == .json { return Output.print(json: data) }
                let job = Output.object(data)
                print(job["status"] as? String == "cancelled" ? "Cancelled \(id)" : "Cancel requested for \(id) (running)")
            }
        }
    }
}

struct Schedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Retraining on a cron schedule (UTC) or whenever the dataset gets a new version.",
        subcommands: [Set.self, List.self, Delete.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or replace a schedule.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Schedule name.") var name: String
        @Option(help: "Training spec file (its dataset_version is ignored: runs use the newest usable version).")
        var spec: String
        @Option(help: "Five-field cron expression in UTC, e.g. '0 3 * * *', or @hourly/@daily/@weekly/@monthly.")
        var cron: String?
        @Flag(help: "Also retrain whenever the dataset gets a new version that passes its contract.")
        var onNewVersion = false

        func validate() throws {
            guard cron != nil || onNewVersion else {
                throw ValidationError("give --cron, --on-new-version, or both")
            }
        }

        func run() async throws {
            try await reporting {
                let text = try readTextFile(spec, what: "spec")
                // The spec may be YAML or JSON; both nest as an indented block under `spec:`.
                let indented = text.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { "  " + $0 }.joined(separator: "\n")
                var document = "spec:\n\(indented)\n"
                if let cron { document += "cron: \"\(cron.replacingOccurrences(of: "\"", with: ""))\"\n" }
                document += "on_new_version: \(onNewVersion)\n"
                let reply = try await options.client().send(
                    .PUT, "/api/v1/teams/\(try options.team(team).pathSegment)/schedules/\(name.pathSegment)",
                    body: .bytes(.init(string: document)))
                if options.output == .json { return Output.print(json: reply) }
                let object = Output.object(reply)
                print("Schedule \(name): next run \(Output.cell(object["next_run_at"]))" + (onNewVersion ? ", and on every new dataset version" : ""))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The team's schedules.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .GET, "/api/v1/teams/\(try options.team(team).pathSegment)/schedules")
                Output.render(
                    data, options.output,
                    columns: [
                        ("NAME", "name"), ("CRON", "cron"), ("ON NEW VERSION", "on_new_version"),
                        ("NEXT RUN", "next_run_at"), ("LAST RUN", "last_run_at"),
                    ])
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a schedule.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Schedule name.") var name: String

        func run() async throws {
            try await reporting {
                _ = try await options.client().send(
                    .DELETE, "/api/v1/teams/\(try options.team(team).pathSegment)/schedules/\(name.pathSegment)")
                if options.output == .table { print("Deleted schedule \(name)") }
            }
        }
    }
}
