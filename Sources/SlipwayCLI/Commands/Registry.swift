import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SlipwayCore
import SlipwayRuntime

private func modelPath(_ options: ClientOptions, _ team: String?, _ model: String) throws -> String {
    "/api/v1/teams/\(try options.team(team).pathSegment)/models/\(model.pathSegment)"
}

/// Parses repeated `KEY=VALUE` options.
func keyValues(_ pairs: [String], what: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in pairs {
        let parts = pair.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { throw CLIFailure(message: "\(what) '\(pair)' must be KEY=VALUE", exitCode: 64) }
        result[String(parts[0])] = String(parts[1])
    }
    return result
}

/// `slipway models …`.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Registered models of a team.", subcommands: [List.self, Show.self, Create.self, Inspect.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Search a team's models.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Option(name: .shortAndLong, help: "Only names containing this.") var query: String?
        @Option(help: "Only models with this tag, KEY=VALUE.") var tag: String?
        @Option(help: "Page size (1-200).") var limit: Int = 50
        @Option(help: "Cursor from a previous page.") var cursor: String?
        func run() async throws {
            try await reporting {
                var items = [URLQueryItem(name: "limit", value: String(limit))]
                if let query { items.append(.init(name: "q", value: query)) }
                if let tag { items.append(.init(name: "tag", value: tag)) }
                if let cursor { items.append(.init(name: "cursor", value: cursor)) }
                var components = URLComponents()
                components.queryItems = items
                let path =
                    "/api/v1/teams/\(try options.team(team).pathSegment)/models\(components.percentEncodedQuery.map { "?\($0)" } ?? "")"
                let data = try await options.client().send(.GET, path)
                Output.render(
                    data, options.output,
                    columns: [
                        ("NAME", "name"), ("LATEST", "latest_version"), ("ALIASES", "aliases"), ("TAGS", "tags"),
                        ("UPDATED", "updated_at"),
                    ])
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a model with its aliases and tags.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(.GET, try modelPath(options, team, model))
                Output.details(
                    data, options.output,
                    keys: [
                        "name", "id", "team", "description", "latest_version", "aliases", "tags", "created_at",
                        "updated_at",
                    ])
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a model.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Option(help: "Description.") var description: String = ""
        @Option(help: "Tag KEY=VALUE (repeatable).") var tag: [String] = []
        func run() async throws {
            try await reporting {
                struct Body: Encodable, Sendable {
                    let name: String
                    let description: String
                    let tags: [String: String]
                }
                let body = Body(name: model, description: description, tags: try keyValues(tag, what: "tag"))
                let data = try await options.client().send(
                    .POST, "/api/v1/teams/\(try options.team(team).pathSegment)/models", json: body)
                Output.details(data, options.output, keys: ["name", "id", "team", "description", "tags"])
            }
        }
    }
}

/// `slipway versions …`.
struct Versions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Immutable, numbered model versions.",
        subcommands: [Create.self, List.self, Show.self, Download.self, AllowProduction.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload an artifact and register it as the model's next version.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Option(name: .shortAndLong, help: "Model file (ONNX, XGBoost JSON, LightGBM text, Slipway native).") var file:
            String
        @Option(help: "Declared format (checked against the content): onnx, xgboost_json, lightgbm_text, slipway.")
        var format: String?
        @Option(help: "Signature JSON file: {\"inputs\":[…],\"outputs\":[…]}.") var signature: String?
        @Option(help: "Metric NAME=NUMBER (repeatable).") var metric: [String] = []
        @Option(help: "Parameter KEY=VALUE (repeatable).") var param: [String] = []
        @Option(help: "Tag KEY=VALUE (repeatable).") var tag: [String] = []
        @Option(help: "Lineage: dataset version.") var datasetVersion: String?
        @Option(help: "Lineage: training job.") var trainingJob: String?
        @Option(help: "Lineage: source code reference.") var sourceCode: String?
        @Option(help: "Description.") var description: String = ""
        @Option(help: "Model card markdown file.") var modelCard: String?

        func run() async throws {
            try await reporting {
                let client = try options.client()
                let teamName = try options.team(team)
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                    let size = (attributes[.size] as? NSNumber)?.int64Value
                else { throw CLIFailure(message: "cannot read '\(file)'", exitCode: 64) }
                var metrics: [String: Double] = [:]
                for (name, text) in try keyValues(metric, what: "metric") {
                    guard let value = Double(text) else {
                        throw CLIFailure(message: "metric '\(name)' must be a number", exitCode: 64)
                    }
                    metrics[name] = value
                }
                let signatureValue = try signature.map { path -> ModelSignature in
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw CLIFailure(message: "cannot read signature file '\(path)'", exitCode: 64)
                    }
                    do { return try JSONDecoder().decode(ModelSignature.self, from: data) } catch {
                        throw CLIFailure(
                            message: "signature file '\(path)' is not a valid signature: \(error)", exitCode: 64)
                    }
                }
                let card = try modelCard.map { path -> String in
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw CLIFailure(message: "cannot read model card '\(path)'", exitCode: 64)
                    }
                    return String(decoding: data, as: UTF8.self)
                }
                let params = try keyValues(param, what: "parameter")
                let tags = try keyValues(tag, what: "tag")
                // The server runs the same check; doing it first saves uploading a file it would refuse.
                let head = FileHandle(forReadingAtPath: file).flatMap {
                    try? $0.read(upToCount: ModelFormatDetector.prefixLength)
                }
                do {
                    _ = try ModelFormatDetector.detect(
                        prefix: Array(head ?? Data()), declared: format.flatMap(ModelFormat.init(rawValue:)))
                } catch let error as SlipwayError {
                    throw CLIFailure(message: "\(file): \(error.message)", exitCode: ExitCodes.refused)
                }

                let progress = ProgressBar(total: size, label: "uploading")
                let chunks = FileChunks(path: file, chunkSize: 256 * 1024, progress: progress)
                let uploaded = try await client.send(
                    .POST, "/api/v1/teams/\(teamName.pathSegment)/artifacts",
                    body: .stream(chunks, length: .known(size)))
                progress.finish()
                guard let digest = Output.object(uploaded)["digest"] as? String else {
                    throw CLIFailure(
                        message: "the server did not return the artifact digest", exitCode: ExitCodes.server)
                }
                struct Lineage: Encodable, Sendable {
                    let dataset_version: String?
                    let training_job: String?
                    let source_code: String?
                }
                struct Body: Encodable, Sendable {
                    let artifact: String
                    let format: String?
                    let signature: ModelSignature?
                    let parameters: [String: String]
                    let metrics: [String: Double]
                    let lineage: Lineage
                    let description: String
                    let model_card: String?
                    let tags: [String: String]
                }
                let body = Body(
                    artifact: digest, format: format, signature: signatureValue, parameters: params, metrics: metrics,
                    lineage: Lineage(
                        dataset_version: datasetVersion, training_job: trainingJob, source_code: sourceCode),
                    description: description, model_card: card, tags: tags)
                let data = try await client.send(.POST, try modelPath(options, team, model) + "/versions", json: body)
                if options.output == .json { return Output.print(json: data) }
                let object = Output.object(data)
                print(
                    "Registered \(model) version \(Output.cell(object["version"])) (\(Output.cell(object["format"])), \(digest))"
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a model's versions.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Option(help: "Page size (1-200).") var limit: Int = 50
        @Option(help: "Cursor from a previous page.") var cursor: String?
        func run() async throws {
            try await reporting {
                var path = try modelPath(options, team, model) + "/versions?limit=\(limit)"
                if let cursor { path += "&cursor=\(cursor.pathSegment)" }
                let data = try await options.client().send(.GET, path)
                Output.render(
                    data, options.output,
                    columns: [
                        ("VERSION", "version"), ("FORMAT", "format"), ("STATUS", "status"), ("ALIASES", "aliases"),
                        ("METRICS", "metrics"), ("CREATED BY", "created_by"), ("CREATED", "created_at"),
                    ])
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one version (a number or an alias).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Argument(help: "Version number or alias.") var version: String
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .GET, try modelPath(options, team, model) + "/versions/\(version.pathSegment)")
                Output.details(
                    data, options.output,
                    keys: [
                        "model", "version", "format", "status", "aliases", "artifact", "signature", "parameters",
                        "metrics", "lineage", "tags", "description", "created_by", "created_at",
                    ])
            }
        }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a version's artifact (digest verified by the server).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Argument(help: "Version number or alias.") var version: String
        @Option(name: [.customShort("o"), .customLong("to")], help: "Destination file.") var destination: String
        func run() async throws {
            try await reporting {
                let written = try await options.client().download(
                    try modelPath(options, team, model) + "/versions/\(version.pathSegment)/artifact", to: destination)
                print("wrote \(ProgressBar.size(written)) to \(destination)")
            }
        }
    }

    struct AllowProduction: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow-production",
            abstract: "Allow a version to be deployed to production, or stop allowing it (team reviewers, admins).",
            discussion: """
                Revoking stops new production deployments of the version; a production deployment already \
                serving it keeps serving until it is next changed.
                """)
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Argument(help: "Version number or alias.") var version: String
        @Flag(help: "Stop allowing the version in production.") var revoke = false
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .PUT, try modelPath(options, team, model) + "/versions/\(version.pathSegment)/production",
                    json: ["allowed": !revoke])
                if options.output == .json { return Output.print(json: data) }
                let object = Output.object(data)
                let allowed = (object["production_allowed"] as? Bool) ?? !revoke
                print(
                    "\(model) version \(Output.cell(object["version"])) is "
                        + (allowed ? "allowed in production" : "no longer allowed in production"))
            }
        }
    }
}

/// `slipway aliases …`.
struct Aliases: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Named pointers (champion, staging, …) to model versions.", subcommands: [Set.self, Delete.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Point an alias at a version (moves it atomically).")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Argument(help: "Alias name.") var alias: String
        @Argument(help: "Version number.") var version: Int
        func run() async throws {
            try await reporting {
                let data = try await options.client().send(
                    .PUT, try modelPath(options, team, model) + "/aliases/\(alias.pathSegment)",
                    json: ["version": version])
                if options.output == .json { return Output.print(json: data) }
                print("\(model)@\(alias) -> version \(version)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an alias.")
        @OptionGroup var options: ClientOptions
        @Option(name: .shortAndLong, help: "Team.") var team: String?
        @Argument(help: "Model name.") var model: String
        @Argument(help: "Alias name.") var alias: String
        func run() async throws {
            try await reporting {
                _ = try await options.client().send(
                    .DELETE, try modelPath(options, team, model) + "/aliases/\(alias.pathSegment)")
                if options.output == .table { print("deleted \(model)@\(alias)") }
            }
        }
    }
}
