import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SlipwayCore
import SlipwayServer
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Model registry API")
struct RegistryAPITests {
    @Test(
        "a developer registers a model, uploads versions, moves an alias, and reads it all back",
        arguments: await Backend.all)
    func quickstartFlow(backend: Backend) async throws {
        try await TestServer.with(backend: backend) { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            let created = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: key,
                json: ["name": "fraud-detector", "description": "card fraud", "tags": ["owner": "alice"]])
            #expect(created.status == .created)
            #expect(created["team"] as? String == "fraud")

            let upload = try await client.call(.post, "/api/v1/teams/fraud/artifacts", key: key, raw: xgboostModelBytes)
            #expect(upload.status == .created)
            let digest = try #require(upload["digest"] as? String)
            #expect(digest == "sha256:" + Digest.sha256Hex(Array(buffer: xgboostModelBytes)))

            for expected in 1...2 {
                let version = try await client.call(
                    .post, "/api/v1/teams/fraud/models/fraud-detector/versions", key: key,
                    json: [
                        "artifact": digest, "metrics": ["auc": 0.91 + Double(expected) / 100],
                        "parameters": ["max_depth": "6"], "lineage": ["dataset_version": "transactions@\(expected)"],
                        "signature": [
                            "inputs": [["name": "x", "datatype": "FP32", "shape": [-1, 5]]],
                            "outputs": [["name": "p", "datatype": "FP32", "shape": [-1]]],
                        ],
                    ] as [String: Any])
                #expect(version.status == .created, "\(version.errorMessage)")
                #expect(version["version"] as? Int == expected)
                #expect(version["format"] as? String == "xgboost_json")
                #expect(version["created_by"] as? String == "alice")
            }

            #expect(
                try await client.call(
                    .put, "/api/v1/teams/fraud/models/fraud-detector/aliases/champion", key: key, json: ["version": 1]
                ).status == .ok)
            #expect(
                try await client.call(
                    .put, "/api/v1/teams/fraud/models/fraud-detector/aliases/champion", key: key, json: ["version": 2]
                ).status == .ok)
            let champion = try await client.call(
                .get, "/api/v1/teams/fraud/models/fraud-detector/versions/champion", key: key)
            #expect(champion["version"] as? Int == 2)
            #expect(champion["aliases"] as? [String] == ["champion"])
            #expect((champion["lineage"] as? [String: Any])?["dataset_version"] as? String == "transactions@2")

            let model = try await client.call(.get, "/api/v1/teams/fraud/models/fraud-detector", key: key)
            #expect(model["latest_version"] as? Int == 2)
            #expect((model["aliases"] as? [String: Int]) == ["champion": 2])

            let download = try await client.call(
                .get, "/api/v1/teams/fraud/models/fraud-detector/versions/1/artifact", key: key)
            #expect(download.status == .ok)
            #expect(download.body == xgboostModelBytes)

            let audit = try await client.call(.get, "/api/v1/audit?team=fraud", key: server.adminKey)
            let actions = audit.items.compactMap { $0["action"] as? String }
            #expect(actions.contains("model.create"))
            #expect(actions.filter { $0 == "version.create" }.count == 2)
            #expect(actions.filter { $0 == "alias.set" }.count == 2)
            let verify = try await client.call(.get, "/api/v1/audit/verify", key: server.adminKey)
            #expect(verify["ok"] as? Bool == true)
        }
    }

    @Test("another team's model, versions and artifacts answer 404, never data", arguments: await Backend.all)
    func crossTeamIsolation(backend: Backend) async throws {
        try await TestServer.with(backend: backend) { server, client in
            let alice = try await Fixture.make(server, client)
            let bob = try await Fixture.make(server, client, team: "growth", user: "bob")
            _ = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: alice.aliceKey, json: ["name": "secret"])
            let upload = try await client.call(
                .post, "/api/v1/teams/fraud/artifacts", key: alice.aliceKey, raw: xgboostModelBytes)
            let digest = try #require(upload["digest"] as? String)
            _ = try await client.call(
                .post, "/api/v1/teams/fraud/models/secret/versions", key: alice.aliceKey, json: ["artifact": digest])

            for path in [
                "/api/v1/teams/fraud", "/api/v1/teams/fraud/models", "/api/v1/teams/fraud/models/secret",
                "/api/v1/teams/fraud/models/secret/versions/1", "/api/v1/teams/fraud/models/secret/versions/1/artifact",
                "/api/v1/audit?team=fraud",
            ] {
                let reply = try await client.call(.get, path, key: bob.aliceKey)
                #expect(reply.status == .notFound, "\(path) answered \(reply.status)")
                #expect(!String(buffer: reply.body).contains("secret\""))
            }
            // Bob's own team cannot reference Alice's artifact by digest.
            _ = try await client.call(.post, "/api/v1/teams/growth/models", key: bob.aliceKey, json: ["name": "copy"])
            let stolen = try await client.call(
                .post, "/api/v1/teams/growth/models/copy/versions", key: bob.aliceKey, json: ["artifact": digest])
            #expect(stolen.status == .unprocessableContent)
            #expect(stolen.errorCode == "artifact_not_found")
        }
    }

    @Test("roles: a viewer reads but cannot write")
    func viewerCannotWrite() async throws {
        try await TestServer.with { server, client in
            let viewer = try await Fixture.make(server, client, role: "viewer")
            #expect(try await client.call(.get, "/api/v1/teams/fraud/models", key: viewer.aliceKey).status == .ok)
            let reply = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: viewer.aliceKey, json: ["name": "m"])
            #expect(reply.status == .forbidden)
            #expect(reply.errorCode == "insufficient_role")
        }
    }

    @Test("an artifact over the size limit gets 413 and leaves nothing behind")
    func uploadLimit() async throws {
        try await TestServer.with(configure: { $0.maxArtifactBytes = 1024 }) { server, client in
            let fixture = try await Fixture.make(server, client)
            let big = ByteBuffer(repeating: 0x41, count: 4096)
            let reply = try await client.call(.post, "/api/v1/teams/fraud/artifacts", key: fixture.aliceKey, raw: big)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.errorCode == "payload_too_large")
            let temp = server.home.appendingPathComponent("artifacts/tmp").path
            #expect(try FileManager.default.contentsOfDirectory(atPath: temp).isEmpty)
            let blobs = server.home.appendingPathComponent("artifacts/blobs/sha256").path
            #expect(try FileManager.default.contentsOfDirectory(atPath: blobs).isEmpty)
        }
    }

    @Test("a declared digest that does not match the content is refused")
    func digestMismatch() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Slipway-Digest")!] = "sha256:" + String(repeating: "0", count: 64)
            let reply = try await client.call(
                .post, "/api/v1/teams/fraud/artifacts", key: fixture.aliceKey, raw: xgboostModelBytes, headers: headers)
            #expect(reply.status == .badRequest)
            #expect(reply.errorCode == "digest_mismatch")
        }
    }

    @Test("code-executing formats are refused at registration with a clear message")
    func pickleRefused() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            _ = try await client.call(.post, "/api/v1/teams/fraud/models", key: fixture.aliceKey, json: ["name": "m"])
            let pickle = ByteBuffer(bytes: [0x80, 0x04, 0x95] + Array("cos\nsystem\n".utf8))
            let upload = try await client.call(
                .post, "/api/v1/teams/fraud/artifacts", key: fixture.aliceKey, raw: pickle)
            let digest = try #require(upload["digest"] as? String)
            let reply = try await client.call(
                .post, "/api/v1/teams/fraud/models/m/versions", key: fixture.aliceKey, json: ["artifact": digest])
            #expect(reply.status == .unprocessableContent)
            #expect(reply.errorCode == "unsafe_model_format")
            #expect(reply.errorMessage.contains("pickle"))
            let model = try await client.call(.get, "/api/v1/teams/fraud/models/m", key: fixture.aliceKey)
            #expect(model["latest_version"] as? Int == 0)
        }
    }

    @Test("servable formats are parsed at registration: signature filled in, broken or mismatched models refused")
    func registrationParsesModels() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            _ = try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": "m"])
            let good = try await client.call(.post, "/api/v1/teams/fraud/artifacts", key: key, raw: xgboostModelBytes)
            let digest = try #require(good["digest"] as? String)
            let version = try await client.call(
                .post, "/api/v1/teams/fraud/models/m/versions", key: key, json: ["artifact": digest])
            #expect(version.status == .created)
            let inputs = (version["signature"] as? [String: Any])?["inputs"] as? [[String: Any]]
            #expect(inputs?.first?["shape"] as? [Int] == [-1, 5])

            let mismatch = try await client.call(
                .post, "/api/v1/teams/fraud/models/m/versions", key: key,
                json: [
                    "artifact": digest,
                    "signature": [
                        "inputs": [["name": "x", "datatype": "FP32", "shape": [-1, 7]]], "outputs": [[String: Any]](),
                    ],
                ] as [String: Any])
            #expect(mismatch.status == .unprocessableContent)
            #expect(mismatch.errorCode == "signature_mismatch")

            let broken = ByteBuffer(string: #"{"learner":{"objective":{"name":"binary:logistic"}},"version":[2,1,0]}"#)
            let upload = try await client.call(.post, "/api/v1/teams/fraud/artifacts", key: key, raw: broken)
            let brokenDigest = try #require(upload["digest"] as? String)
            let refused = try await client.call(
                .post, "/api/v1/teams/fraud/models/m/versions", key: key, json: ["artifact": brokenDigest])
            #expect(refused.status == .unprocessableContent)
            #expect(
                try await client.call(.get, "/api/v1/teams/fraud/models/m", key: key)["latest_version"] as? Int == 1)
        }
    }

    @Test("ONNX versions are parsed at registration: signature with labels and probabilities; broken files refused")
    func onnxRegistration() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            _ = try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": "churn"])
            let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../SlipwayRuntimeTests/Fixtures/onnx/gradient_boosting_classifier.onnx")
            let bytes = try Data(contentsOf: path.standardizedFileURL)
            let upload = try await client.call(.post, "/api/v1/teams/fraud/artifacts", key: key, raw: ByteBuffer(bytes: bytes))
            let version = try await client.call(
                .post, "/api/v1/teams/fraud/models/churn/versions", key: key,
                json: ["artifact": try #require(upload["digest"] as? String)])
            #expect(version.status == .created, "\(version.json)")
            #expect(version["format"] as? String == "onnx")
            let signature = try #require(version["signature"] as? [String: Any])
            let inputs = signature["inputs"] as? [[String: Any]]
            #expect(inputs?.first?["shape"] as? [Int] == [-1, 8])
            let outputs = (signature["outputs"] as? [[String: Any]])?.compactMap { $0["datatype"] as? String }
            #expect(outputs == ["FP32", "BYTES"], "probabilities first, then the string labels")

            // An ONNX-looking file that is not a model.
            let broken = try await client.call(
                .post, "/api/v1/teams/fraud/artifacts", key: key, raw: ByteBuffer(bytes: [0x08, 0x08, 0x12, 0x03, 0x61, 0x62]))
            let refused = try await client.call(
                .post, "/api/v1/teams/fraud/models/churn/versions", key: key,
                json: ["artifact": try #require(broken["digest"] as? String), "format": "onnx"])
            #expect(refused.status == .unprocessableContent, "\(refused.json)")
        }
    }

    @Test("bad input gets a 4xx that names the problem", arguments: await Backend.all)
    func badInput(backend: Backend) async throws {
        try await TestServer.with(backend: backend, configure: { $0.maxJSONBytes = 2048 }) { server, client in
            let fixture = try await Fixture.make(server, client)
            let key = fixture.aliceKey
            let malformed = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: key, raw: ByteBuffer(string: "{\"name\": "))
            #expect(malformed.status == .badRequest)
            #expect(malformed.errorCode == "invalid_json")

            let wrongType = try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": 42])
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.errorMessage.contains("'name'"))

            let badName = try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": "../etc"])
            #expect(badName.status == .badRequest)
            #expect(badName.errorCode == "invalid_name")

            let oversized = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: key,
                json: ["name": "m", "description": String(repeating: "x", count: 4000)])
            #expect(oversized.status == .contentTooLarge)

            let badVersion = try await client.call(.get, "/api/v1/teams/fraud/models/m/versions/0", key: key)
            #expect(badVersion.status == .notFound || badVersion.status == .badRequest)

            let badKeyID = try await client.call(.delete, "/api/v1/keys/not-a-key", key: key)
            #expect(badKeyID.status == .badRequest)
            #expect(badKeyID.errorCode == "invalid_id")

            let badLimit = try await client.call(.get, "/api/v1/teams/fraud/models?limit=0", key: key)
            #expect(badLimit.status == .badRequest)

            let badCursor = try await client.call(.get, "/api/v1/teams/fraud/models?cursor=%%%", key: key)
            #expect(badCursor.status == .badRequest)

            _ = try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": "dup"])
            let duplicate = try await client.call(.post, "/api/v1/teams/fraud/models", key: key, json: ["name": "dup"])
            #expect(duplicate.status == .conflict)

            let nul = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: key, raw: ByteBuffer(string: #"{"name":"a\u0000b"}"#))
            #expect(nul.status == .badRequest)
            let escapedBackslash = try await client.call(
                .post, "/api/v1/teams/fraud/models", key: key,
                raw: ByteBuffer(string: #"{"name":"ok-name","description":"C:\\u0000"}"#))
            #expect(escapedBackslash.status == .created, "an escaped backslash before u0000 is not NUL")
            for path in [
                "/api/v1/teams/fraud/models/a%00b", "/api/v1/teams/fr%00aud/models",
                "/api/v1/keys?principal=a%00b", "/api/v1/teams/fraud/models?q=a%00b",
                "/api/v1/teams/fraud/models?tag=k%3Dv%00",
            ] {
                let reply = try await client.call(.get, path, key: key)
                #expect([.badRequest, .notFound].contains(reply.status), "\(path) answered \(reply.status)")
            }
            let emptyPatch = try await client.call(
                .patch, "/api/v1/teams/fraud/models/dup/versions/1", key: key, json: [:])
            #expect(emptyPatch.status == .badRequest)

            let noRoute = try await client.call(.get, "/api/v1/nothing-here", key: key)
            #expect(noRoute.status == .notFound)
            #expect(noRoute.errorCode == "route_not_found")
        }
    }

    @Test("model search filters by name and tag and pages with a cursor")
    func searchAndPaging() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            for index in 1...5 {
                _ = try await client.call(
                    .post, "/api/v1/teams/fraud/models", key: fixture.aliceKey,
                    json: ["name": "model-\(index)", "tags": ["stage": index % 2 == 0 ? "even" : "odd"]])
            }
            var names: [String] = []
            var cursor: String?
            repeat {
                let query = "limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.call(.get, "/api/v1/teams/fraud/models?\(query)", key: fixture.aliceKey)
                #expect(page.items.count <= 2)
                names += page.items.compactMap { $0["name"] as? String }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            #expect(names == (1...5).map { "model-\($0)" })

            let even = try await client.call(.get, "/api/v1/teams/fraud/models?tag=stage=even", key: fixture.aliceKey)
            #expect(even.items.compactMap { $0["name"] as? String } == ["model-2", "model-4"])
            let named = try await client.call(.get, "/api/v1/teams/fraud/models?q=del-3", key: fixture.aliceKey)
            #expect(named.items.compactMap { $0["name"] as? String } == ["model-3"])
        }
    }

    @Test("an upload cut short by the client leaves no artifact and no temp file")
    func truncatedUpload() async throws {
        try await TestServer.with(.live) { server, client in
            let fixture = try await Fixture.make(server, client)
            let port = try #require(client.port)
            try RawHTTP.sendTruncated(
                port: port,
                head:
                    "POST /api/v1/teams/fraud/artifacts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(fixture.aliceKey)\r\nContent-Length: 100000\r\n\r\n",
                bodyPrefix: Array(repeating: 0x41, count: 5000))
            // Give the server a moment to notice the closed connection and clean up.
            let temp = server.home.appendingPathComponent("artifacts/tmp").path
            for _ in 0..<50 where !(try FileManager.default.contentsOfDirectory(atPath: temp).isEmpty) {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: temp).isEmpty)
            let blobs = server.home.appendingPathComponent("artifacts/blobs/sha256").path
            #expect(try FileManager.default.contentsOfDirectory(atPath: blobs).isEmpty)
            let audit = try await client.call(.get, "/api/v1/audit?team=fraud", key: server.adminKey)
            #expect(!audit.items.contains { $0["action"] as? String == "artifact.upload" })
        }
    }
}

/// A raw TCP client for what an HTTP library will not do: send a truncated body and hang up.
enum RawHTTP {
    static func sendTruncated(port: Int, head: String, bodyPrefix: [UInt8]) throws {
        let fd = try connected(port: port)
        defer { close(fd) }
        let bytes = Array(head.utf8) + bodyPrefix
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        usleep(200_000)
    }

    /// A socket connected to 127.0.0.1:`port`; the caller closes it.
    static func connected(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw SlipwayError.internal("cannot connect to 127.0.0.1:\(port)")
        }
        return fd
    }
}
