import SlipwayCore
import Testing

@testable import SlipwayServing

@Suite("Admission controller")
struct AdmissionControllerTests {
    static func controller(maxConcurrent: Int, maxQueue: Int) throws -> AdmissionController {
        AdmissionController(limits: try .init(maxConcurrent: maxConcurrent, maxQueue: maxQueue), name: "fraud")
    }

    static let farDeadline = ContinuousClock.now + .seconds(60)

    @Test("with 2 slots and a queue of 2, the 5th request fails fast with overloaded and 4 complete")
    func fifthRequestIsRefused() async throws {
        let admission = try Self.controller(maxConcurrent: 2, maxQueue: 2)
        let latch = Latch()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<4 {
                group.addTask {
                    try await admission.withPermit(deadline: Self.farDeadline) {
                        await latch.wait()
                        return index
                    }
                }
            }
            #expect(await eventually { admission.inFlight == 2 && admission.queued == 2 })

            let error = await #expect(throws: SlipwayError.self) {
                try await admission.withPermit(deadline: Self.farDeadline) { 5 }
            }
            #expect(error?.code == "overloaded")
            #expect(error?.kind == .unavailable)
            #expect(error?.retryAfter == 1)

            latch.open()
            var finished: [Int] = []
            for try await index in group { finished.append(index) }
            #expect(finished.sorted() == [0, 1, 2, 3])
        }
        let statistics = admission.statistics
        #expect(statistics.inFlight == 0 && statistics.queued == 0)
        #expect(statistics.rejected == 1)
    }

    @Test("waiters get slots in arrival order")
    func firstInFirstOut() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 3)
        let latch = Latch()
        let order = Recorder<String>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await admission.withPermit(deadline: Self.farDeadline) { await latch.wait() }
            }
            #expect(await eventually { admission.inFlight == 1 })
            for (position, name) in ["a", "b", "c"].enumerated() {
                group.addTask {
                    try await admission.withPermit(deadline: Self.farDeadline) { order.append(name) }
                }
                #expect(await eventually { admission.queued == position + 1 })
            }
            latch.open()
            try await group.waitForAll()
        }
        #expect(order.values == ["a", "b", "c"])
    }

    @Test("tryAcquire takes a free slot, never queues or jumps the queue, and counts no refusal")
    func tryAcquire() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 2)
        #expect(admission.tryAcquire())
        #expect(!admission.tryAcquire())  // full
        let latch = Latch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await admission.withPermit(deadline: Self.farDeadline) { await latch.wait() } }
            #expect(await eventually { admission.queued == 1 })
            admission.release()  // the slot passes to the waiter, not to the next tryAcquire
            #expect(await eventually { admission.queued == 0 && admission.inFlight == 1 })
            #expect(!admission.tryAcquire())
            latch.open()
            try await group.waitForAll()
        }
        #expect(admission.tryAcquire())
        admission.release()
        #expect(admission.statistics == .init(
            limits: try .init(maxConcurrent: 1, maxQueue: 2), inFlight: 0, queued: 0, rejected: 0, timedOut: 0))
    }

    @Test("a waiter whose deadline passes throws deadline_exceeded and frees its queue slot")
    func deadlineExpiry() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 1)
        let latch = Latch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await admission.withPermit(deadline: Self.farDeadline) { await latch.wait() }
            }
            #expect(await eventually { admission.inFlight == 1 })

            let error = await #expect(throws: SlipwayError.self) {
                try await admission.withPermit(deadline: .now + .milliseconds(30)) { Issue.record("must not run") }
            }
            #expect(error?.code == "deadline_exceeded")
            #expect(error?.kind == .unavailable)
            #expect(error?.message.contains("fraud") == true)
            #expect(error?.message.contains("raise the request timeout") == true)
            #expect(admission.queued == 0)
            #expect(admission.statistics.timedOut == 1)

            // The freed queue slot takes the next waiter instead of refusing it.
            group.addTask {
                try await admission.withPermit(deadline: Self.farDeadline) {}
            }
            #expect(await eventually { admission.queued == 1 })
            latch.open()
            try await group.waitForAll()
        }
        #expect(admission.statistics.rejected == 0)
        #expect(admission.inFlight == 0)
    }

    @Test("a request that would have to wait past an already-passed deadline fails at once")
    func deadlineAlreadyPassed() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 4)
        let latch = Latch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await admission.withPermit(deadline: Self.farDeadline) { await latch.wait() }
            }
            #expect(await eventually { admission.inFlight == 1 })
            let error = await #expect(throws: SlipwayError.self) {
                try await admission.withPermit(deadline: .now - .seconds(1)) {}
            }
            #expect(error?.code == "deadline_exceeded")
            latch.open()
            try await group.waitForAll()
        }
        // A free slot is taken even with a passed deadline: the deadline only bounds waiting.
        try await admission.withPermit(deadline: .now - .seconds(1)) {}
    }

    @Test("a cancelled waiter leaves the queue with CancellationError and the others still run")
    func cancelledWaiter() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 2)
        let latch = Latch()
        let ran = Recorder<String>()
        let holder = Task {
            try await admission.withPermit(deadline: Self.farDeadline) { await latch.wait() }
        }
        #expect(await eventually { admission.inFlight == 1 })
        let cancelled = Task {
            try await admission.withPermit(deadline: Self.farDeadline) { ran.append("cancelled") }
        }
        #expect(await eventually { admission.queued == 1 })
        let survivor = Task {
            try await admission.withPermit(deadline: Self.farDeadline) { ran.append("survivor") }
        }
        #expect(await eventually { admission.queued == 2 })

        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(admission.queued == 1)

        latch.open()
        try await holder.value
        try await survivor.value
        #expect(ran.values == ["survivor"])
        #expect(admission.inFlight == 0)
    }

    @Test("raising maxConcurrent admits waiters at once; lowering maxQueue keeps them")
    func updateLimits() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 3)
        let latch = Latch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await admission.withPermit(deadline: Self.farDeadline) { await latch.wait() }
                }
            }
            #expect(await eventually { admission.inFlight == 1 && admission.queued == 3 })

            try admission.update(maxConcurrent: 1, maxQueue: 0)
            #expect(admission.queued == 3)  // nobody dropped
            await #expect(throws: SlipwayError.self) {
                try await admission.withPermit(deadline: Self.farDeadline) {}
            }

            try admission.update(maxConcurrent: 3, maxQueue: 0)
            #expect(admission.inFlight == 3)
            #expect(admission.queued == 1)

            latch.open()
            try await group.waitForAll()
        }
        #expect(admission.inFlight == 0)
        #expect(admission.queued == 0)
    }

    @Test("lowering maxConcurrent lets running requests finish and admits no one until below the bound")
    func lowerConcurrency() async throws {
        let admission = try Self.controller(maxConcurrent: 2, maxQueue: 2)
        let first = Latch()
        let second = Latch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await admission.withPermit(deadline: Self.farDeadline) { await first.wait() } }
            group.addTask { try await admission.withPermit(deadline: Self.farDeadline) { await second.wait() } }
            #expect(await eventually { admission.inFlight == 2 })
            try admission.update(maxConcurrent: 1, maxQueue: 2)
            group.addTask { try await admission.withPermit(deadline: Self.farDeadline) {} }
            #expect(await eventually { admission.queued == 1 })

            first.open()
            // One request still runs, which is the new bound: the waiter keeps waiting.
            #expect(await eventually { admission.inFlight == 1 })
            #expect(admission.queued == 1)
            second.open()
            try await group.waitForAll()
        }
        #expect(admission.inFlight == 0)
    }

    @Test("body errors propagate and release the slot")
    func bodyErrorReleases() async throws {
        let admission = try Self.controller(maxConcurrent: 1, maxQueue: 0)
        await #expect(throws: SlipwayError.self) {
            try await admission.withPermit(deadline: Self.farDeadline) { throw SlipwayError.internal("boom") }
        }
        #expect(admission.inFlight == 0)
        #expect(try await admission.withPermit(deadline: Self.farDeadline) { 42 } == 42)
    }

    @Test("limits are validated")
    func validation() {
        #expect(throws: SlipwayError.self) { try AdmissionController.Limits(maxConcurrent: 0, maxQueue: 1) }
        #expect(throws: SlipwayError.self) { try AdmissionController.Limits(maxConcurrent: 1, maxQueue: -1) }
    }
}
