import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SlipwayCore
import SlipwayStore
import Testing

@testable import SlipwayServer

@Suite("Route table and OpenAPI")
struct RouteTableTests {
    func routes() async throws -> Set<String> {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-routes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let configuration = ServerConfiguration(home: home, database: .sqliteInMemory)
        let platform = try await SlipwayPlatform.open(configuration, logger: Logger(label: "test"))
        return try await platform.database.withRunning {
            let router = buildRouter(platform: platform, configuration: configuration)
            return Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        }
    }

    @Test("every served route has exactly one authorisation policy, and every policy a route")
    func everyRouteHasAPolicy() async throws {
        let served = try await routes()
        let policies = Set(APIRoutes.policyTable.keys.map(\.description))
        #expect(APIRoutes.policyTable.count == APIRoutes.all.count, "duplicate entries in APIRoutes.all")
        let missingPolicy = served.subtracting(policies)
        #expect(missingPolicy.isEmpty, "routes without a policy in APIRoutes: \(missingPolicy.sorted())")
        let orphanPolicy = policies.subtracting(served)
        #expect(orphanPolicy.isEmpty, "policies for routes the router does not serve: \(orphanPolicy.sorted())")
    }

    @Test("only health, readiness (ours and OIP v2's) and the OpenAPI document are anonymous")
    func anonymousRoutes() {
        let anonymous = APIRoutes.all.filter { $0.policy == .anonymous }.map(\.path).sorted()
        #expect(anonymous == ["/healthz", "/openapi.json", "/readyz", "/v2/health/live", "/v2/health/ready"])
    }

    @Test("a route added without a policy is refused at runtime, not served")
    func unlistedRouteFailsClosed() async throws {
        try await TestServer.with { server, _ in
            let router = buildRouter(platform: server.platform, configuration: server.configuration)
            router.get("/api/v1/unlisted") { _, _ in "secret data" }
            let app = Application(router: router)
            try await app.test(.router) { client in
                let reply = try await client.call(.get, "/api/v1/unlisted", key: server.adminKey)
                #expect(reply.status == .internalServerError)
                #expect(!String(buffer: reply.body).contains("secret data"))
            }
        }
    }

    @Test("/openapi.json is OpenAPI 3.1 and describes every served route")
    func openAPICoversRoutes() async throws {
        let served = try await routes()
        try await TestServer.with { _, client in
            let reply = try await client.call(.get, "/openapi.json", key: nil)
            #expect(reply.status == .ok)
            #expect(reply["openapi"] as? String == "3.1.0")
            let paths = try #require(reply["paths"] as? [String: [String: Any]])
            for route in served {
                let parts = route.split(separator: " ", maxSplits: 1)
                let operation = paths[String(parts[1])]?[parts[0].lowercased()]
                #expect(operation != nil, "OpenAPI lacks \(route)")
            }
        }
    }
}
