import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SlipwayCore
import SlipwayServer
import SlipwayStore
import Testing

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    /// A request body that trickles in, so the request is still in flight when shutdown starts.
    struct SlowBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: Int
        struct AsyncIterator: AsyncIteratorProtocol {
            var remaining: Int
            mutating func next() async throws -> ByteBuffer? {
                guard remaining > 0 else { return nil }
                remaining -= 1
                try await Task.sleep(for: .milliseconds(60))
                return ByteBuffer(repeating: UInt8(ascii: "a") + UInt8(remaining % 20), count: 1024)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: chunks) }
    }

    @Test("on shutdown the server stops accepting but finishes the request in flight")
    func finishesInFlightRequests() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "slipway-shutdown-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        var configuration = ServerConfiguration(home: home, database: .sqliteInMemory)
        configuration.port = 0
        let settings = configuration
        var testLogger = Logger(label: "test")
        testLogger.logLevel = .warning
        let logger = testLogger
        let platform = try await SlipwayPlatform.open(settings, logger: logger)
        try await platform.database.withRunning {
            try await platform.database.migrate()
            let key = try #require(try await platform.bootstrapAdmin(presetKey: nil))
            _ = try await platform.identity.createTeam(
                name: "fraud", description: "", audit: .system(), at: Date())
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = buildApplication(platform: platform, configuration: settings, logger: logger) { port in
                continuation.yield(port)
            }
            let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
            let port = try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())

                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/v1/teams/fraud/artifacts")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(key)")
                request.body = .stream(SlowBody(chunks: 15), length: .known(Int64(15 * 1024)))
                let upload = request
                tasks.addTask {
                    let response = try await HTTPClient.shared.execute(upload, timeout: .seconds(30))
                    #expect(response.status == .created, "the in-flight upload must complete")
                }
                try await Task.sleep(for: .milliseconds(300))
                await group.triggerGracefulShutdown()
                try await tasks.next()
                try await tasks.next()
                return port
            }
            // The server is gone: new requests are refused.
            let health = HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz")
            await #expect(throws: (any Error).self) {
                _ = try await HTTPClient.shared.execute(health, timeout: .seconds(2))
            }
            let audit = try await platform.audit.events(team: nil, after: nil, limit: 100)
            #expect(audit.contains { $0.action == "artifact.upload" })
        }
    }
}
