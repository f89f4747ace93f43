import Foundation
import SlipwayCore
import SlipwayRuntime
@testable import SlipwayServer
import SlipwayServing
import Testing

/// ``PredictionService/predictImmediately(_:on:)``, the serving core of the inference fast path: it must
/// either finish a prediction the way ``PredictionService/predict(_:on:)`` would, or decline having
/// changed nothing.
@Suite("Immediate predictions")
struct PredictImmediatelyTests {
    /// Answers `value` for every row; or fails, as a broken model would, on any row that is not all zeros
    /// (so it still loads: loading warms it with zeros); or takes `rowCost` per row.
    struct ScriptedPredictor: Predictor {
        var value: Float = 0.25
        var fails = false
        var rowCost: Duration = .zero
        /// `predictOutputs` answers rank 1 (`[rows]`), as some ONNX regressors do.
        var rankOneOutputs = false
        init(artifact: [UInt8]) throws(SlipwayError) { throw .unprocessable("scripted only", code: "scripted") }
        init(value: Float = 0.25, fails: Bool = false, rowCost: Duration = .zero, rankOneOutputs: Bool = false) {
            self.value = value
            self.fails = fails
            self.rowCost = rowCost
            self.rankOneOutputs = rankOneOutputs
        }
        func predictOutputs(_ input: [Float], rows: Int) throws(SlipwayError) -> [PredictionOutput] {
            let values = try predict(input, rows: rows)
            return [PredictionOutput(name: "score", shape: rankOneOutputs ? [rows] : [rows, 1], data: .floats(values))]
        }
        var signature: ModelSignature {
            ModelSignature(
                inputs: [TensorSpec(name: "input", datatype: .fp32, shape: [-1, 2])],
                outputs: [TensorSpec(name: "score", datatype: .fp32, shape: [-1, 1])])
        }
        var featureCount: Int { 2 }
        var outputCount: Int { 1 }
        func predict(
            _ input: UnsafeBufferPointer<Float>, rows: Int, features: Int, into output: UnsafeMutableBufferPointer<Float>
        ) throws(SlipwayError) {
            if fails, input.contains(where: { $0 != 0 }) { throw .internal("the scripted model failed") }
            if rowCost > .zero {
                let until = ContinuousClock.now + rowCost * rows
                while ContinuousClock.now < until {}
            }
            for row in 0..<rows { output[row] = value }
        }
    }

    static func service(_ server: TestServer, burst: Int = 100) throws -> PredictionService {
        PredictionService(
            registry: server.platform.serving,
            rateLimiter: RateLimiter(limit: try RateLimit(requestsPerSecond: 0.001, burst: burst)),
            quota: try QuotaPolicy(monthlyRows: nil), usage: UsageMeter(), stats: LatencyStats(),
            logBuffer: PredictionLogBuffer())
    }

    static func target(
        _ predictors: [Int: ScriptedPredictor], routes: [Int], fallback: Int? = nil, upstream: [Int] = [],
        settings: ServingSettings = ServingSettings(maxConcurrent: 1)
    ) throws -> LiveDeployment {
        let deployment = Deployment(
            id: .random(), team: TeamID(trusted: "team_scripted"), endpoint: "scores", environment: .production,
            model: .random(), routes: routes.map { TrafficRoute(version: $0, weight: 1) }, fallbackVersion: fallback,
            settings: settings, revision: 1, createdBy: "test", createdAt: Date(), updatedAt: Date())
        var versions = try predictors.mapValues { predictor in
            try LoadedVersion(version: 0, digest: "d", predictor: predictor, settings: settings)
        }
        for version in upstream {
            let client = UpstreamClient(
                configuration: try UpstreamConfiguration(baseURL: "http://127.0.0.1:9", model: "remote"),
                breaker: CircuitBreaker(name: "remote", configuration: try .init()))
            versions[version] = try LoadedVersion(
                version: version, digest: "u", signature: ScriptedPredictor().signature, upstream: client)
        }
        return try LiveDeployment(
            deployment: deployment, teamName: "scripted", modelName: "scores", versions: versions,
            admission: AdmissionController(limits: try .init(maxConcurrent: 1, maxQueue: 4)),
            sampler: try PredictionSampler(rate: 0, maxPerSecond: 1))
    }

    static let request = PredictionRequest(rows: [1, 2, 3, 4], count: 2, features: 2, version: nil, requestID: "r")

    @Test("a failing version is answered by a local fallback, and both are metered as predict(_:on:) meters them")
    func fallback() async throws {
        try await TestServer.with { server, _ in
            let service = try Self.service(server)
            let target = try Self.target([1: ScriptedPredictor(fails: true), 2: ScriptedPredictor(value: 0.75)], routes: [1], fallback: 2)
            let result = try #require(try service.predictImmediately(Self.request, on: target))
            #expect(result.version == 2)
            #expect(result.usedFallback)
            #expect(result.outputs == [PredictionOutput(name: "score", shape: [2, 1], data: .floats([0.75, 0.75]))])
            let usage = service.usage.drain().map { ($0.version, $0.requests, $0.rows, $0.errors) }
            #expect(usage.count == 2)
            #expect(usage.contains { $0 == (1, 1, 0, 1) }, "\(usage)")
            #expect(usage.contains { $0 == (2, 1, 2, 0) }, "\(usage)")
            #expect(target.admission.inFlight == 0)

            // Without a fallback the failure is the answer, recorded once.
            let alone = try Self.target([1: ScriptedPredictor(fails: true)], routes: [1])
            #expect(throws: SlipwayError.self) { try service.predictImmediately(Self.request, on: alone) }
            #expect(service.usage.drain().map { ($0.requests, $0.rows, $0.errors) }.elementsEqual([(1, 0, 1)], by: ==))
        }
    }

    @Test("it declines, changing nothing, when a slot is taken, the rate limit is spent, or the work must wait")
    func declines() async throws {
        try await TestServer.with { server, _ in
            let service = try Self.service(server, burst: 1)
            let target = try Self.target([1: ScriptedPredictor()], routes: [1])

            // The only slot is busy: declined, and the rate limit's single token is still there.
            #expect(target.admission.tryAcquire())
            #expect(try service.predictImmediately(Self.request, on: target) == nil)
            target.admission.release()
            #expect(service.usage.isEmpty)
            #expect(try service.predictImmediately(Self.request, on: target)?.version == 1)
            // The token is spent now: declined (the router answers the 429), and the slot is free again.
            #expect(try service.predictImmediately(Self.request, on: target) == nil)
            #expect(target.admission.inFlight == 0)
            #expect(service.usage.drain().map(\.requests) == [1])

            let fresh = try Self.service(server)
            let batching = try Self.target(
                [1: ScriptedPredictor()], routes: [1], settings: ServingSettings(maxBatchDelayMicros: 200, maxConcurrent: 1))
            #expect(try fresh.predictImmediately(Self.request, on: batching) == nil)
            var explicit = Self.request
            explicit.version = 1
            #expect(try fresh.predictImmediately(explicit, on: target) == nil)
            var misshapen = Self.request
            misshapen.features = 3
            #expect(try fresh.predictImmediately(misshapen, on: target) == nil)
            #expect(fresh.usage.isEmpty)
        }
    }

    @Test("a split with an upstream version is never answered here, so the router draws each request once")
    func splitsWithUpstreamVersions() async throws {
        try await TestServer.with { server, _ in
            let service = try Self.service(server)
            let canary = try Self.target([1: ScriptedPredictor()], routes: [1, 2], upstream: [2])
            for _ in 0..<40 { #expect(try service.predictImmediately(Self.request, on: canary) == nil) }
            let upstreamFallback = try Self.target([1: ScriptedPredictor()], routes: [1], fallback: 2, upstream: [2])
            #expect(try service.predictImmediately(Self.request, on: upstreamFallback) == nil)
            #expect(service.usage.isEmpty)
        }
    }

    @Test("a model too slow for the inline budget is left to the router")
    func slowModels() async throws {
        try await TestServer.with { server, _ in
            let service = try Self.service(server)
            let slow = try Self.target([1: ScriptedPredictor(rowCost: .milliseconds(1))], routes: [1])
            #expect(try #require(slow.versions[1]).rowCost >= .milliseconds(1))
            #expect(try service.predictImmediately(Self.request, on: slow) == nil)
            let quick = try Self.target([1: ScriptedPredictor(rowCost: .microseconds(20))], routes: [1])
            #expect(try service.predictImmediately(Self.request, on: quick) != nil)
            var many = Self.request
            many.count = 100
            many.rows = [Float](repeating: 1, count: 200)
            #expect(try service.predictImmediately(many, on: quick) == nil)  // 100 rows × 20 µs > 250 µs
        }
    }

    @Test("answers in the batcher's form, as the router's path does, whatever predictOutputs says")
    func batcherForm() async throws {
        try await TestServer.with { server, _ in
            let service = try Self.service(server)
            let target = try Self.target([1: ScriptedPredictor(rankOneOutputs: true)], routes: [1])
            let result = try #require(try service.predictImmediately(Self.request, on: target))
            #expect(result.outputs == [PredictionOutput(name: "score", shape: [2, 1], data: .floats([0.25, 0.25]))])
            let routed = try await service.predict(Self.request, on: target)
            #expect(routed.outputs == result.outputs)
        }
    }
}
