import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SlipwayCore
import SlipwayServer
import SlipwayStore
import Testing

@testable import SlipwayCLI

@Suite("CLI serving")
struct ServingCLITests {
    static func routes(_ pairs: KeyValuePairs<Int, Int>) -> [TrafficRoute] {
        pairs.map { TrafficRoute(version: $0.key, weight: $0.value) }
    }

    @Test("a canary takes its share and the current routes split the rest in proportion")
    func canarySplits() throws {
        let first = try TrafficSplit.routes(Self.routes([1: 100]), version: 2, percent: 10)
        #expect(first == Self.routes([1: 90, 2: 10]))
        let second = try TrafficSplit.routes(first, version: 3, percent: 50)
        #expect(second == Self.routes([1: 45, 2: 5, 3: 50]))
    }

    @Test("re-weighting a routed version changes it in place; 100 gives it all traffic")
    func reweighting() throws {
        let promoted = try TrafficSplit.routes(Self.routes([1: 90, 2: 10]), version: 2, percent: 50)
        #expect(promoted == Self.routes([1: 50, 2: 50]))
        let three = try TrafficSplit.routes(Self.routes([1: 45, 2: 5, 3: 50]), version: 2, percent: 20)
        #expect(three == Self.routes([1: 38, 2: 20, 3: 42]))
        #expect(
            try TrafficSplit.routes(Self.routes([1: 45, 2: 5, 3: 50]), version: 2, percent: 100)
                == Self.routes([2: 100]))
        #expect(try TrafficSplit.routes([], version: 4, percent: 100) == Self.routes([4: 100]))
    }

    @Test("rounding gives leftover points by largest remainder, ties to the earlier route, summing to 100")
    func rounding() throws {
        // 50 split three ways: 16.67 each.
        #expect(
            try TrafficSplit.routes(Self.routes([1: 1, 2: 1, 3: 1]), version: 4, percent: 50)
                == Self.routes([1: 17, 2: 17, 3: 16, 4: 50]))
        // 75 split 50/50: 37.5 each.
        #expect(
            try TrafficSplit.routes(Self.routes([1: 50, 2: 50]), version: 3, percent: 25)
                == Self.routes([1: 38, 2: 37, 3: 25]))
        // Weights that do not sum to 100 are shares: 3:1 of 80 is 60 and 20.
        #expect(
            try TrafficSplit.routes(Self.routes([1: 3, 2: 1]), version: 5, percent: 20)
                == Self.routes([1: 60, 2: 20, 5: 20]))
        // The larger remainders win: 99 of 10/20/70 is 9.9, 19.8 and 69.3.
        #expect(
            try TrafficSplit.routes(Self.routes([1: 10, 2: 20, 3: 70]), version: 4, percent: 1)
                == Self.routes([1: 10, 2: 20, 3: 69, 4: 1]))
    }

    @Test("a canary needs another version carrying traffic; weights are 1 to 100")
    func canaryRefusals() {
        #expect(throws: CLIFailure.self) { try TrafficSplit.routes(Self.routes([2: 100]), version: 2, percent: 10) }
        #expect(throws: CLIFailure.self) {
            try TrafficSplit.routes(Self.routes([1: 0, 2: 100]), version: 2, percent: 10)
        }
        #expect(throws: CLIFailure.self) { try TrafficSplit.routes([], version: 1, percent: 10) }
        #expect(throws: CLIFailure.self) { try TrafficSplit.routes(Self.routes([1: 100]), version: 2, percent: 0) }
        #expect(throws: CLIFailure.self) { try TrafficSplit.routes(Self.routes([1: 100]), version: 2, percent: 101) }
    }

    @Test("for any split and canary weight, the canary gets exactly its weight and the total is 100")
    func splitInvariants() throws {
        var random = SplitMix64(seed: 0x5EED)
        for _ in 0..<2_000 {
            let count = Int(random.next() % 6) + 1
            var existing = (1...count).map { TrafficRoute(version: $0, weight: Int(random.next() % 120)) }
            existing[0].weight += 1  // at least one route carries traffic
            let version = Int(random.next() % UInt64(count + 2)) + 1
            let percent = Int(random.next() % 99) + 1
            guard existing.contains(where: { $0.version != version && $0.weight > 0 }) else { continue }
            let result = try TrafficSplit.routes(existing, version: version, percent: percent)
            #expect(result.reduce(0) { $0 + $1.weight } == 100, "\(existing) + v\(version)@\(percent) → \(result)")
            #expect(result.filter { $0.version == version }.map(\.weight) == [percent])
            #expect(Set(result.map(\.version)) == Set(existing.map(\.version) + [version]))
            // Each other route is within one point of its exact proportional share.
            let others = existing.filter { $0.version != version }
            let total = Double(others.reduce(0) { $0 + $1.weight })
            for route in others {
                let exact = Double(100 - percent) * Double(route.weight) / total
                let got = Double(result.first { $0.version == route.version }!.weight)
                #expect(abs(got - exact) < 1)
            }
        }
    }

    @Test("formatting: shares, dollars, clipped cells, prediction URL")
    func formatting() {
        #expect(TrafficSplit.text(Self.routes([1: 90, 2: 10])) == "v1 90%, v2 10%")
        #expect(TrafficSplit.text(Self.routes([1: 1, 2: 2])) == "v1 33.3%, v2 66.7%")
        #expect(ServingFormat.dollars(0) == "$0.00")
        #expect(ServingFormat.dollars(5) == "$0.05")
        #expect(ServingFormat.dollars(123_456) == "$1234.56")
        #expect(ServingFormat.clipped("abcdef", 4) == "abc…")
        #expect(ServingFormat.clipped("abc", 4) == "abc")
        #expect(
            ServingFormat.predictionURL(server: "http://h:8080/", endpoint: "fraud scorer")
                == "http://h:8080/v2/models/fraud%20scorer/infer")
        let list = Data(
            #"{"items":[{"endpoint":"e","routes":[{"version":1,"weight":3},{"version":2,"weight":1}]}]}"#.utf8)
        #expect(Output.items(ServingFormat.readableRoutes(list)).first?["routes"] as? String == "v1 75%, v2 25%")
    }

    @Test("deploy and usage options parse, and bad values are refused before any request")
    func parsing() throws {
        let deploy = try #require(
            try SlipwayCommand.parseAsRoot([
                "deploy", "fraud-detector", "champion", "--env", "production", "--endpoint", "fraud", "--weight", "10",
                "--fallback", "1", "--batch-rows", "8", "--batch-delay-us", "500", "--max-concurrent", "2",
                "--max-queue", "10", "--timeout-ms", "250", "--log-sample-rate", "0.5", "-t", "risk",
            ]) as? Deploy)
        #expect(deploy.model == "fraud-detector" && deploy.version == "champion")
        #expect(deploy.environment == .production && deploy.endpointName == "fraud")
        #expect(deploy.weight == 10 && deploy.fallback == 1 && deploy.team == "risk")
        #expect(deploy.batchRows == 8 && deploy.batchDelayUs == 500 && deploy.maxConcurrent == 2)
        #expect(deploy.maxQueue == 10 && deploy.timeoutMs == 250 && deploy.logSampleRate == 0.5)

        let plain = try #require(try SlipwayCommand.parseAsRoot(["deploy", "m", "3"]) as? Deploy)
        #expect(plain.environment == .staging && plain.endpointName == "m" && plain.weight == nil)

        for bad in [
            ["deploy", "m", "1", "--weight", "0"], ["deploy", "m", "1", "--weight", "101"],
            ["deploy", "m", "1", "--env", "qa"], ["deploy", "m", "1", "--fallback", "1", "--no-fallback"],
            ["usage", "--month", "2025-13"], ["usage", "--month", "2025-1"],
            ["deploy", "m", "1", "--upstream-model", "x"], ["deploy", "m", "1", "--upstream-credential", "edge"],
            ["deploy", "m", "1", "--upstream", "http://h:8080", "--no-upstream"],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try SlipwayCommand.parseAsRoot(bad) }
        }
        let upstream = try #require(
            try SlipwayCommand.parseAsRoot([
                "deploy", "m", "1", "--upstream", "http://mlserver:8080", "--upstream-model", "fraud-v2",
                "--upstream-credential", "edge",
            ]) as? Deploy)
        #expect(upstream.upstream == "http://mlserver:8080" && upstream.upstreamModel == "fraud-v2")
        #expect(upstream.upstreamCredential == "edge" && !upstream.noUpstream)
        // The settings body sets the upstream as an object, or removes it with an explicit null.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let set = Deploy.SettingsBody(
            upstream: .set(.init(url: "http://mlserver:8080", model: "fraud-v2", credential: "edge")))
        #expect(
            String(decoding: try encoder.encode(set), as: UTF8.self)
                == #"{"upstream":{"credential":"edge","model":"fraud-v2","url":"http:\/\/mlserver:8080"}}"#)
        #expect(String(decoding: try encoder.encode(Deploy.SettingsBody(upstream: .remove)), as: UTF8.self) == #"{"upstream":null}"#)
        #expect(!Deploy.SettingsBody(upstream: .remove).isEmpty && Deploy.SettingsBody().isEmpty)
        #expect(try SlipwayCommand.parseAsRoot(["usage", "--month", "2025-02"]) is Usage)
        #expect(try SlipwayCommand.parseAsRoot(["undeploy", "fraud", "--env", "production"]) is Undeploy)
        #expect(try SlipwayCommand.parseAsRoot(["deployments", "undeploy", "fraud"]) is Undeploy)
        let stats = try #require(
            try SlipwayCommand.parseAsRoot(["deployments", "stats", "fraud", "-e", "production", "--window", "300"])
                as? Deployments.Stats)
        #expect(stats.window == 300 && stats.environment == .production)
        let allow = try #require(
            try SlipwayCommand.parseAsRoot(["versions", "allow-production", "m", "2", "--revoke"])
                as? Versions.AllowProduction)
        #expect(allow.revoke && allow.version == "2")
    }

    @Test("deploy, canary, inspect, allow production and undeploy through the CLI against a live server")
    func servingThroughCLI() async throws {
        try await LiveServer.with(configure: { $0.meteringInterval = .milliseconds(100) }) { live in
            let platform = live.platform
            let modelFile = LiveServer.quickstartModel
            let url = live.url
            let admin = live.adminKey
            let server = ["--server", url, "--key", admin]

            /// Runs a CLI command in team `fraud`, printing JSON unless `json` is false.
            func run(_ arguments: [String], json: Bool = true, team: Bool = true) async throws {
                try await LiveServer.run(
                    arguments + server + (json ? ["--output", "json"] : []) + (team ? ["--team", "fraud"] : []))
            }
            try await run(["teams", "create", "fraud"], team: false)
            try await run(["members", "set", "admin", "--role", "admin"])
            try await run(["models", "create", "fraud-detector"])
            for _ in 0..<3 { try await run(["versions", "create", "fraud-detector", "--file", modelFile]) }
            try await run(["aliases", "set", "fraud-detector", "champion", "3"])

            let team = try #require(try await platform.identity.team(named: "fraud"))
            func deployed(_ environment: DeploymentEnvironment = .staging) async throws -> Deployment? {
                try await platform.deployments.deployment(
                    team: team.id, endpoint: "fraud", environment: environment)
            }

            // A canary with nothing deployed is refused before any change.
            await #expect(throws: ExitCode(64)) {
                try await run(["deploy", "fraud-detector", "2", "--endpoint", "fraud", "--weight", "10"])
            }
            try await run(
                [
                    "deploy", "fraud-detector", "1", "--endpoint", "fraud", "--log-sample-rate", "1",
                    "--batch-rows", "16",
                ], json: false)
            #expect(try await deployed()?.routes == Self.routes([1: 100]))
            try await run([
                "deploy", "fraud-detector", "2", "--endpoint", "fraud", "--weight", "10", "--fallback", "1",
            ])
            // The alias resolves to version 3 before the split is computed.
            try await run(
                ["deploy", "fraud-detector", "champion", "--endpoint", "fraud", "--weight", "50"], json: false)
            let canary = try #require(try await deployed())
            #expect(canary.routes == Self.routes([1: 45, 2: 5, 3: 50]))
            #expect(canary.fallbackVersion == 1, "the fallback is kept when not given")
            #expect(canary.settings.logSampleRate == 1 && canary.settings.maxBatchRows == 16, "settings are kept")
            #expect(canary.revision == 3)

            // Traffic, so stats, the prediction log and usage have something to show.
            struct Input: Encodable, Sendable {
                let name = "input"
                let shape = [1, 5]
                let datatype = "FP32"
                let data: [Double] = [0.5, -1.2, 3.3, 0.0, 7.1]
            }
            struct Infer: Encodable, Sendable { let inputs = [Input()] }
            let client = APIClient(baseURL: url, key: admin)
            for _ in 0..<6 {
                _ = try await client.send(
                    .POST, "/v2/models/fraud/infer", json: Infer(),
                    headers: [("X-Slipway-Environment", "staging"), ("X-Slipway-Team", "fraud")])
            }
            for arguments in [
                ["deployments", "list"], ["deployments", "show", "fraud"], ["deployments", "stats", "fraud"],
                ["deployments", "predictions", "fraud", "--limit", "5"],
            ] {
                try await run(arguments, json: false)
                try await run(arguments)
            }
            var usage: [UsageRecord] = []
            for _ in 0..<100 where usage.reduce(0, { $0 + $1.requests }) < 6 {
                try await Task.sleep(for: .milliseconds(50))
                usage = try await platform.deployments.usage(team: team.id, from: "0000-00-00", to: "9999-99-99")
            }
            #expect(usage.reduce(0) { $0 + $1.requests } == 6)
            try await run(["usage"], json: false)
            try await run(["usage", "--month", "2000-01"], json: false)

            // Production needs a reviewer's allowance, version by version.
            await #expect(throws: ExitCode(ExitCodes.auth)) {
                try await run(["deploy", "fraud-detector", "3", "--endpoint", "fraud", "--env", "production"])
            }
            try await run(["versions", "allow-production", "fraud-detector", "champion"], json: false)
            try await run(["deploy", "fraud-detector", "3", "--endpoint", "fraud", "--env", "production"])
            #expect(try await deployed(.production)?.routes == Self.routes([3: 100]))
            #expect(try await deployed(.production)?.fallbackVersion == nil)
            try await run(["versions", "allow-production", "fraud-detector", "3", "--revoke"])
            let version = try await platform.registry.version(team: team.id, model: "fraud-detector", version: 3)
            #expect(version?.productionAllowed == false)

            try await run(["deployments", "undeploy", "fraud", "--env", "production"])
            try await run(["undeploy", "fraud"], json: false)
            #expect(try await deployed() == nil)
            #expect(try await deployed(.production) == nil)
            await #expect(throws: ExitCode(ExitCodes.notFound)) {
                try await run(["deployments", "show", "fraud"])
            }
        }
    }
}

/// The platform's seeded generator, so property tests replay.
typealias SplitMix64 = SeededGenerator
