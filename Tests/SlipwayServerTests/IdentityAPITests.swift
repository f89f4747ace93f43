import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SlipwayCore
import SlipwayServer
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite("Teams, keys and authorisation API")
struct IdentityAPITests {
    @Test("every route but health needs a key; garbage keys get 401")
    func authenticationRequired() async throws {
        try await TestServer.with { server, client in
            #expect(try await client.call(.get, "/healthz", key: nil).status == .ok)
            #expect(try await client.call(.get, "/readyz", key: nil).status == .ok)
            for key in [
                nil, "nonsense", "slw_abc_def",
                "slw_" + String(repeating: "a", count: 32) + "_" + String(repeating: "b", count: 64),
            ] {
                let reply = try await client.call(.get, "/api/v1/teams", key: key)
                #expect(reply.status == .unauthorized)
                #expect(reply.headers[.wwwAuthenticate] == "Bearer")
            }
            #expect(try await client.call(.get, "/metrics", key: nil).status == .unauthorized)
            // Blanks around the key are tolerated; inside it they are not.
            let padded: HTTPFields = [.authorization: "Bearer \t \(server.adminKey) \t"]
            #expect(try await client.call(.get, "/api/v1/teams", key: nil, headers: padded).status == .ok)
            let split: HTTPFields = [.authorization: "Bearer \(server.adminKey.prefix(20)) \(server.adminKey.dropFirst(20))"]
            #expect(try await client.call(.get, "/api/v1/teams", key: nil, headers: split).status == .unauthorized)
        }
    }

    @Test("a revoked key stops working at once; an expired key too", arguments: await Backend.all)
    func revocationAndExpiry(backend: Backend) async throws {
        try await TestServer.with(backend: backend) { server, client in
            let fixture = try await Fixture.make(server, client)
            #expect(try await client.call(.get, "/api/v1/whoami", key: fixture.aliceKey).status == .ok)
            let keys = try await client.call(.get, "/api/v1/keys", key: fixture.aliceKey)
            let id = try #require(keys.items.first?["id"] as? String)
            #expect(keys.items.first?["secret"] == nil, "listings never include the secret")
            #expect(keys.items.first?["last_used_at"] as? String != nil)
            let revoked = try await client.call(.delete, "/api/v1/keys/\(id)", key: fixture.aliceKey)
            #expect(revoked.status == .ok)
            #expect(try await client.call(.get, "/api/v1/whoami", key: fixture.aliceKey).status == .unauthorized)

            let expiring = try await client.call(
                .post, "/api/v1/keys", key: server.adminKey, json: ["principal": "alice", "expires_in_days": 1])
            let secret = try #require(expiring["secret"] as? String)
            #expect(try await client.call(.get, "/api/v1/whoami", key: secret).status == .ok)
            server.clock.advance(by: 2 * 86_400)
            #expect(try await client.call(.get, "/api/v1/whoami", key: secret).status == .unauthorized)
        }
    }

    @Test("keys are stored hashed: the database never holds the secret")
    func keysHashedAtRest() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            let token = try #require(APIKeyToken(parsing: fixture.aliceKey))
            let rows = try await server.platform.database.read { db in
                try await db.raw("SELECT secret_hash FROM api_keys").all().map {
                    try $0.decode(column: "secret_hash", as: String.self)
                }
            }
            #expect(rows.contains(token.storedHash))
            #expect(!rows.contains { $0.contains(token.secret) })
        }
    }

    @Test("team admins manage their service accounts' keys, not other principals'")
    func keyManagementBoundaries() async throws {
        try await TestServer.with { server, client in
            let teamAdmin = try await Fixture.make(server, client, user: "carol", role: "admin")
            _ = try await Fixture.make(server, client, team: "growth", user: "bob")
            let account = try await client.call(
                .post, "/api/v1/teams/fraud/service-accounts", key: teamAdmin.aliceKey,
                json: ["name": "fraud-ci", "role": "developer"])
            #expect(account.status == .created)
            let ciKey = try await client.call(
                .post, "/api/v1/keys", key: teamAdmin.aliceKey, json: ["principal": "fraud-ci"])
            #expect(ciKey.status == .created)
            let ciSecret = try #require(ciKey["secret"] as? String)
            #expect(try await client.call(.get, "/api/v1/teams/fraud/models", key: ciSecret).status == .ok)

            let bobKey = try await client.call(
                .post, "/api/v1/keys", key: teamAdmin.aliceKey, json: ["principal": "bob"])
            #expect(bobKey.status == .notFound)
            let growthAccount = try await client.call(
                .post, "/api/v1/teams/growth/service-accounts", key: teamAdmin.aliceKey,
                json: ["name": "growth-ci", "role": "viewer"])
            #expect(growthAccount.status == .notFound)
            let createTeam = try await client.call(.post, "/api/v1/teams", key: teamAdmin.aliceKey, json: ["name": "x"])
            #expect(createTeam.status == .forbidden)
        }
    }

    @Test("a team keeps at least one admin; other teams' service accounts are not discoverable")
    func membershipGuards() async throws {
        try await TestServer.with { server, client in
            let carol = try await Fixture.make(server, client, user: "carol", role: "admin")
            let demote = try await client.call(
                .put, "/api/v1/teams/fraud/members/carol", key: carol.aliceKey, json: ["role": "viewer"])
            #expect(demote.status == .conflict)
            #expect(demote.errorCode == "last_admin")
            #expect(
                try await client.call(.delete, "/api/v1/teams/fraud/members/carol", key: carol.aliceKey).status
                    == .conflict)

            let growthAdmin = try await Fixture.make(server, client, team: "growth", user: "gina", role: "admin")
            #expect(
                try await client.call(
                    .post, "/api/v1/teams/growth/service-accounts", key: growthAdmin.aliceKey,
                    json: ["name": "growth-ci", "role": "viewer"]
                ).status == .created)
            let foreign = try await client.call(
                .put, "/api/v1/teams/fraud/members/growth-ci", key: carol.aliceKey, json: ["role": "viewer"])
            let unknown = try await client.call(
                .put, "/api/v1/teams/fraud/members/nobody", key: carol.aliceKey, json: ["role": "viewer"])
            #expect(foreign.status == .notFound)
            #expect(foreign.errorCode == unknown.errorCode)
        }
    }

    @Test("revoking a key revokes the keys created with it", arguments: await Backend.all)
    func revocationCascades(backend: Backend) async throws {
        try await TestServer.with(backend: backend) { server, client in
            let fixture = try await Fixture.make(server, client)
            let child = try await client.call(.post, "/api/v1/keys", key: fixture.aliceKey, json: ["name": "child"])
            let childSecret = try #require(child["secret"] as? String)
            let grandchild = try await client.call(
                .post, "/api/v1/keys", key: childSecret, json: ["name": "grandchild"])
            let grandchildSecret = try #require(grandchild["secret"] as? String)
            let unrelated = try await client.call(
                .post, "/api/v1/keys", key: server.adminKey, json: ["principal": "alice", "name": "other"])
            let unrelatedSecret = try #require(unrelated["secret"] as? String)

            let parentID = try #require(APIKeyToken(parsing: fixture.aliceKey)).keyID.rawValue
            #expect(try await client.call(.delete, "/api/v1/keys/\(parentID)", key: server.adminKey).status == .ok)
            for secret in [fixture.aliceKey, childSecret, grandchildSecret] {
                #expect(try await client.call(.get, "/api/v1/whoami", key: secret).status == .unauthorized)
            }
            #expect(try await client.call(.get, "/api/v1/whoami", key: unrelatedSecret).status == .ok)
            let audit = try await client.call(.get, "/api/v1/audit", key: server.adminKey)
            let revoke = audit.items.last { $0["action"] as? String == "key.revoke" }
            #expect((revoke?["detail"] as? String)?.contains(#""also_revoked":"2""#) == true)
        }
    }

    @Test("a key cannot create a key that outlives it")
    func keyExpiryIsCapped() async throws {
        try await TestServer.with { server, client in
            _ = try await Fixture.make(server, client)
            let shortLived = try await client.call(
                .post, "/api/v1/keys", key: server.adminKey, json: ["principal": "alice", "expires_in_days": 1])
            let secret = try #require(shortLived["secret"] as? String)
            let minted = try await client.call(.post, "/api/v1/keys", key: secret, json: ["name": "forever"])
            #expect(minted.status == .created)
            #expect(minted["expires_at"] as? String == shortLived["expires_at"] as? String)
        }
    }

    @Test("audit pages follow next_cursor")
    func auditPaging() async throws {
        try await TestServer.with { server, client in
            let fixture = try await Fixture.make(server, client)
            for index in 1...3 {
                _ = try await client.call(
                    .post, "/api/v1/teams/fraud/models", key: fixture.aliceKey, json: ["name": "m\(index)"])
            }
            var sequences: [Int] = []
            var cursor: String?
            repeat {
                let page = try await client.call(
                    .get, "/api/v1/audit?team=fraud&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""),
                    key: server.adminKey)
                #expect(page.status == .ok)
                sequences += page.items.compactMap { $0["sequence"] as? Int }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            #expect(sequences == sequences.sorted())
            #expect(Set(sequences).count == sequences.count)
            #expect(sequences.count >= 5)
        }
    }

    @Test("audit: team reviewers and admins read it; developers and outsiders do not")
    func auditAccess() async throws {
        try await TestServer.with { server, client in
            let developer = try await Fixture.make(server, client)
            let reviewer = try await Fixture.make(server, client, user: "rita", role: "reviewer")
            let outsider = try await Fixture.make(server, client, team: "growth", user: "bob")
            _ = try await client.call(.post, "/api/v1/teams/fraud/models", key: developer.aliceKey, json: ["name": "m"])
            let asReviewer = try await client.call(.get, "/api/v1/audit?team=fraud", key: reviewer.aliceKey)
            #expect(asReviewer.status == .ok)
            let entry = try #require(asReviewer.items.first { $0["action"] as? String == "model.create" })
            #expect(entry["actor"] as? String == "alice")
            #expect((entry["request_id"] as? String)?.isEmpty == false)
            #expect(
                try await client.call(.get, "/api/v1/audit?team=fraud", key: developer.aliceKey).status == .forbidden)
            #expect(try await client.call(.get, "/api/v1/audit?team=fraud", key: outsider.aliceKey).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/audit", key: developer.aliceKey).status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/audit/verify", key: reviewer.aliceKey).status == .forbidden)
        }
    }

    @Test("a hand-edited audit row is reported by /api/v1/audit/verify", arguments: await Backend.all)
    func auditTamperDetected(backend: Backend) async throws {
        try await TestServer.with(backend: backend) { server, client in
            let fixture = try await Fixture.make(server, client)
            _ = try await client.call(.post, "/api/v1/teams/fraud/models", key: fixture.aliceKey, json: ["name": "m"])
            #expect(try await client.call(.get, "/api/v1/audit/verify", key: server.adminKey)["ok"] as? Bool == true)
            try await server.platform.database.transaction { db in
                try await db.raw("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").run()
            }
            let verify = try await client.call(.get, "/api/v1/audit/verify", key: server.adminKey)
            #expect(verify["ok"] as? Bool == false)
            #expect(verify["first_broken_sequence"] as? Int == 3)
        }
    }

    @Test("the request ID is echoed, and a client's own ID is kept when safe")
    func requestID() async throws {
        try await TestServer.with { server, client in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Request-Id")!] = "trace-123"
            let reply = try await client.call(.get, "/healthz", key: nil, headers: headers)
            #expect(reply.headers[HTTPField.Name("X-Request-Id")!] == "trace-123")
            let generated = try await client.call(.get, "/healthz", key: nil)
            #expect(generated.headers[HTTPField.Name("X-Request-Id")!]?.hasPrefix("req_") == true)
        }
    }

    @Test("/metrics serves Prometheus text with request counters to platform admins")
    func metrics() async throws {
        try await TestServer.with { server, client in
            _ = try await client.call(.get, "/api/v1/teams", key: server.adminKey)
            let reply = try await client.call(.get, "/metrics", key: server.adminKey)
            #expect(reply.status == .ok)
            let text = String(buffer: reply.body)
            #expect(text.contains("slipway_http_requests_total{method=\"GET\",route=\"/api/v1/teams\",status=\"200\"}"))
            #expect(text.contains("slipway_http_request_duration_seconds_bucket"))
        }
    }

    @Test("first start creates one admin; a preset admin key must be a valid token")
    func bootstrap() async throws {
        try await TestServer.with { server, client in
            #expect(try await server.platform.bootstrapAdmin(presetKey: nil) == nil)
            await #expect(throws: SlipwayError.self) { try await server.platform.bootstrapAdmin(presetKey: "password") }
            let whoami = try await client.call(.get, "/api/v1/whoami", key: server.adminKey)
            #expect((whoami["principal"] as? [String: Any])?["platform_admin"] as? Bool == true)
        }
    }
}
