import SlipwayTestSupport
import Testing

@testable import SlipwayServing

@Suite("Batching state machine")
struct BatchingStateMachineTests {
    typealias Machine = BatchingStateMachine
    static let t0 = ContinuousClock.now

    static func request(_ id: UInt64, rows: Int, at offset: Duration = .zero) -> Machine.Request {
        Machine.Request(id: id, rows: rows, arrival: t0 + offset)
    }

    @Test("with maxDelay 0 an idle batcher runs a request at once on its own task")
    func zeroDelayRunsAtOnce() {
        var machine = Machine(maxBatchRows: 8, maxDelay: .zero, maxConcurrentBatches: 1)
        #expect(machine.submit(Self.request(1, rows: 2), now: Self.t0) == [.execute(batch: [1], leader: 1)])
        #expect(machine.running == 1)
    }

    @Test("with maxDelay 0, requests that arrive while a batch runs form the next batch")
    func zeroDelayBatchesWhatQueuedMeanwhile() {
        var machine = Machine(maxBatchRows: 8, maxDelay: .zero, maxConcurrentBatches: 1)
        _ = machine.submit(Self.request(1, rows: 2), now: Self.t0)
        #expect(machine.submit(Self.request(2, rows: 1), now: Self.t0).isEmpty)
        #expect(machine.submit(Self.request(3, rows: 3), now: Self.t0).isEmpty)
        #expect(machine.pendingRows == 4)
        // The next batch is led by its oldest member, which is woken to run it.
        #expect(machine.batchFinished(now: Self.t0) == [.execute(batch: [2, 3], leader: 2)])
        #expect(machine.batchFinished(now: Self.t0).isEmpty)
        #expect(machine.running == 0)
    }

    @Test("the oldest request owns a timer; the request that fills the batch runs it")
    func fillingRequestLeads() {
        let delay = Duration.milliseconds(5)
        var machine = Machine(maxBatchRows: 6, maxDelay: delay, maxConcurrentBatches: 1)
        #expect(
            machine.submit(Self.request(1, rows: 2), now: Self.t0)
                == [.armTimer(owner: 1, deadline: Self.t0 + delay)])
        #expect(machine.submit(Self.request(2, rows: 1, at: .milliseconds(1)), now: Self.t0 + .milliseconds(1)).isEmpty)
        #expect(
            machine.submit(Self.request(3, rows: 3, at: .milliseconds(2)), now: Self.t0 + .milliseconds(2))
                == [.execute(batch: [1, 2, 3], leader: 3)])
        #expect(machine.timerOwner == nil)
    }

    @Test("a batch that cannot grow runs without waiting; the one that did not fit takes over the timer")
    func nextDoesNotFit() {
        let delay = Duration.milliseconds(5)
        var machine = Machine(maxBatchRows: 4, maxDelay: delay, maxConcurrentBatches: 2)
        _ = machine.submit(Self.request(1, rows: 3), now: Self.t0)
        let later = Self.t0 + .milliseconds(1)
        #expect(
            machine.submit(Self.request(2, rows: 2, at: .milliseconds(1)), now: later)
                == [.execute(batch: [1], leader: 1), .armTimer(owner: 2, deadline: later + delay)])
    }

    @Test("a request larger than maxBatchRows runs alone")
    func oversizedRunsAlone() {
        var machine = Machine(maxBatchRows: 4, maxDelay: .seconds(1), maxConcurrentBatches: 4)
        _ = machine.submit(Self.request(1, rows: 1), now: Self.t0)
        #expect(
            machine.submit(Self.request(2, rows: 10), now: Self.t0)
                == [.execute(batch: [1], leader: 1), .execute(batch: [2], leader: 2)])
    }

    @Test("the timer runs the batch at the oldest request's deadline")
    func timerRunsBatch() {
        let delay = Duration.milliseconds(5)
        var machine = Machine(maxBatchRows: 100, maxDelay: delay, maxConcurrentBatches: 1)
        _ = machine.submit(Self.request(1, rows: 1), now: Self.t0)
        _ = machine.submit(Self.request(2, rows: 1), now: Self.t0 + .milliseconds(3))
        // An early or stale firing changes nothing.
        #expect(machine.timerFired(owner: 7, now: Self.t0 + .milliseconds(4)).isEmpty)
        #expect(machine.timerFired(owner: 1, now: Self.t0 + delay) == [.execute(batch: [1, 2], leader: 1)])
    }

    @Test("while every batch slot is busy no timer is set; a finishing batch sets it")
    func timerWaitsForCapacity() {
        let delay = Duration.milliseconds(5)
        var machine = Machine(maxBatchRows: 4, maxDelay: delay, maxConcurrentBatches: 1)
        #expect(machine.submit(Self.request(1, rows: 4), now: Self.t0) == [.execute(batch: [1], leader: 1)])
        #expect(machine.submit(Self.request(2, rows: 1), now: Self.t0).isEmpty)
        #expect(
            machine.batchFinished(now: Self.t0 + .milliseconds(1)) == [.armTimer(owner: 2, deadline: Self.t0 + delay)])
        #expect(machine.timerFired(owner: 2, now: Self.t0 + delay) == [.execute(batch: [2], leader: 2)])
    }

    @Test("a deadline that passed while busy runs the batch as soon as a slot frees")
    func overdueBatchRunsOnFinish() {
        var machine = Machine(maxBatchRows: 4, maxDelay: .milliseconds(5), maxConcurrentBatches: 1)
        _ = machine.submit(Self.request(1, rows: 4), now: Self.t0)
        _ = machine.submit(Self.request(2, rows: 1), now: Self.t0)
        #expect(machine.batchFinished(now: Self.t0 + .milliseconds(9)) == [.execute(batch: [2], leader: 2)])
    }

    @Test("cancelling the timer's owner hands the timer to the next oldest request")
    func cancelHandsOverTimer() {
        let delay = Duration.milliseconds(5)
        var machine = Machine(maxBatchRows: 100, maxDelay: delay, maxConcurrentBatches: 1)
        _ = machine.submit(Self.request(1, rows: 1), now: Self.t0)
        _ = machine.submit(Self.request(2, rows: 1, at: .milliseconds(2)), now: Self.t0 + .milliseconds(2))
        let (removed, actions) = machine.cancel(1, now: Self.t0 + .milliseconds(3))
        #expect(removed)
        #expect(actions == [.armTimer(owner: 2, deadline: Self.t0 + .milliseconds(2) + delay)])
        #expect(machine.pendingRows == 1)
    }

    @Test("a request already in a running batch cannot be cancelled out of it")
    func cancelRunning() {
        var machine = Machine(maxBatchRows: 4, maxDelay: .zero, maxConcurrentBatches: 1)
        _ = machine.submit(Self.request(1, rows: 1), now: Self.t0)
        #expect(machine.cancel(1, now: Self.t0) == (false, []))
    }

    /// Random submissions, timers, finishes and cancellations, checking the invariants after every step.
    @Test("random schedules keep order, sizes and timer coverage", arguments: [1, 2, 3] as [UInt64])
    func randomSchedules(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let maxRows = 8
        let delay = Duration.milliseconds(4)
        let concurrency = Int(seed)
        var machine = Machine(maxBatchRows: maxRows, maxDelay: delay, maxConcurrentBatches: concurrency)
        var now = Self.t0
        var nextID: UInt64 = 0
        var rowsOf: [UInt64: Int] = [:]
        var submitted: [UInt64] = []
        var cancelled: Set<UInt64> = []
        var runningBatches: [[UInt64]] = []
        var executed: [[UInt64]] = []
        var timer: (owner: UInt64, deadline: ContinuousClock.Instant)?

        func apply(_ actions: [Machine.Action]) {
            for action in actions {
                switch action {
                case .execute(let batch, let leader):
                    #expect(batch.contains(leader))
                    runningBatches.append(batch)
                    executed.append(batch)
                case .armTimer(let owner, let deadline):
                    #expect(deadline > now)
                    timer = (owner, deadline)
                }
            }
        }

        for step in 0..<2_000 {
            let drain = step >= 1_900  // stop submitting so everything finishes
            let choice = random.next() % 5
            if choice <= 1, !drain {
                nextID += 1
                let rows = Int(random.next() % UInt64(maxRows + 2)) + 1
                rowsOf[nextID] = rows
                submitted.append(nextID)
                apply(machine.submit(.init(id: nextID, rows: rows, arrival: now), now: now))
            } else if choice == 2, !runningBatches.isEmpty {
                runningBatches.removeFirst()
                apply(machine.batchFinished(now: now))
            } else if choice == 3 || drain {
                now = now + .milliseconds(Int64(random.next() % 3))
                if let armed = timer, now >= armed.deadline {
                    timer = nil
                    apply(machine.timerFired(owner: armed.owner, now: now))
                }
            } else if choice == 4, machine.pending.count > 0 {
                let victim = machine.pending[Int(random.next() % UInt64(machine.pending.count))].id
                let (removed, actions) = machine.cancel(victim, now: now)
                #expect(removed)
                cancelled.insert(victim)
                if timer?.owner == victim { timer = nil }  // its task ends, and its timer with it
                apply(actions)
            }
            #expect(machine.running == runningBatches.count)
            #expect(machine.running <= concurrency)
            if machine.pending.count > 0, machine.running < concurrency {
                #expect(machine.timerOwner != nil, "queued requests with no timer at step \(step)")
            }
            if drain, machine.pending.count == 0, runningBatches.isEmpty { break }
        }
        // Finish whatever is left.
        while !runningBatches.isEmpty || machine.pending.count > 0 {
            if !runningBatches.isEmpty {
                runningBatches.removeFirst()
                apply(machine.batchFinished(now: now))
            } else {
                let armed = try #require(timer)
                now = armed.deadline
                timer = nil
                apply(machine.timerFired(owner: armed.owner, now: now))
            }
        }

        // Every request not cancelled ran exactly once, in arrival order.
        #expect(executed.flatMap { $0 } == submitted.filter { !cancelled.contains($0) })
        for batch in executed {
            let rows = batch.reduce(0) { $0 + rowsOf[$1]! }
            #expect(rows <= maxRows || batch.count == 1, "batch \(batch) has \(rows) rows")
        }
        #expect(executed.contains { $0.count > 1 })
    }
}
