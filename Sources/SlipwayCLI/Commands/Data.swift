import ArgumentParser
import AsyncHTTPClient
import Foundation
import SlipwayCore

/// `/api/v1/teams/{team}/datasets[/{dataset}]`.
private func datasetPath(_ options: ClientOptions, _ team: String?, _ dataset: String? = nil) throws -> String {
    let base = "/api/v1/teams/\(try options.team(team).pathSegment)/datasets"
    return dataset.map { base + "/\($0.pathSegment)" } ?? base
}

/// Reads a whole (small) text file, such as a contract or a spec.
func readTextFile(_ path: String, what: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIFailure(message: "cannot read \(what) file '\(path)'", exitCode: 64)
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw CLIFailure(message: "\(what) file '\(path)' is not UTF-8 text", exitCode: 64)
    }
    return text
}

/// A data file's format: the flag, else the extension (`.jsonl`, `.ndjson`), else CSV.
enum DataFormat: String, ExpressibleByArgument, CaseIterable {
    case csv, jsonl

    static func of(_ path: String, declared: DataFormat?) -> DataFormat {
        if let declared { return declared }
        let lower = path.lowercased()
        return lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") ? .jsonl : .csv
    }
}

/// Prints a validation report: one line per failed rule with its example rows.
enum ValidationText {
    static func lines(_ report: [String: Any]?) -> [String] {
        guard let rules = report?["rules"] as? [[String: Any]] else { return [] }
        let failed = rules.filter { $0["passed"] as? Bool == false }
        let passed = rules.count - failed.count
        var lines = ["contract rules: \(passed) passed, \(failed.count) failed"]
        for rule in failed {
            let examples = (rule["examples"] as? [[String: Any]] ?? []).map { example -> String in
                let row = (example["row"] as? NSNumber)?.intValue ?? 0
                let value = example["value"].map { Output.cell($0) } ?? "null"
                return row > 0 ? "row \(row): \(value)" : value
            }
            lines.append(
                "  \(rule["severity"] as? String == "warning" ? "warning" : "FAILED ") \(Output.cell(rule["rule"])): "
                    + "\(Output.cell(rule["failures"])) failing, expected \(Output.cell(rule["expectation"]))"
                    + (examples.isEmpty ? "" : " (" + examples.joined(separator: "; ") + ")"))
        }
        return lines
    }
}

/// Creates the dataset unless it exists (`--create`).
private func createDataset(_ client: APIClient, _ options: ClientOptions, _ team: String?, _ name: String) async throws {
    struct Body: Encodable, Sendable { let name: String }
    do {
        _ = try await client.send(.POST, try datasetPath(options, team), json: Body(name: name))
    } catch let failure as CLIFailure where failure.exitCode == ExitCodes.conflict {}
}

/// Prints a new version (or its JSON) and fails with exit 1 when it breaks its contract.
private func reportNewVersion(_ data: Data, name: String, origin: String, output: OutputFormat) throws {
    let object = Output.object(data)
    if output == .json {
        Output.print(json: data)
    } else {
        print(
            "\(name) version \(Output.cell(object["version"]))\(origin): \(Output.cell(object["row_count"])) rows, "
                + "status \(Output.cell(object["status"])) (contract version \(Output.cell(object["contract_version"])))")
        for line in ValidationText.lines(object["validation"] as? [String: Any]) { print(line) }
    }
    if object["status"] as? String == "invalid" {
        throw CLIFailure(
            message: "the version breaks its contract: it is stored but cannot be used for training",
            exitCode: ExitCodes.refused)
    }
}

/// Streams a data file to `path` with a progress bar.
private func uploadData(_ client: APIClient, _ path: String, file: String) async throws -> Data {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
        let size = (attributes[.size] as? NSNumber)?.int64Value
    else { throw CLIFailure(message: "cannot read '\(file)'", exitCode: 64) }
    let progress = ProgressBar(total: size, label: "uploading")
    defer { progress.finish() }
    return try await client.send(
        .POST, path, body: .stream(FileChunks(path: file, chunkSize: 256 * 1024, progress: progress), length: .known(size)))
}

struct Datasets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Versioned datasets: push, validate, profile, grant.",
        subcommands: [
            Create.self, Push.self, Pull.self, Sources.self, Validate.self, List.self, Show.self, Versions.self, Rows.self, Grant.self,
            Revoke.self, Grants.self, Shared.self,
        ])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a dataset (optionally with its contract).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Option(help: "Description.") var description: String = ""
        @Option(help: "Contract YAML file to add as version 1.") var contract: String?

        func run() async throws {
            try await reporting {
                let client = try options.client()
                struct Body: Encodable, Sendable {
                    let name: String
                    let description: String
                }
                let data = try await client.send(
                    .POST, try datasetPath(options, team), json: Body(name: name, description: description))
                if let contract {
                    _ = try await setContract(client, options, team, name, file: contract)
                }
                if options.output == .json { return Output.print(json: data) }
                print("Created dataset \(name)" + (contract == nil ? "" : " with contract version 1"))
            }
        }
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload a CSV or JSON Lines file as the dataset's next version (validated and profiled).",
            discussion: """
                The file is streamed, stored by content digest, profiled and checked against the newest contract. \
                A version that breaks the contract is kept (for the record) but marked invalid and refused for \
                training; the command then exits 1.
                """)
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Argument(help: "Data file (CSV with a header row, or JSON Lines).") var file: String
        @Option(help: "File format (default: from the extension, else csv).") var format: DataFormat?
        @Flag(help: "Create the dataset if it does not exist.") var create = false
        @Option(help: "Contract YAML file to add as a new contract version first.") var contract: String?

        func run() async throws {
            try await reporting {
                let client = try options.client()
                if create { try await createDataset(client, options, team, name) }
                if let contract { _ = try await setContract(client, options, team, name, file: contract) }
                let chosen = DataFormat.of(file, declared: format)
                let data = try await uploadData(
                    client, try datasetPath(options, team, name) + "/versions?format=\(chosen.rawValue)", file: file)
                try reportNewVersion(data, name: name, origin: "", output: options.output)
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Snapshot a read-only SQL query on a server-configured data source as the next version.",
            discussion: """
                The server runs the query in a read-only transaction on a database its operator configured \
                (slipway serve --data-source), stores the result as JSON Lines, then validates and profiles it \
                like an upload. Credentials never leave the server. Exits 1 when the version breaks its contract.
                """)
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Option(help: "Data source name (see 'slipway datasets sources').") var source: String
        @Option(help: "SQL query (one SELECT statement).") var query: String
        @Flag(help: "Create the dataset if it does not exist.") var create = false

        func run() async throws {
            try await reporting {
                let client = try options.client()
                if create { try await createDataset(client, options, team, name) }
                struct Body: Encodable, Sendable {
                    let source: String
                    let query: String
                }
                let data = try await client.send(
                    .POST, try datasetPath(options, team, name) + "/snapshots", json: Body(source: source, query: query))
                try reportNewVersion(data, name: name, origin: " from \(source)", output: options.output)
            }
        }
    }

    struct Sources: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Data sources the team may pull from.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .GET, "/api/v1/teams/\(try options.team(team).pathSegment)/data-sources")
                Output.render(data, options.output, columns: [("NAME", "name"), ("KIND", "kind")])
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a file against the dataset's newest contract without storing it (exits 1 if invalid).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Argument(help: "Data file.") var file: String
        @Option(help: "File format (default: from the extension, else csv).") var format: DataFormat?

        func run() async throws {
            try await reporting {
                let client = try options.client()
                let chosen = DataFormat.of(file, declared: format)
                let data = try await uploadData(
                    client, try datasetPath(options, team, name) + "/validate?format=\(chosen.rawValue)", file: file)
                let object = Output.object(data)
                let report = object["validation"] as? [String: Any]
                if options.output == .json {
                    Output.print(json: data)
                } else if report == nil {
                    print("\(Output.cell(object["row_count"])) rows; the dataset has no contract, nothing to check")
                } else {
                    print("\(Output.cell(object["row_count"])) rows, status \(Output.cell(report?["status"]))")
                    for line in ValidationText.lines(report) { print(line) }
                }
                if report?["status"] as? String == "invalid" {
                    throw CLIFailure(message: "the file breaks the contract", exitCode: ExitCodes.refused)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The team's datasets, with staleness.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, try datasetPath(options, team))
                Output.render(
                    data, options.output,
                    columns: [
                        ("NAME", "name"), ("VERSION", "latest_version"), ("CONTRACT", "contract_version"),
                        ("FRESHNESS", "freshness"), ("STALE", "stale"), ("LAST VERSION", "last_version_at"),
                    ])
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A dataset version's profile and validation report.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Option(help: "Version number or latest.") var version: String = "latest"

        func run() async throws {
            try await reporting {
                let client = try options.client()
                let dataset = Output.object(try await client.send(.GET, try datasetPath(options, team, name)))
                let data = try await client.send(
                    .GET, try datasetPath(options, team, name) + "/versions/\(version.pathSegment)")
                if options.output == .json { return Output.print(json: data) }
                let object = Output.object(data)
                print(
                    "\(name) version \(Output.cell(object["version"])) of \(Output.cell(dataset["latest_version"])): "
                        + "\(Output.cell(object["row_count"])) rows, \(Output.cell(object["format"])), status "
                        + "\(Output.cell(object["status"])), \(Output.cell(object["digest"]))")
                if dataset["stale"] as? Bool == true {
                    print("STALE: no new version within the contract's freshness (\(Output.cell(dataset["freshness"])))")
                }
                let columns = (object["profile"] as? [String: Any])?["columns"] as? [[String: Any]] ?? []
                func number(_ value: Any?) -> String {
                    (value as? NSNumber).map { String(format: "%.4g", $0.doubleValue) } ?? "-"
                }
                let rows = columns.map { column -> [String] in
                    let quantiles = column["quantiles"] as? [String: Any]
                    let top = (column["top_values"] as? [[String: Any]] ?? []).prefix(3)
                        .map { "\(Output.cell($0["value"]))(\(Output.cell($0["count"])))" }.joined(separator: " ")
                    return [
                        Output.cell(column["name"]) + (column["pii"] as? Bool == true ? " (pii)" : ""),
                        Output.cell(column["type"]), Output.cell(column["nulls"]),
                        (column["distinct_is_approximate"] as? Bool == true ? "~" : "") + Output.cell(column["distinct"]),
                        number(column["mean"]), number(column["min"]), number(quantiles?["p50"]), number(column["max"]),
                        top,
                    ]
                }
                print(
                    Output.table(
                        ["COLUMN", "TYPE", "NULLS", "DISTINCT", "MEAN", "MIN", "MEDIAN", "MAX", "TOP VALUES"], rows))
                for line in ValidationText.lines(object["validation"] as? [String: Any]) { print(line) }
            }
        }
    }

    struct Versions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A dataset's versions.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team (the reader).") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Option(help: "The team that owns the dataset, when it was granted to yours.") var owner: String?

        func run() async throws {
            try await reporting {
                let path = try owner.map {
                    "/api/v1/teams/\(try options.team(team).pathSegment)/shared-datasets/\($0.pathSegment)/\(name.pathSegment)"
                } ?? datasetPath(options, team, name)
                let data = try await options.client().send(.GET, path + "/versions")
                Output.render(
                    data, options.output,
                    columns: [
                        ("VERSION", "version"), ("ROWS", "row_count"), ("STATUS", "status"),
                        ("CONTRACT", "contract_version"), ("SOURCE", "source"), ("CREATED", "created_at"),
                        ("DIGEST", "digest"),
                    ])
            }
        }
    }

    struct Rows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read rows of a version (PII masked without a pii grant); every read is audited.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team (the reader).") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Option(help: "Version number or latest.") var version: String = "latest"
        @Option(help: "Rows to skip.") var offset: Int = 0
        @Option(help: "Rows to read, 1-1000.") var limit: Int = 20
        @Option(help: "The team that owns the dataset, when it was granted to yours.") var owner: String?

        func run() async throws {
            try await reporting {
                let team = try options.team(self.team)
                let base =
                    owner.map { "/api/v1/teams/\(team.pathSegment)/shared-datasets/\($0.pathSegment)/\(name.pathSegment)" }
                    ?? "/api/v1/teams/\(team.pathSegment)/datasets/\(name.pathSegment)"
                let data = try await options.client().send(
                    .GET, base + "/versions/\(version.pathSegment)/rows?offset=\(offset)&limit=\(limit)")
                if options.output == .json { return Output.print(json: data) }
                let object = Output.object(data)
                let columns = object["columns"] as? [String] ?? []
                let rows = (object["rows"] as? [[Any]] ?? []).map { $0.map { Output.cell($0) } }
                print(Output.table(columns, rows))
                if let masked = object["masked"] as? [String], !masked.isEmpty {
                    print("masked (PII): " + masked.joined(separator: ", "))
                }
            }
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let another team read a dataset (team admins). PII stays masked unless --pii.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team (the owner).") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Argument(help: "The team to grant.") var grantee: String
        @Flag(help: "Include columns the contract tags as PII, unmasked.") var pii = false

        func run() async throws {
            try await reporting {
                struct Body: Encodable, Sendable { let pii: Bool }
                let data = try await options.client().send(
                    .PUT, try datasetPath(options, team, name) + "/grants/\(grantee.pathSegment)", json: Body(pii: pii))
                if options.output == .json { return Output.print(json: data) }
                print("Granted \(grantee) read access to \(name)" + (pii ? " including PII" : " (PII masked)"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove another team's read access.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team (the owner).") var team: String?
        @Argument(help: "Dataset name.") var name: String
        @Argument(help: "The team to revoke.") var grantee: String

        func run() async throws {
            try await reporting {
                _ = try await options.client().send(
                    .DELETE, try datasetPath(options, team, name) + "/grants/\(grantee.pathSegment)")
                if options.output == .table { print("Revoked \(grantee)'s access to \(name)") }
            }
        }
    }

    struct Grants: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Teams that may read a dataset.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team (the owner).") var team: String?
        @Argument(help: "Dataset name.") var name: String

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, try datasetPath(options, team, name) + "/grants")
                Output.render(
                    data, options.output,
                    columns: [("TEAM", "grantee"), ("PII", "pii"), ("BY", "granted_by"), ("AT", "granted_at")])
            }
        }
    }

    struct Shared: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Datasets other teams granted to this team.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?

        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .GET, "/api/v1/teams/\(try options.team(team).pathSegment)/shared-datasets")
                Output.render(
                    data, options.output,
                    columns: [("OWNER", "team"), ("NAME", "name"), ("VERSION", "latest_version"), ("STALE", "stale")])
            }
        }
    }
}

/// Adds a contract version from a YAML file.
private func setContract(
    _ client: APIClient, _ options: ClientOptions, _ team: String?, _ dataset: String, file: String
) async throws -> Data {
    let text = try readTextFile(file, what: "contract")
    return try await client.send(
        .PUT, try datasetPath(options, team, dataset) + "/contract", body: .bytes(.init(string: text)))
}

struct Contracts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Data contracts: the rules every new dataset version is checked against.",
        subcommands: [Set.self, Show.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a new contract version from a YAML file.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var dataset: String
        @Argument(help: "Contract YAML (or JSON) file.") var file: String

        func run() async throws {
            try await reporting {
                let data = try await setContract(try options.client(), options, team, dataset, file: file)
                if options.output == .json { return Output.print(json: data) }
                print("\(dataset) contract version \(Output.cell(Output.object(data)["version"]))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A contract version as it was written.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Dataset name.") var dataset: String
        @Option(help: "Contract version (default: the newest).") var version: Int?

        func run() async throws {
            try await reporting {
                let query = version.map { "?version=\($0)" } ?? ""
                let data = try await options.client().send(.GET, try datasetPath(options, team, dataset) + "/contract" + query)
                if options.output == .json { return Output.print(json: data) }
                let object = Output.object(data)
                print("# \(dataset) contract version \(Output.cell(object["version"])) by \(Output.cell(object["created_by"]))")
                print(object["document"] as? String ?? "")
            }
        }
    }
}
