import ArgumentParser
import Foundation
import Logging
import SlipwayServer
import SlipwayStore
import Testing

@testable import SlipwayCLI

/// A real server on loopback over a fresh SQLite store, for tests that drive the CLI end to end.
struct LiveServer: Sendable {
    let platform: SlipwayPlatform
    /// `http://127.0.0.1:PORT`.
    let url: String
    /// The platform admin key installed at start.
    let adminKey: String

    /// The README quickstart's XGBoost model file.
    static let quickstartModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../examples/quickstart/fraud-xgboost.json").standardizedFileURL.path

    /// Starts a server, runs `body` against it, and stops it.
    static func with(
        configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: @Sendable (LiveServer) async throws -> Void
    ) async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        var configuration = ServerConfiguration(
            home: home, database: .sqlite(path: home.appendingPathComponent("db.sqlite").path))
        configuration.port = 0
        configure(&configuration)
        let settings = configuration
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let quiet = logger
        let platform = try await SlipwayPlatform.open(settings, logger: quiet)
        try await platform.database.withRunning {
            try await platform.database.migrate()
            let admin = try #require(try await platform.bootstrapAdmin(presetKey: nil))
            let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let app = buildApplication(platform: platform, configuration: settings, logger: quiet) { port in
                portContinuation.yield(port)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                var ports = portStream.makeAsyncIterator()
                let port = try #require(await ports.next())
                try await body(LiveServer(platform: platform, url: "http://127.0.0.1:\(port)", adminKey: admin))
                group.cancelAll()
            }
        }
    }

    /// Parses and runs one CLI command, as `slipway ARGUMENTS` would.
    static func run(_ arguments: [String]) async throws {
        var command = try SlipwayCommand.parseAsRoot(arguments)
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    }
}
