import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import SlipwayCore
import SlipwayServing
import Synchronization
import Testing

@testable import SlipwayServer

/// `slipway serve` as a child process on loopback: a real upstream model server that a test can kill with
/// SIGKILL, so its connections die mid-request the way a crashed server's do.
final class SlipwayProcess: @unchecked Sendable {
    let port: Int
    let adminKey: String
    let home: URL
    private let process: Process

    var url: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOf: home.appendingPathComponent("server.log"), encoding: .utf8)) ?? "" }

    /// The `slipway` executable `swift test` built beside the test bundle.
    static func executable() throws -> URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug"),
        ].map { $0.appendingPathComponent("slipway").standardizedFileURL }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw SlipwayError.internal(
                "no slipway executable beside the tests (\(candidates.map(\.path))): run `swift build` first")
        }
        return found
    }

    /// A port nothing listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SlipwayError.internal("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw SlipwayError.internal("could not bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    init(port: Int, adminKey: String, home: URL, process: Process) {
        self.port = port
        self.adminKey = adminKey
        self.home = home
        self.process = process
    }

    /// Starts a server in a fresh home and waits until it answers `/healthz`.
    static func start() async throws -> SlipwayProcess {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-upstream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let adminKey = APIKeyToken.generate(using: &generator).description
        let port = try freePort()
        let process = Process()
        process.executableURL = try executable()
        process.arguments = [
            "serve", "--home", home.path, "--port", String(port), "--log-level", "warning", "--training-workers", "0",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["SLIPWAY_ADMIN_KEY"] = adminKey
        process.environment = environment
        let log = home.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let server = SlipwayProcess(port: port, adminKey: adminKey, home: home, process: process)
        for _ in 0..<600 {
            if let reply = try? await server.call(.GET, "/healthz", key: nil), reply.status == 200 { return server }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.kill()
        throw SlipwayError.internal("the upstream slipway did not start:\n\(server.log.suffix(2000))")
    }

    /// SIGKILL: no graceful shutdown, open connections die with the process.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func removeHome() { try? FileManager.default.removeItem(at: home) }

    struct Answer {
        let status: Int
        let json: [String: Any]
    }

    func call(_ method: HTTPMethod, _ path: String, key: String?, json: Any? = nil, raw: [UInt8]? = nil) async throws
        -> Answer
    {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        } else if let raw {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: raw))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        return Answer(status: Int(response.status.code), json: object)
    }

    /// Team `edge` serving the quickstart model as endpoint `fraud` in production, and a developer key for it.
    func deployQuickstartModel() async throws -> String {
        func expect(_ answer: Answer, _ status: Int, _ what: String) throws {
            guard answer.status == status else {
                throw SlipwayError.internal("upstream setup: \(what) answered \(answer.status) \(answer.json)")
            }
        }
        try expect(try await call(.POST, "/api/v1/teams", key: adminKey, json: ["name": "edge"]), 201, "team")
        try expect(
            try await call(
                .POST, "/api/v1/teams/edge/service-accounts", key: adminKey, json: ["name": "front", "role": "developer"]),
            201, "service account")
        let created = try await call(.POST, "/api/v1/keys", key: adminKey, json: ["principal": "front", "name": "front"])
        try expect(created, 201, "key")
        let key = try #require(created.json["secret"] as? String)
        try expect(try await call(.POST, "/api/v1/teams/edge/models", key: key, json: ["name": "fraud"]), 201, "model")
        let upload = try await call(.POST, "/api/v1/teams/edge/artifacts", key: key, raw: Array(buffer: xgboostModelBytes))
        try expect(upload, 201, "artifact")
        let digest = try #require(upload.json["digest"] as? String)
        try expect(
            try await call(.POST, "/api/v1/teams/edge/models/fraud/versions", key: key, json: ["artifact": digest]), 201,
            "version")
        try expect(
            try await call(
                .PUT, "/api/v1/teams/edge/models/fraud/versions/1/production", key: adminKey, json: ["allowed": true]),
            200, "production approval")
        try expect(
            try await call(
                .PUT, "/api/v1/teams/edge/deployments/fraud", key: key,
                json: ["model": "fraud", "environment": "production", "routes": [["version": 1, "weight": 100]]]),
            201, "deployment")
        return key
    }
}

/// An upstream that dies: a `slipway serve` process reached with an operator-declared credential is
/// SIGKILLed while clients keep sending; the deployment's local fallback version takes over.
@Suite("Failover from a killed upstream process")
struct KilledUpstreamTests {
    final class LoadState: Sendable {
        let killed = Atomic<Bool>(false)
        let stop = Atomic<Bool>(false)
        let upstreamAnswers = Atomic<Int>(0)
        let answersAfterKill = Atomic<Int>(0)
    }

    struct Outcome: Sendable {
        var status: HTTPResponse.Status
        var version: String?
        var fallback: Bool
        var startedAfterKill: Bool
    }

    @Test("an upstream killed mid-load: every request is answered, by the fallback once the upstream is gone")
    func killedMidLoad() async throws {
        let upstream = try await SlipwayProcess.start()
        defer {
            upstream.kill()
            upstream.removeHome()
        }
        let upstreamKey = try await upstream.deployQuickstartModel()
        let credential = try UpstreamCredential(name: "edge-token", teams: ["fraud"], token: upstreamKey)
        try await TestServer.with(configure: { $0.upstreamCredentials = [credential] }) { server, client in
            let fixture = try await ServingAPITests.seed(server, client)
            let key = fixture.aliceKey
            let deployed = try await ServingAPITests.deploy(
                client, key: key, routes: [["version": 1]], fallback: 2,
                settings: [
                    "upstream": [
                        "url": upstream.url, "model": "fraud", "credential": "edge-token", "timeout_ms": 2000,
                        "max_retries": 1,
                    ]
                ])
            #expect(deployed.status == .created, "\(deployed.json)")
            // The token stays on the server: the deployment names the credential only.
            #expect(!String(buffer: deployed.body).contains(upstreamKey))
            #expect(
                ((deployed["settings"] as? [String: Any])?["upstream"] as? [String: Any])?["credential"] as? String
                    == "edge-token")

            let load = LoadState()
            let outcomes = try await withThrowingTaskGroup(of: [Outcome].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var outcomes: [Outcome] = []
                        let request = ServingAPITests.oipRequest(ServingAPITests.rows)
                        while !load.stop.load(ordering: .acquiring) {
                            let afterKill = load.killed.load(ordering: .acquiring)
                            let reply = try await client.call(
                                .post, "/v2/models/fraud/infer", key: key, json: request, headers: ServingAPITests.staging)
                            let fallback = (reply["parameters"] as? [String: Any])?["slipway_fallback"] as? Bool == true
                            let version = reply["model_version"] as? String
                            outcomes.append(
                                Outcome(status: reply.status, version: version, fallback: fallback, startedAfterKill: afterKill))
                            if version == "1" { load.upstreamAnswers.add(1, ordering: .relaxed) }
                            if afterKill { load.answersAfterKill.add(1, ordering: .relaxed) }
                        }
                        return outcomes
                    }
                }
                group.addTask {
                    // Kill once the upstream has carried real traffic, then let load run on past the kill.
                    let deadline = ContinuousClock.now + .seconds(60)
                    while load.upstreamAnswers.load(ordering: .relaxed) < 40, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    upstream.kill()
                    load.killed.store(true, ordering: .releasing)
                    while load.answersAfterKill.load(ordering: .relaxed) < 60, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    load.stop.store(true, ordering: .releasing)
                    return []
                }
                var all: [Outcome] = []
                for try await outcomes in group { all += outcomes }
                return all
            }

            let failed = outcomes.filter { $0.status != .ok }
            #expect(failed.count == 0, "of \(outcomes.count) requests; first: \(failed.prefix(3))")
            let before = outcomes.filter { !$0.startedAfterKill }
            let after = outcomes.filter(\.startedAfterKill)
            #expect(before.filter { $0.version == "1" && !$0.fallback }.count >= 40, "upstream answers before the kill")
            #expect(after.count >= 60, "requests sent after the kill")
            // Once the process is dead, every answer is the local fallback's.
            #expect(after.allSatisfy { $0.version == "2" && $0.fallback }, "\(after.filter { $0.version != "2" }.count)")
            #expect(outcomes.allSatisfy { $0.version == "1" || $0.version == "2" })
        }
    }

    @Test("a deployment may name only credentials the operator declared for its team; the token is never shown")
    func credentialScope() async throws {
        let mine = try UpstreamCredential(name: "edge-token", teams: ["fraud"], token: "secret-token-1")
        let theirs = try UpstreamCredential(name: "their-token", teams: ["payments"], token: "secret-token-2")
        try await TestServer.with(configure: { $0.upstreamCredentials = [mine, theirs] }) { server, client in
            let fixture = try await ServingAPITests.seed(server, client)
            func deploy(_ credential: String) async throws -> Reply {
                try await ServingAPITests.deploy(
                    client, key: fixture.aliceKey, routes: [["version": 1]], fallback: 2,
                    settings: ["upstream": ["url": "http://127.0.0.1:9", "model": "fraud", "credential": credential]])
            }
            for name in ["their-token", "nobody"] {
                let refused = try await deploy(name)
                #expect(refused.status == .badRequest, "\(refused.json)")
                #expect(refused.errorCode == "unknown_upstream_credential")
                #expect(refused.errorMessage.contains("'\(name)' is not declared for team 'fraud'"), "\(refused.errorMessage)")
                #expect(refused.errorMessage.contains("'edge-token'"))
            }
            let accepted = try await deploy("edge-token")
            #expect(accepted.status == .created, "\(accepted.json)")
            let shown = try await client.call(
                .get, "/api/v1/teams/fraud/deployments/fraud?environment=staging", key: fixture.aliceKey)
            #expect(shown.status == .ok)
            #expect(!String(buffer: shown.body).contains("secret-token"))
        }
    }
}
