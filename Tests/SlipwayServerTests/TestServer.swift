import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SlipwayCore
import SlipwayServer
import SlipwayStore
import SlipwayTestSupport
import Synchronization
import Testing

/// A clock tests can move forward (key expiry, GC ages).
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// One in-process server over a fresh store, with a platform admin key.
struct TestServer: Sendable {
    let platform: SlipwayPlatform
    let configuration: ServerConfiguration
    let adminKey: String
    let clock: TestClock
    let home: URL

    /// Runs `body` against a fresh server; `.router` needs no socket, `.live` listens on loopback.
    static func with<R: Sendable>(
        _ setup: TestingSetup = .router, backend: Backend = .sqliteInMemory,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (TestServer, any TestClientProtocol) async throws -> R
    ) async throws -> R {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        var configuration = ServerConfiguration(home: home)
        configuration.port = 0
        configure(&configuration)
        let base = configuration
        return try await backend.withDatabase(in: home) { location in
            var configuration = base
            configuration.database = location
            return try await run(setup, configuration, home, body)
        }
    }

    private static func run<R: Sendable>(
        _ setup: TestingSetup, _ configuration: ServerConfiguration, _ home: URL,
        _ body: @escaping @Sendable (TestServer, any TestClientProtocol) async throws -> R
    ) async throws -> R {
        let clock = TestClock()
        var testLogger = Logger(label: "test")
        testLogger.logLevel = .warning
        let logger = testLogger
        let platform = try await SlipwayPlatform.open(configuration, logger: logger, now: { clock.now })
        let finalConfiguration = configuration
        return try await platform.database.withRunning {
            try await platform.database.migrate()
            let key = try #require(try await platform.bootstrapAdmin(presetKey: nil))
            let server = TestServer(
                platform: platform, configuration: finalConfiguration, adminKey: key, clock: clock, home: home)
            let app = buildApplication(platform: platform, configuration: finalConfiguration, logger: logger)
            return try await app.test(setup) { client in try await body(server, client) }
        }
    }
}

/// A decoded response: status, JSON object (if any), raw body.
struct Reply {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }

    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }

    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }

    subscript(key: String) -> Any? { json[key] }
}

extension TestClientProtocol {
    /// Sends a request with a bearer key and an optional JSON (or raw) body.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, key: String?, json: Any? = nil, raw: ByteBuffer? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        var body = raw
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }
}

/// Team setup most tests start from: team `fraud`, user `alice` (developer) with a key.
struct Fixture {
    let adminKey: String
    let aliceKey: String

    static func make(
        _ server: TestServer, _ client: any TestClientProtocol, team: String = "fraud", user: String = "alice",
        role: String = "developer"
    ) async throws -> Fixture {
        let admin = server.adminKey
        if try await client.call(.get, "/api/v1/teams/\(team)", key: admin).status == .notFound {
            #expect(try await client.call(.post, "/api/v1/teams", key: admin, json: ["name": team]).status == .created)
        }
        #expect(try await client.call(.post, "/api/v1/principals", key: admin, json: ["name": user]).status == .created)
        #expect(
            try await client.call(.put, "/api/v1/teams/\(team)/members/\(user)", key: admin, json: ["role": role])
                .status
                == .ok)
        let key = try await client.call(.post, "/api/v1/keys", key: admin, json: ["principal": user, "name": "test"])
        #expect(key.status == .created)
        return Fixture(adminKey: admin, aliceKey: try #require(key["secret"] as? String))
    }
}

/// A real XGBoost JSON model (the README quickstart's), which the registry parses at registration.
let xgboostModelBytes: ByteBuffer = {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../examples/quickstart/fraud-xgboost.json").standardizedFileURL.path
    guard let data = FileManager.default.contents(atPath: path) else { fatalError("missing \(path)") }
    return ByteBuffer(bytes: data)
}()
