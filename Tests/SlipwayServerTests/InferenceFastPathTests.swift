import Foundation
import Logging
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import SlipwayCore
@testable import SlipwayServer
import Testing

/// The inference fast path answers small OIP v2 infer requests on the event loop; these tests hold it
/// to answering exactly what the router answers, counting the same, and handing everything else over.
@Suite("Inference fast path")
struct InferenceFastPathTests {
    static let requestIDHeader = HTTPField.Name("X-Request-Id")!

    /// `slipway_inference_fast_path_total` from `/metrics`.
    static func fastAnswers(_ client: any TestClientProtocol, admin: String) async throws -> Int {
        let text = String(buffer: try await client.call(.get, "/metrics", key: admin).body)
        let line = text.split(separator: "\n").first { $0.hasPrefix("slipway_inference_fast_path_total ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test("answers byte for byte what the router answers, and counts it in usage, stats, log and metrics")
    func sameAnswerSameCounts() async throws {
        try await TestServer.with(.live) { server, client in
            let fixture = try await ServingAPITests.seed(server, client, versions: 1)
            let key = fixture.aliceKey
            let deployed = try await ServingAPITests.deploy(
                client, key: key, routes: [["version": 1]], settings: ["log_sample_rate": 1.0])
            let id = try #require(deployed["id"] as? String)
            let body = ServingAPITests.oipRequest(ServingAPITests.rows)
            var headers = ServingAPITests.staging
            headers[Self.requestIDHeader] = "client-42"

            let before = try await Self.fastAnswers(client, admin: server.adminKey)
            let fast = try await client.call(.post, "/v2/models/fraud/infer", key: key, json: body, headers: headers)
            let afterFast = try await Self.fastAnswers(client, admin: server.adminKey)
            // A query string is not the fast path's: the router answers this one.
            let routed = try await client.call(
                .post, "/v2/models/fraud/infer?environment=staging", key: key, json: body, headers: headers)
            let afterRouted = try await Self.fastAnswers(client, admin: server.adminKey)
            #expect(afterFast == before + 1)
            #expect(afterRouted == afterFast)

            #expect(fast.status == .ok, "\(fast.json)")
            #expect(routed.status == .ok, "\(routed.json)")
            #expect(Array(buffer: fast.body) == Array(buffer: routed.body))
            let outputs = try #require((fast["outputs"] as? [[String: Any]])?.first)
            #expect((outputs["data"] as? [Double])?.map(Float.init) == (try ServingAPITests.expected()))
            for reply in [fast, routed] {
                #expect(reply.headers[PredictionController.versionHeader] == "1")
                #expect(reply.headers[Self.requestIDHeader] == "client-42")
                #expect(reply.headers[.contentType] == "application/json")
                #expect(reply.headers[.server] == "slipway")
                #expect(reply.headers[.date]?.hasSuffix(" GMT") == true)
            }
            // Without a client ID, each answer gets its own.
            let first = try await client.call(
                .post, "/v2/models/fraud/infer", key: key, json: body, headers: ServingAPITests.staging)
            let second = try await client.call(
                .post, "/v2/models/fraud/infer", key: key, json: body, headers: ServingAPITests.staging)
            let ids = [first, second].compactMap { $0.headers[Self.requestIDHeader] }
            #expect(ids.count == 2 && ids[0] != ids[1] && ids.allSatisfy { $0.hasPrefix("req_") }, "\(ids)")
            #expect(try await Self.fastAnswers(client, admin: server.adminKey) == afterRouted + 2)

            let metering = MeteringService(
                store: server.platform.deployments, service: server.platform.predictions, interval: .seconds(60),
                logRetention: (100, 86_400), now: { server.clock.now }, logger: .init(label: "test"))
            await metering.flush()
            let usage = try await client.call(.get, "/api/v1/usage?team=fraud", key: key)
            #expect(usage["requests"] as? Int == 4, "\(usage.json)")
            #expect(usage["rows"] as? Int == 12, "\(usage.json)")
            let stats = try await client.call(.get, "/api/v1/deployments/\(id)/stats?window=60", key: key)
            #expect((stats["combined"] as? [String: Any])?["requests"] as? Int == 4, "\(stats.json)")
            let log = try await client.call(.get, "/api/v1/teams/fraud/deployments/fraud/predictions", key: key)
            #expect(Set(log.items.compactMap { $0["request_id"] as? String }).isSuperset(of: ["client-42"] + ids))
            let metrics = String(buffer: try await client.call(.get, "/metrics", key: server.adminKey).body)
            #expect(
                metrics.contains(
                    "slipway_http_requests_total{method=\"POST\",route=\"/v2/models/{model}/infer\",status=\"200\"} 4"),
                "\(metrics.split(separator: "\n").filter { $0.contains("requests_total") })")
        }
    }

    @Test("refusals are the router's: unknown key, another team, bad input, unknown output")
    func refusalsTakeTheRouter() async throws {
        try await TestServer.with(.live) { server, client in
            let fixture = try await ServingAPITests.seed(server, client, versions: 1)
            #expect(
                try await ServingAPITests.deploy(client, key: fixture.aliceKey, routes: [["version": 1]]).status
                    == .created)
            let other = try await Fixture.make(server, client, team: "growth", user: "bob")
            let before = try await Self.fastAnswers(client, admin: server.adminKey)
            func infer(_ body: [String: Any], key: String?) async throws -> Reply {
                try await client.call(
                    .post, "/v2/models/fraud/infer", key: key, json: body, headers: ServingAPITests.staging)
            }
            let good = ServingAPITests.oipRequest(ServingAPITests.rows)

            let stranger = try await infer(good, key: other.aliceKey)
            #expect(stranger.status == .notFound)
            #expect((stranger["error"] as? String)?.contains("no deployment 'fraud'") == true, "\(stranger.json)")
            // Alice's key ID with another secret: a cache hit on the ID must not let it through.
            let forgedKey = String(fixture.aliceKey.dropLast()) + (fixture.aliceKey.hasSuffix("0") ? "1" : "0")
            #expect(try await infer(good, key: forgedKey).status == .unauthorized)
            #expect(try await infer(good, key: nil).status == .unauthorized)
            let misnamed = try await infer(ServingAPITests.oipRequest(ServingAPITests.rows, name: "wrong"), key: fixture.aliceKey)
            #expect(misnamed.status == .badRequest)
            #expect((misnamed["error"] as? String)?.contains("input 'wrong' is not an input") == true, "\(misnamed.json)")
            var unknownOutput = good
            unknownOutput["outputs"] = [["name": "nope"]]
            let output = try await infer(unknownOutput, key: fixture.aliceKey)
            #expect(output.status == .badRequest)
            #expect((output["error"] as? String)?.contains("output 'nope'") == true, "\(output.json)")
            #expect(try await Self.fastAnswers(client, admin: server.adminKey) == before)
            // …and the same key's good request is the fast path's again.
            #expect(try await infer(good, key: fixture.aliceKey).status == .ok)
            #expect(try await Self.fastAnswers(client, admin: server.adminKey) == before + 1)
        }
    }

    @Test("a deployment that batches with a delay is served by the router")
    func batchingDeploymentsTakeTheRouter() async throws {
        try await TestServer.with(.live) { server, client in
            let fixture = try await ServingAPITests.seed(server, client, versions: 1)
            #expect(
                try await ServingAPITests.deploy(
                    client, key: fixture.aliceKey, routes: [["version": 1]], settings: ["max_batch_delay_us": 500]
                ).status == .created)
            let before = try await Self.fastAnswers(client, admin: server.adminKey)
            let reply = try await client.call(
                .post, "/v2/models/fraud/infer", key: fixture.aliceKey, json: ServingAPITests.oipRequest(ServingAPITests.rows),
                headers: ServingAPITests.staging)
            #expect(reply.status == .ok, "\(reply.json)")
            #expect(try await Self.fastAnswers(client, admin: server.adminKey) == before)
        }
    }

    @Test("a pipelined connection gets its answers in request order")
    func pipelinedOrder() async throws {
        try await TestServer.with(.live) { server, client in
            let fixture = try await ServingAPITests.seed(server, client, versions: 1)
            #expect(
                try await ServingAPITests.deploy(client, key: fixture.aliceKey, routes: [["version": 1]]).status
                    == .created)
            let port = try #require(client.port)
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ServingAPITests.oipRequest(ServingAPITests.rows)), as: UTF8.self)
            let common = "Host: localhost\r\nAuthorization: Bearer \(fixture.aliceKey)\r\nX-Slipway-Environment: staging\r\n"
            let infer = "POST /v2/models/fraud/infer HTTP/1.1\r\n\(common)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            // infer (fast path) · metadata (router) · infer (qualifies, but the metadata is still with the
            // router, so the router answers it after) · liveness, closing the connection.
            let requests =
                "\(infer)\r\n\(body)" + "GET /v2/models/fraud HTTP/1.1\r\n\(common)\r\n" + "\(infer)\r\n\(body)"
                + "GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            let before = try await Self.fastAnswers(client, admin: server.adminKey)
            let answer = try RawHTTP.exchange(port: port, bytes: Array(requests.utf8))
            let responses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(responses.count == 4, "\(answer)")
            let kinds = responses.map { response in
                response.contains("\"data\"") ? "infer" : response.contains("\"platform\"") ? "metadata"
                    : response.contains("\"live\"") ? "live" : "?"
            }
            #expect(kinds == ["infer", "metadata", "infer", "live"], "\(answer)")
            #expect(try await Self.fastAnswers(client, admin: server.adminKey) == before + 1)
            #expect(responses.allSatisfy { $0.hasPrefix("200") }, "\(answer)")
        }
    }

    @Test("only POST /v2/models/NAME/infer with a small, known-length body and a key qualifies")
    func qualifyingRequests() throws {
        func head(_ method: HTTPRequest.Method = .post, _ path: String = "/v2/models/fraud/infer", _ extra: HTTPFields = [:])
            -> HTTPRequest
        {
            var fields: HTTPFields = [.contentLength: "300", .authorization: "Bearer x"]
            for field in extra { fields[field.name] = field.value }
            return HTTPRequest(method: method, scheme: nil, authority: nil, path: path, headerFields: fields)
        }
        #expect(InferenceFastPath.qualifying(head())?.contentLength == 300)
        #expect(InferenceFastPath.qualifying(head(.get)) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models/fraud/versions/1/infer")) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models/fraud/infer?environment=staging")) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models//infer")) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v1/models/fraud:predict")) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models/fraud/infer", [.connection: "close"])) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models/fraud/infer", [.expect: "100-continue"])) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models/fraud/infer", [.contentLength: "70000"])) == nil)
        #expect(InferenceFastPath.qualifying(head(.post, "/v2/models/fraud/infer", [.contentLength: "0"])) == nil)
        var keyless = head()
        keyless.headerFields[.authorization] = nil
        #expect(InferenceFastPath.qualifying(keyless) == nil)
        let twice = HTTPRequest(
            method: .post, scheme: nil, authority: nil, path: "/v2/models/fraud/infer",
            headerFields: HTTPFields([
                HTTPField(name: .contentLength, value: "300"), HTTPField(name: .authorization, value: "Bearer x"),
                HTTPField(name: .authorization, value: "Bearer y"),
            ]))
        #expect(InferenceFastPath.qualifying(twice) == nil)
        let headers = try #require(
            InferenceFastPath.qualifying(
                head(.post, "/v2/models/fraud/infer", [PredictionController.teamHeader: "fraud", .init("X-Request-Id")!: "r1"])))
        #expect(headers.team == "fraud" && headers.requestID == "r1" && headers.environment == nil)
        #expect(InferenceFastPath.modelName("/v2/models/fraud-v2/infer") == "fraud-v2")
    }

    @Test("while the socket is not writable, qualifying requests go to the router (which applies backpressure)")
    func unwritableSocketsTakeTheRouter() async throws {
        try await TestServer.with { server, _ in
            var logger = Logger(label: "test")
            logger.logLevel = .info
            let channel = EmbeddedChannel(handler: InferenceFastPath(platform: server.platform, logger: logger))
            let head = HTTPRequest(
                method: .post, scheme: nil, authority: nil, path: "/v2/models/fraud/infer",
                headerFields: [.contentLength: "2", .authorization: "Bearer x"])
            // Writable: the fast path holds the request while its body arrives.
            try channel.writeInbound(HTTPRequestPart.head(head))
            #expect(try channel.readInbound(as: HTTPRequestPart.self) == nil)
            // It cannot answer this one (an unknown key), so the whole request goes on, in order.
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{}")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            #expect(try channel.readInbound(as: HTTPRequestPart.self) == .head(head))
            #expect(try channel.readInbound(as: HTTPRequestPart.self) == .body(ByteBuffer(string: "{}")))
            #expect(try channel.readInbound(as: HTTPRequestPart.self) == .end(nil))
            try channel.writeOutbound(HTTPResponsePart.end(nil))  // the router's answer ends

            channel.isWritable = false
            try channel.writeInbound(HTTPRequestPart.head(head))
            #expect(try channel.readInbound(as: HTTPRequestPart.self) == .head(head))
            _ = try channel.finish()
        }
    }

    @Test("Date headers are IMF-fixdate")
    func dates() {
        #expect(HTTPDate.format(1_800_000_000) == "Fri, 15 Jan 2027 08:00:00 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}

extension RawHTTP {
    /// Sends `bytes` in one write and returns everything the server sends until it closes.
    static func exchange(port: Int, bytes: [UInt8]) throws -> String {
        let fd = try connected(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        try #require(sent == bytes.count)
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
