import SlipwayCore
import SlipwayTestSupport
import Testing

@testable import SlipwayServing

@Suite("Batcher")
struct BatcherTests {
    static func batcher(
        _ predictor: RecordingPredictor, maxBatchRows: Int, maxDelay: Duration, concurrency: Int = 1
    ) throws -> Batcher {
        Batcher(
            predictor: predictor,
            configuration: try .init(maxBatchRows: maxBatchRows, maxDelay: maxDelay, maxConcurrentBatches: concurrency))
    }

    @Test("concurrent callers are merged into one predictor call and each gets exactly its own rows")
    func mergesAndSplits() async throws {
        let predictor = RecordingPredictor()
        // The batch holds exactly everyone's rows, so it runs when the last caller arrives, not at the delay.
        let counts = Array(1...10)
        let batcher = try Self.batcher(predictor, maxBatchRows: counts.reduce(0, +), maxDelay: .seconds(30))
        let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (request, count) in counts.enumerated() {
                group.addTask {
                    (request, try await batcher.predict(rows: rows(count, request: request), count: count))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(predictor.log.rowsPerCall == [55])
        for (request, count) in counts.enumerated() {
            let input = rows(count, request: request)
            #expect(results[request] == RecordingPredictor.expected(input))
            #expect(results[request] == (try predictor.predict(input, rows: count)))  // as if called alone
        }
        #expect(batcher.statistics.batches == 1)
        #expect(batcher.statistics.batchedRequests == 10)
    }

    @Test("many callers with different row counts each get their own predictions", arguments: [0, 3] as [Int])
    func manyCallers(maxDelayMilliseconds: Int) async throws {
        let predictor = RecordingPredictor()
        let batcher = try Self.batcher(
            predictor, maxBatchRows: 32, maxDelay: .milliseconds(maxDelayMilliseconds), concurrency: 2)
        var random = SplitMix64(seed: 42)
        let counts = (0..<300).map { _ in Int(random.next() % 12) + 1 }
        let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (request, count) in counts.enumerated() {
                group.addTask {
                    (request, try await batcher.predict(rows: rows(count, request: request), count: count))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for (request, count) in counts.enumerated() {
            #expect(results[request] == RecordingPredictor.expected(rows(count, request: request)))
        }
        let calls = predictor.log.rowsPerCall
        #expect(calls.reduce(0, +) == counts.reduce(0, +))
        #expect(calls.allSatisfy { $0 <= 32 })
        #expect(calls.count <= counts.count)
        let statistics = batcher.statistics
        #expect(statistics.queuedRequests == 0 && statistics.runningBatches == 0)
        #expect(statistics.batchedRequests == counts.count)
    }

    @Test("with maxDelay 0, requests that queue while a batch runs are merged into the next call")
    func zeroDelayMergesWhatQueued() async throws {
        let gate = Gate()
        let predictor = RecordingPredictor(gate: gate)
        let batcher = try Self.batcher(predictor, maxBatchRows: 64, maxDelay: .zero)
        // The first caller predicts inline and blocks in the predictor; its own thread keeps the pool free.
        let blockingThread = DedicatedThreadExecutor()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask(executorPreference: blockingThread) {
                _ = try await batcher.predict(rows: rows(1, request: 0), count: 1)
            }
            #expect(await eventually { batcher.statistics.runningBatches == 1 })
            for (request, count) in [(1, 1), (2, 2), (3, 3)] {
                group.addTask {
                    let output = try await batcher.predict(rows: rows(count, request: request), count: count)
                    #expect(output == RecordingPredictor.expected(rows(count, request: request)))
                }
            }
            #expect(await eventually { batcher.statistics.queuedRequests == 3 })
            gate.open()
            try await group.waitForAll()
        }
        #expect(predictor.log.rowsPerCall == [1, 6])
    }

    @Test("a request larger than maxBatchRows runs alone")
    func oversizedRequest() async throws {
        let predictor = RecordingPredictor()
        let batcher = try Self.batcher(predictor, maxBatchRows: 4, maxDelay: .seconds(30))
        let input = rows(10, request: 1)
        #expect(try await batcher.predict(rows: input, count: 10) == RecordingPredictor.expected(input))
        #expect(predictor.log.rowsPerCall == [10])
    }

    @Test("a lone request runs when maxDelay passes")
    func delayElapses() async throws {
        let predictor = RecordingPredictor()
        let batcher = try Self.batcher(predictor, maxBatchRows: 100, maxDelay: .milliseconds(10))
        let input = rows(2, request: 7)
        #expect(try await batcher.predict(rows: input, count: 2) == RecordingPredictor.expected(input))
        #expect(predictor.log.rowsPerCall == [2])
    }

    @Test("a predictor error fails every request in the batch")
    func errorFailsWholeBatch() async throws {
        let predictor = RecordingPredictor()
        let batcher = try Self.batcher(predictor, maxBatchRows: 6, maxDelay: .seconds(30))
        let outcomes = await withTaskGroup(of: (any Error)?.self) { group in
            for request in 0..<3 {
                group.addTask {
                    var input = rows(2, request: request)
                    if request == 1 { input[0] = RecordingPredictor.poison }
                    do {
                        _ = try await batcher.predict(rows: input, count: 2)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 3)
        #expect(outcomes.allSatisfy { ($0 as? SlipwayError)?.code == "poisoned" })
        #expect(predictor.log.rowsPerCall == [6])

        // The batcher keeps working afterwards.
        let input = rows(6, request: 9)
        #expect(try await batcher.predict(rows: input, count: 6) == RecordingPredictor.expected(input))
    }

    @Test("cancelling a queued caller leaves the others' batch intact")
    func cancellationIsolated() async throws {
        let predictor = RecordingPredictor()
        let batcher = try Self.batcher(predictor, maxBatchRows: 6, maxDelay: .seconds(30))
        // The first caller owns the batch timer; cancelling it must hand the timer on.
        let cancelled = Task { try await batcher.predict(rows: rows(2, request: 0), count: 2) }
        #expect(await eventually { batcher.statistics.queuedRequests == 1 })
        let survivor = Task { try await batcher.predict(rows: rows(2, request: 1), count: 2) }
        #expect(await eventually { batcher.statistics.queuedRequests == 2 })

        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(batcher.statistics.queuedRows == 2)

        let filler = try await batcher.predict(rows: rows(4, request: 2), count: 4)
        #expect(filler == RecordingPredictor.expected(rows(4, request: 2)))
        #expect(try await survivor.value == RecordingPredictor.expected(rows(2, request: 1)))
        #expect(predictor.log.rowsPerCall == [6])
    }

    @Test("malformed input is refused before it can spoil a batch")
    func validation() async throws {
        let predictor = RecordingPredictor()
        let batcher = try Self.batcher(predictor, maxBatchRows: 6, maxDelay: .zero)
        let error = await #expect(throws: SlipwayError.self) {
            try await batcher.predict(rows: [1, 2, 3, 4], count: 2)
        }
        #expect(error?.code == "invalid_input")
        await #expect(throws: SlipwayError.self) { try await batcher.predict(rows: [], count: -1) }
        #expect(try await batcher.predict(rows: [], count: 0) == [])
        #expect(predictor.log.rowsPerCall.isEmpty)
        #expect(throws: SlipwayError.self) { try Batcher.Configuration(maxBatchRows: 0, maxDelay: .zero) }
        #expect(throws: SlipwayError.self) { try Batcher.Configuration(maxBatchRows: 1, maxDelay: .seconds(-1)) }
    }
}
